// Initial vCPU state: CPUID, MSRs, local APIC LINT pins for every vCPU; registers for the
// bootstrap processor, which starts at the kernel's 64-bit entry. Application processors stay
// in KVM's wait-for-SIPI state until Linux starts them.
#pragma once

#include <linux/kvm.h>

#include <vector>

#include "vmm/kvm.h"

namespace vmm {

struct BootCpuState {
  uint64_t entry_point;
  uint64_t zero_page;
  uint64_t cr3;
  uint64_t stack;
};

// Boot MSR values. KVM may refuse some on some hosts (nested/PVM); the caller tolerates that.
std::vector<kvm_msr_entry> boot_msrs();

// Everything common to all vCPUs. Returns the MSRs KVM refused (for a debug message).
std::vector<uint32_t> configure_vcpu(KvmVcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid);

void set_boot_cpu_registers(KvmVcpu& vcpu, const BootCpuState& state);

}  // namespace vmm
