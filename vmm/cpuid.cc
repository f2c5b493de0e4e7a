#include "vmm/cpuid.h"

#include <cstdint>

namespace vmm {
namespace {

constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;
constexpr uint32_t kLeaf1EdxHtt = 1u << 28;
constexpr uint32_t kLeaf1EcxTscDeadline = 1u << 24;

}  // namespace

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(const std::vector<kvm_cpuid_entry2>& supported,
                                             unsigned index, unsigned count,
                                             const CpuidOptions& options) {
  std::vector<kvm_cpuid_entry2> entries = supported;
  for (kvm_cpuid_entry2& e : entries) {
    switch (e.function) {
      case 1:
        // EBX[31:24] initial APIC ID, EBX[23:16] logical processors per package.
        e.ebx = (e.ebx & 0x0000FFFF) | (index << 24) | ((count & 0xFF) << 16);
        e.ecx |= kLeaf1EcxHypervisor;
        if (count > 1) e.edx |= kLeaf1EdxHtt;
        if (options.tsc_deadline_timer) e.ecx |= kLeaf1EcxTscDeadline;
        break;
      case 0xB:
      case 0x1F:
        // Extended topology: EDX is the x2APIC ID of this CPU for every sub-leaf.
        e.edx = index;
        break;
      default:
        break;
    }
  }
  return entries;
}

}  // namespace vmm
