#include "vmm/vcpu_snapshot.h"

#include <cstring>
#include <exception>
#include <string>

namespace vmm {
namespace {

constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrTscDeadline = 0x6e0;
constexpr size_t kCodeBytes = 16;
constexpr uint64_t kPageSize = 4096;

// Local APIC register offsets (KVM_GET_LAPIC uses the xAPIC page layout, also in x2APIC mode).
constexpr size_t kApicTpr = 0x80;
constexpr size_t kApicPpr = 0xa0;
constexpr size_t kApicIsr = 0x100;
constexpr size_t kApicIrr = 0x200;
constexpr size_t kApicLvtTimer = 0x320;
constexpr size_t kApicTimerCurrentCount = 0x390;

uint32_t apic_register(const kvm_lapic_state& lapic, size_t offset) {
  uint32_t value;
  std::memcpy(&value, lapic.regs + offset, sizeof value);
  return value;
}

// The vectors set in one of the 256-bit ISR/IRR/TMR arrays, e.g. "[0x22 0xec]".
std::string vectors(const kvm_lapic_state& lapic, size_t base) {
  std::string out = "[";
  for (unsigned vector = 0; vector < 256; ++vector) {
    if (apic_register(lapic, base + (vector / 32) * 0x10) & (1u << (vector % 32))) {
      char text[8];
      std::snprintf(text, sizeof text, "%s0x%02x", out.size() > 1 ? " " : "", vector);
      out += text;
    }
  }
  return out + "]";
}

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

template <typename Read>
void try_read(VcpuSnapshot& snapshot, const char* what, Read read) {
  try {
    read();
  } catch (const std::exception& e) {
    snapshot.unreadable.push_back(std::string(what) + ": " + e.what());
  }
}

std::string describe_events(const kvm_vcpu_events& ev) {
  std::string out = "events: exception ";
  if (ev.exception.injected || ev.exception.pending) {
    out += "#" + std::to_string(ev.exception.nr) + (ev.exception.injected ? " injected" : " pending");
    if (ev.exception.has_error_code) out += " (error " + hex(ev.exception.error_code) + ")";
  } else {
    out += "none";
  }
  out += ", interrupt ";
  out += ev.interrupt.injected ? hex(ev.interrupt.nr) + (ev.interrupt.soft ? " (soft)" : "") : "none";
  if (ev.interrupt.shadow) out += " (interrupt shadow)";
  out += ", nmi ";
  out += ev.nmi.injected ? "injected" : ev.nmi.pending ? "pending" : "none";
  if (ev.nmi.masked) out += " (masked)";
  return out;
}

std::string describe_timer(const VcpuSnapshot& s) {
  const uint32_t lvt = apic_register(*s.lapic, kApicLvtTimer);
  static constexpr const char* kModes[] = {"one-shot", "periodic", "tsc-deadline", "reserved"};
  std::string out = std::string("timer ") + kModes[(lvt >> 17) & 3] + " vector " + hex(lvt & 0xff);
  if (lvt & (1u << 16)) out += " masked";
  if (((lvt >> 17) & 3) == 2) {
    if (!s.tsc_deadline) {
      out += ", deadline unknown";
    } else if (*s.tsc_deadline == 0) {
      out += ", not armed";
    } else if (s.tsc) {
      const auto ahead = static_cast<int64_t>(*s.tsc_deadline - *s.tsc);
      out += ahead >= 0 ? ", fires in " + std::to_string(ahead) + " TSC cycles"
                        : ", expired " + std::to_string(-ahead) + " TSC cycles ago";
    }
  } else {
    out += ", current count " + std::to_string(apic_register(*s.lapic, kApicTimerCurrentCount));
  }
  return out;
}

}  // namespace

VcpuSnapshot take_vcpu_snapshot(const KvmVcpu& vcpu, const GuestMemory& memory) {
  VcpuSnapshot s;
  try_read(s, "registers", [&] { s.regs = vcpu.get_regs(); });
  try_read(s, "special registers", [&] { s.sregs = vcpu.get_sregs(); });
  try_read(s, "events", [&] { s.events = vcpu.get_vcpu_events(); });
  try_read(s, "local APIC", [&] { s.lapic = vcpu.get_lapic(); });
  try_read(s, "TSC", [&] { s.tsc = vcpu.get_msr(kMsrTsc); });
  try_read(s, "TSC deadline", [&] { s.tsc_deadline = vcpu.get_msr(kMsrTscDeadline); });
  if (s.regs && s.sregs) {
    try_read(s, "rip translation", [&] {
      // Outside long mode rip is an offset into CS.
      const bool long_mode = s.sregs->efer & (1u << 10);
      s.rip_physical = vcpu.translate(long_mode ? s.regs->rip : s.sregs->cs.base + s.regs->rip);
    });
  }
  if (s.rip_physical) {
    try_read(s, "code", [&] {
      const uint64_t to_page_end = kPageSize - (*s.rip_physical % kPageSize);
      const auto bytes = memory.span(*s.rip_physical, std::min<uint64_t>(kCodeBytes, to_page_end));
      s.code.assign(bytes.begin(), bytes.end());
    });
  }
  return s;
}

std::string describe_vcpu_snapshot(const VcpuSnapshot& s) {
  std::string out;
  auto part = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
  if (s.sregs) {
    part("cr0=" + hex(s.sregs->cr0) + " cr2=" + hex(s.sregs->cr2) + " cr3=" + hex(s.sregs->cr3) +
         " cr4=" + hex(s.sregs->cr4) + " efer=" + hex(s.sregs->efer));
  }
  if (s.events) part(describe_events(*s.events));
  if (s.lapic) {
    part("lapic: tpr " + hex(apic_register(*s.lapic, kApicTpr) & 0xff) + " ppr " +
         hex(apic_register(*s.lapic, kApicPpr) & 0xff) + " in service " + vectors(*s.lapic, kApicIsr) +
         " waiting " + vectors(*s.lapic, kApicIrr) + ", " + describe_timer(s));
  }
  if (s.regs) {
    std::string code = "code at rip ";
    if (!s.rip_physical) {
      code += "(not mapped)";
    } else {
      code += "(guest physical " + hex(*s.rip_physical) + "):";
      for (uint8_t byte : s.code) {
        char text[4];
        std::snprintf(text, sizeof text, " %02x", byte);
        code += text;
      }
    }
    part(code);
  }
  for (const auto& what : s.unreadable) part("unreadable " + what);
  return out;
}

}  // namespace vmm
