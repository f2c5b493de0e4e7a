// Runs tiny payloads on the real /dev/kvm: VM creation with the PC platform, PIO exits routed
// through the bus to the UART and the test-exit port, vCPU thread start/stop, long-mode entry.
// Skipped when /dev/kvm is unavailable. Slow under software nested KVM (every ring-0
// instruction is emulated) but the payloads are a handful of instructions.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "devices/test_exit_port.h"
#include "devices/uart_16550.h"
#include "tests/unit/fake_devices.h"
#include "vmm/exit_request.h"
#include "vmm/guest_memory.h"
#include "vmm/io_bus.h"
#include "vmm/kvm.h"
#include "vmm/long_mode.h"
#include "vmm/vcpu_snapshot.h"
#include "vmm/vcpu_thread.h"

namespace vmm {
namespace {

bool kvm_available() {
  const int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

struct SmokeVm {
  Kvm kvm;
  KvmVm vm{kvm};
  GuestMemory memory{plan_ram_regions(4ull << 20)};
  std::unique_ptr<KvmVcpu> vcpu;
  testing::FakeInterruptLine irq;
  testing::FakeSerialOutput output;
  IoBus pio{"pio"};
  IoBus mmio{"mmio"};
  ExitRequest exit{ExitRequest::Clock::now(), [](std::string) {}};

  SmokeVm() {
    vm.setup_pc_platform();
    const auto& slot = memory.slots()[0];
    vm.set_memory_region(0, 0, slot.region.size, slot.mapping.data());
    vcpu = std::make_unique<KvmVcpu>(kvm, vm, 0);
    pio.add(0x3f8, 8, std::make_shared<devices::Uart16550>(irq, &output));
    pio.add(0xf4, 1, std::make_shared<devices::TestExitPort>(exit));
  }

  // Identity-mapped long mode, `code` at 2 MiB as the first instruction, stack below 32 KiB.
  void start_long_mode(const std::vector<uint8_t>& code) {
    const uint64_t cr3 = write_long_mode_tables(memory);
    memory.write(0x200000, code);
    kvm_sregs sregs = vcpu->get_sregs();
    set_long_mode_sregs(sregs, cr3);
    vcpu->set_sregs(sregs);
    kvm_regs regs{};
    regs.rip = 0x200000;
    regs.rflags = 0x2;
    regs.rsp = 0x8000;
    vcpu->set_regs(regs);
  }

  // Runs the vCPU on its thread until the guest requests an exit (or the timeout passes).
  std::optional<int> run_until_exit(std::chrono::seconds timeout) {
    install_vcpu_kick_handler();
    VcpuThread thread(*vcpu, pio, mmio, exit);
    thread.start();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit.requested() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit.requested();  // ~VcpuThread kicks and joins even if the guest still runs
  }
};

TEST(KvmSmoke, RealModePayloadWritesUartAndExitPort) {
  if (!kvm_available()) GTEST_SKIP() << "/dev/kvm not available";
  SmokeVm vm;
  const std::vector<uint8_t> code = {
      0xBA, 0xF8, 0x03,  // mov dx, 0x3f8
      0xB0, 'O',         // mov al, 'O'
      0xEE,              // out dx, al
      0xB0, 'K',         // mov al, 'K'
      0xEE,              // out dx, al
      0xE4, 0x80,        // in al, 0x80   (unmapped port: reads 0xff, must not crash)
      0xB0, 0x07,        // mov al, 7
      0xE6, 0xF4,        // out 0xf4, al
      0xF4,              // hlt (not reached)
  };
  vm.memory.write(0x1000, code);
  kvm_sregs sregs = vm.vcpu->get_sregs();
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  vm.vcpu->set_sregs(sregs);
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 0x2;
  vm.vcpu->set_regs(regs);

  EXPECT_EQ(vm.run_until_exit(std::chrono::seconds(60)), 7);
  EXPECT_EQ(vm.output.text, "OK");
  EXPECT_EQ(vm.pio.unmapped_accesses(), 1u);
}

TEST(KvmSmoke, LongModeEntryRuns64BitCode) {
  if (!kvm_available()) GTEST_SKIP() << "/dev/kvm not available";
  SmokeVm vm;
  // Only in 64-bit mode does this leave 0x78 in AL.
  const std::vector<uint8_t> code = {
      0x48, 0xB8, 0x07, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12,  // mov rax, 0x1234567800000007
      0x48, 0xC1, 0xE8, 0x20,                                      // shr rax, 32
      0xE6, 0xF4,                                                  // out 0xf4, al
      0xF4,                                                        // hlt
  };
  vm.start_long_mode(code);
  EXPECT_EQ(vm.run_until_exit(std::chrono::seconds(60)), 0x78);
}

TEST(KvmSmoke, StopKicksAGuestThatNeverExits) {
  if (!kvm_available()) GTEST_SKIP() << "/dev/kvm not available";
  SmokeVm vm;
  const std::vector<uint8_t> spin = {0xEB, 0xFE};  // jmp $
  vm.memory.write(0x1000, spin);
  kvm_sregs sregs = vm.vcpu->get_sregs();
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  vm.vcpu->set_sregs(sregs);
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 0x2;
  vm.vcpu->set_regs(regs);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(vm.run_until_exit(std::chrono::seconds(1)), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

// The post-mortem of a 64-bit guest spinning without exits: rip translates through the guest's
// page tables to the loop's bytes, and nothing is pending.
TEST(KvmSmoke, SnapshotOfASpinningGuestShowsTheLoop) {
  if (!kvm_available()) GTEST_SKIP() << "/dev/kvm not available";
  SmokeVm vm;
  const std::vector<uint8_t> spin = {0xF3, 0x90, 0xEB, 0xFC};  // pause; jmp back to the pause
  vm.start_long_mode(spin);
  EXPECT_EQ(vm.run_until_exit(std::chrono::seconds(1)), std::nullopt);

  const VcpuSnapshot snapshot = take_vcpu_snapshot(*vm.vcpu, vm.memory);
  EXPECT_TRUE(snapshot.unreadable.empty()) << describe_vcpu_snapshot(snapshot);
  ASSERT_TRUE(snapshot.regs.has_value());
  EXPECT_TRUE(snapshot.regs->rip == 0x200000 || snapshot.regs->rip == 0x200002);
  ASSERT_TRUE(snapshot.rip_physical.has_value());
  EXPECT_EQ(*snapshot.rip_physical, snapshot.regs->rip);  // identity-mapped
  ASSERT_GE(snapshot.code.size(), 2u);
  EXPECT_TRUE(snapshot.code[0] == 0xF3 || snapshot.code[0] == 0xEB);
  const std::string text = describe_vcpu_snapshot(snapshot);
  EXPECT_NE(text.find("events: exception none, interrupt none"), std::string::npos) << text;
}

}  // namespace
}  // namespace vmm
