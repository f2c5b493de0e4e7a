// Per-vCPU CPUID derived from KVM_GET_SUPPORTED_CPUID.
#pragma once

#include <linux/kvm.h>

#include <vector>

namespace vmm {

struct CpuidOptions {
  // KVM emulates the LAPIC's TSC-deadline mode but KVM_GET_SUPPORTED_CPUID does not report it;
  // set when KVM_CAP_TSC_DEADLINE_TIMER is present. Linux then skips calibrating the LAPIC timer
  // against the PIT (which fails under heavy emulation: "APIC timer disabled").
  bool tsc_deadline_timer = false;
};

// Returns `supported` adjusted for vCPU `index` of `count`: APIC IDs in leaves 1, 0xB and 0x1F,
// the logical-processor count in leaf 1, and the hypervisor bit (Linux then trusts kvm-clock and
// skips some bare-metal workarounds).
std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(const std::vector<kvm_cpuid_entry2>& supported,
                                             unsigned index, unsigned count,
                                             const CpuidOptions& options = {});

}  // namespace vmm
