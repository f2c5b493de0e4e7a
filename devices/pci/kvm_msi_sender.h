#pragma once
// MsiSender over KVM_SIGNAL_MSI (needs the in-kernel irqchip, KVM_CREATE_IRQCHIP). One ioctl
// per message; thread-safe. Failures are counted and the first few logged, never thrown: an
// interrupt that cannot be delivered must not take the device down.
#include <atomic>
#include <cstdint>

#include "devices/pci/msi_sender.h"

namespace devices::pci {

class KvmMsiSender final : public MsiSender {
 public:
  explicit KvmMsiSender(int vm_fd) : vm_fd_(vm_fd) {}
  void send(uint64_t address, uint32_t data) override;
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  int vm_fd_;
  std::atomic<uint64_t> failures_{0};
};

}  // namespace devices::pci
