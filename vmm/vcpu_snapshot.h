// What a stopped vCPU was doing, for the post-mortem of a guest that made no progress: its
// registers, the events KVM holds for it (a pending exception, an injected interrupt), its local
// APIC (priorities, vectors in service and waiting, the timer) and the instruction bytes at rip.
// Enough to tell a guest spinning on a lock from one waiting for an interrupt it cannot take.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/guest_memory.h"
#include "vmm/kvm.h"

namespace vmm {

struct VcpuSnapshot {
  std::optional<kvm_regs> regs;
  std::optional<kvm_sregs> sregs;
  std::optional<kvm_vcpu_events> events;
  std::optional<kvm_lapic_state> lapic;
  std::optional<uint64_t> tsc;
  std::optional<uint64_t> tsc_deadline;  // IA32_TSC_DEADLINE; 0 = not armed
  std::optional<uint64_t> rip_physical;  // where rip translates to, if mapped
  std::vector<uint8_t> code;             // bytes at rip up to its page end (at most 16)
  std::vector<std::string> unreadable;   // what KVM refused to report, with the reason
};

// Reads everything it can from a vCPU that is not in KVM_RUN; never throws.
VcpuSnapshot take_vcpu_snapshot(const KvmVcpu& vcpu, const GuestMemory& memory);

// One line: control registers, events, local APIC and timer, code bytes.
std::string describe_vcpu_snapshot(const VcpuSnapshot& snapshot);

}  // namespace vmm
