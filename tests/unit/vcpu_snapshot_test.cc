// describe_vcpu_snapshot: each part of a stalled vCPU's state reads back as a person debugging
// the stall needs it (the real KVM side is in kvm_smoke_test).
#include "vmm/vcpu_snapshot.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vmm {
namespace {

void set_apic(kvm_lapic_state& lapic, size_t offset, uint32_t value) {
  std::memcpy(lapic.regs + offset, &value, sizeof value);
}

void set_vector(kvm_lapic_state& lapic, size_t base, unsigned vector) {
  uint32_t word;
  std::memcpy(&word, lapic.regs + base + (vector / 32) * 0x10, sizeof word);
  set_apic(lapic, base + (vector / 32) * 0x10, word | (1u << (vector % 32)));
}

VcpuSnapshot long_mode_snapshot() {
  VcpuSnapshot s;
  s.regs = kvm_regs{};
  s.regs->rip = 0xffffffffc03a6040;
  s.sregs = kvm_sregs{};
  s.sregs->cr0 = 0x80050033;
  s.sregs->cr3 = 0x1234000;
  s.sregs->efer = 0xd01;
  s.events = kvm_vcpu_events{};
  s.lapic = kvm_lapic_state{};
  return s;
}

TEST(VcpuSnapshot, QuietVcpuSaysNothingIsPending) {
  const std::string text = describe_vcpu_snapshot(long_mode_snapshot());
  EXPECT_NE(text.find("cr0=0x80050033 cr2=0x0 cr3=0x1234000"), std::string::npos) << text;
  EXPECT_NE(text.find("events: exception none, interrupt none, nmi none"), std::string::npos) << text;
  EXPECT_NE(text.find("in service [] waiting []"), std::string::npos) << text;
  EXPECT_NE(text.find("code at rip (not mapped)"), std::string::npos) << text;
}

TEST(VcpuSnapshot, NamesPendingExceptionAndInjectedInterrupt) {
  VcpuSnapshot s = long_mode_snapshot();
  s.events->exception.pending = 1;
  s.events->exception.nr = 14;
  s.events->exception.has_error_code = 1;
  s.events->exception.error_code = 0x11;
  s.events->interrupt.injected = 1;
  s.events->interrupt.nr = 0xec;
  s.events->interrupt.shadow = 1;
  s.events->nmi.masked = 1;
  const std::string text = describe_vcpu_snapshot(s);
  EXPECT_NE(text.find("exception #14 pending (error 0x11), interrupt 0xec (interrupt shadow), "
                      "nmi none (masked)"),
            std::string::npos)
      << text;
}

TEST(VcpuSnapshot, ListsVectorsInServiceAndWaitingWithPriorities) {
  VcpuSnapshot s = long_mode_snapshot();
  set_apic(*s.lapic, 0x80, 0x20);  // TPR
  set_apic(*s.lapic, 0xa0, 0xe0);  // PPR
  set_vector(*s.lapic, 0x100, 0xec);
  set_vector(*s.lapic, 0x200, 0x22);
  set_vector(*s.lapic, 0x200, 0xef);
  const std::string text = describe_vcpu_snapshot(s);
  EXPECT_NE(text.find("lapic: tpr 0x20 ppr 0xe0 in service [0xec] waiting [0x22 0xef]"),
            std::string::npos)
      << text;
}

TEST(VcpuSnapshot, TscDeadlineTimerArmedExpiredOrIdle) {
  VcpuSnapshot s = long_mode_snapshot();
  set_apic(*s.lapic, 0x320, (2u << 17) | 0xec);  // TSC-deadline mode, vector 0xec
  s.tsc = 1000;
  s.tsc_deadline = 1500;
  EXPECT_NE(describe_vcpu_snapshot(s).find("timer tsc-deadline vector 0xec, fires in 500 TSC cycles"),
            std::string::npos);
  s.tsc_deadline = 400;
  EXPECT_NE(describe_vcpu_snapshot(s).find("expired 600 TSC cycles ago"), std::string::npos);
  s.tsc_deadline = 0;
  EXPECT_NE(describe_vcpu_snapshot(s).find(", not armed"), std::string::npos);
  set_apic(*s.lapic, 0x320, (1u << 16) | 0xec);  // one-shot, masked
  set_apic(*s.lapic, 0x390, 77);
  EXPECT_NE(describe_vcpu_snapshot(s).find("timer one-shot vector 0xec masked, current count 77"),
            std::string::npos);
}

TEST(VcpuSnapshot, CodeBytesAndWhatCouldNotBeRead) {
  VcpuSnapshot s = long_mode_snapshot();
  s.rip_physical = 0x3a6040;
  s.code = {0xf3, 0x90, 0xeb, 0xfc};
  s.unreadable = {"TSC deadline: KVM_GET_MSRS: Invalid argument"};
  const std::string text = describe_vcpu_snapshot(s);
  EXPECT_NE(text.find("code at rip (guest physical 0x3a6040): f3 90 eb fc"), std::string::npos) << text;
  EXPECT_NE(text.find("unreadable TSC deadline: KVM_GET_MSRS: Invalid argument"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace vmm
