#include "vmm/cpuid.h"

#include <gtest/gtest.h>

namespace vmm {
namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.eax = 0x11;
  e.ebx = 0xAABB0800;  // host APIC ID 0xAA, 0xBB logical CPUs, CLFLUSH size 8
  e.ecx = 0x1;
  e.edx = 0x2;
  return e;
}

TEST(Cpuid, SetsApicIdsCountAndHypervisorBit) {
  const std::vector<kvm_cpuid_entry2> supported = {leaf(0), leaf(1), leaf(0xB, 0), leaf(0xB, 1),
                                                   leaf(0x80000001)};
  const auto cpu3 = cpuid_for_vcpu(supported, 3, 4);
  ASSERT_EQ(cpu3.size(), supported.size());
  EXPECT_EQ(cpu3[1].ebx, 0x03040800u);
  EXPECT_TRUE(cpu3[1].ecx & (1u << 31));
  EXPECT_TRUE(cpu3[1].edx & (1u << 28));
  EXPECT_EQ(cpu3[2].edx, 3u);
  EXPECT_EQ(cpu3[3].edx, 3u);
  // Other leaves are untouched.
  EXPECT_EQ(cpu3[0].ebx, supported[0].ebx);
  EXPECT_EQ(cpu3[4].edx, supported[4].edx);
}

TEST(Cpuid, TscDeadlineOnlyWhenRequested) {
  EXPECT_FALSE(cpuid_for_vcpu({leaf(1)}, 0, 1)[0].ecx & (1u << 24));
  EXPECT_TRUE(cpuid_for_vcpu({leaf(1)}, 0, 1, {.tsc_deadline_timer = true})[0].ecx & (1u << 24));
}

TEST(Cpuid, SingleCpuHasNoHtt) {
  const auto cpu0 = cpuid_for_vcpu({leaf(1)}, 0, 1);
  EXPECT_EQ(cpu0[0].ebx >> 24, 0u);
  EXPECT_FALSE(cpu0[0].edx & (1u << 28));
}

}  // namespace
}  // namespace vmm
