#include "vmm/vcpu_setup.h"

#include "vmm/long_mode.h"

namespace vmm {
namespace {

constexpr uint32_t kMsrIa32Tsc = 0x10;
constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint32_t kMsrMtrrDefType = 0x2ff;
constexpr uint32_t kMsrStar = 0xc0000081;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

constexpr uint64_t kMiscEnableFastStrings = 1;
constexpr uint64_t kMtrrEnable = 1ull << 11;
constexpr uint64_t kMtrrTypeWriteBack = 6;

}  // namespace

std::vector<kvm_msr_entry> boot_msrs() {
  std::vector<kvm_msr_entry> msrs;
  auto add = [&](uint32_t index, uint64_t value) {
    kvm_msr_entry e{};
    e.index = index;
    e.data = value;
    msrs.push_back(e);
  };
  add(kMsrSysenterCs, 0);
  add(kMsrSysenterEsp, 0);
  add(kMsrSysenterEip, 0);
  add(kMsrStar, 0);
  add(kMsrCstar, 0);
  add(kMsrKernelGsBase, 0);
  add(kMsrSyscallMask, 0);
  add(kMsrLstar, 0);
  add(kMsrIa32Tsc, 0);
  add(kMsrMiscEnable, kMiscEnableFastStrings);
  // Without MTRRs enabled Linux treats all memory as uncachable and runs very slowly.
  add(kMsrMtrrDefType, kMtrrEnable | kMtrrTypeWriteBack);
  return msrs;
}

std::vector<uint32_t> configure_vcpu(KvmVcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid) {
  vcpu.set_cpuid(cpuid);
  std::vector<uint32_t> refused;
  // One at a time: KVM_SET_MSRS stops at the first MSR it refuses.
  for (const kvm_msr_entry& msr : boot_msrs()) {
    if (vcpu.set_msrs({msr}) != 1) refused.push_back(msr.index);
  }
  vcpu.setup_local_apic_lints();
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;      // x87 default control word
  fpu.mxcsr = 0x1f80;   // SSE: all exceptions masked
  vcpu.set_fpu(fpu);
  return refused;
}

void set_boot_cpu_registers(KvmVcpu& vcpu, const BootCpuState& state) {
  kvm_sregs sregs = vcpu.get_sregs();
  set_long_mode_sregs(sregs, state.cr3);
  vcpu.set_sregs(sregs);
  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved-set; interrupts off
  regs.rip = state.entry_point;
  regs.rsi = state.zero_page;
  regs.rsp = state.stack;
  regs.rbp = state.stack;
  vcpu.set_regs(regs);
}

}  // namespace vmm
