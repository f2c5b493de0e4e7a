// The KVM implementations of the device hooks: KVM_SIGNAL_MSI, and per-queue eventfds
// registered with KVM_IOEVENTFD so that a real guest write to the notify address is absorbed by
// KVM (no MMIO exit) and signals the queue's eventfd. Skips without /dev/kvm.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "devices/pci/kvm_msi_sender.h"
#include "devices/virtio/kvm_queue_notifier.h"
#include "devices/virtio/virtio_pci_device.h"

namespace devices {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

class KvmWiringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kvm_ = std::make_unique<Fd>(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (kvm_->get() < 0) GTEST_SKIP() << "/dev/kvm not available";
    vm_ = std::make_unique<Fd>(::ioctl(kvm_->get(), KVM_CREATE_VM, 0));
    if (vm_->get() < 0) GTEST_SKIP() << "KVM_CREATE_VM failed";
  }
  std::unique_ptr<Fd> kvm_, vm_;
};

TEST_F(KvmWiringTest, SignalMsiThroughInKernelIrqchip) {
  ASSERT_EQ(::ioctl(vm_->get(), KVM_CREATE_IRQCHIP, 0), 0);
  Fd vcpu(::ioctl(vm_->get(), KVM_CREATE_VCPU, 0));  // APIC ID 0: the message's destination
  ASSERT_GE(vcpu.get(), 0);
  pci::KvmMsiSender sender(vm_->get());
  sender.send(0xFEE0'0000, 0x30);  // fixed delivery, vector 0x30, APIC 0
  EXPECT_EQ(sender.failures(), 0u);
  pci::KvmMsiSender broken(-1);
  broken.send(0xFEE0'0000, 0x30);
  EXPECT_EQ(broken.failures(), 1u);
}

TEST_F(KvmWiringTest, NotifyWriteIsAbsorbedByIoeventfd) {
  constexpr uint64_t kMemSize = 0x10000;
  constexpr uint64_t kNotifyArea = 0x10000;  // just past RAM: MMIO
  void* mem = ::mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  // Real mode: ds = 0x1000; mov word [4], 1  (queue 1 at area + 4); hlt.
  const uint8_t code[] = {0xB8, 0x00, 0x10, 0x8E, 0xD8, 0xC7, 0x06, 0x04, 0x00, 0x01, 0x00, 0xF4};
  std::memcpy(static_cast<uint8_t*>(mem) + 0x1000, code, sizeof code);
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kMemSize;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  ASSERT_EQ(::ioctl(vm_->get(), KVM_SET_USER_MEMORY_REGION, &region), 0);

  virtio::KvmQueueNotifier notifier(vm_->get(), 2, virtio::VirtioPciDevice::kNotifyOffMultiplier);
  notifier.notify_area_moved(kNotifyArea);
  EXPECT_EQ(notifier.registered_area(), kNotifyArea);

  Fd vcpu(::ioctl(vm_->get(), KVM_CREATE_VCPU, 0));
  ASSERT_GE(vcpu.get(), 0);
  int run_size = ::ioctl(kvm_->get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  auto* run = static_cast<kvm_run*>(::mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(), 0));
  ASSERT_NE(run, MAP_FAILED);
  kvm_sregs sregs{};
  ASSERT_EQ(::ioctl(vcpu.get(), KVM_GET_SREGS, &sregs), 0);
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  ASSERT_EQ(::ioctl(vcpu.get(), KVM_SET_SREGS, &sregs), 0);
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 2;
  ASSERT_EQ(::ioctl(vcpu.get(), KVM_SET_REGS, &regs), 0);

  int mmio_exits = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(::ioctl(vcpu.get(), KVM_RUN, 0), 0);
    if (run->exit_reason == KVM_EXIT_HLT) break;
    if (run->exit_reason == KVM_EXIT_MMIO) {
      ++mmio_exits;
      continue;
    }
    FAIL() << "unexpected exit " << run->exit_reason;
  }
  EXPECT_EQ(run->exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
  EXPECT_EQ(mmio_exits, 0);
  EXPECT_TRUE(notifier.consume(1));
  EXPECT_FALSE(notifier.consume(0));
  // kick() from user space takes the same eventfd.
  notifier.kick(0);
  EXPECT_TRUE(notifier.consume(0));
  // Moving the area away deregisters.
  notifier.notify_area_moved(std::nullopt);
  EXPECT_EQ(notifier.registered_area(), std::nullopt);
  ::munmap(run, run_size);
  ::munmap(mem, kMemSize);
}

}  // namespace
}  // namespace devices
