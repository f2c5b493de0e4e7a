#include "devices/pci/msi.h"

namespace devices::pci {

MsiCapability::MsiCapability(PciConfigSpace& config)
    : config_(config), cap_(config.add_capability(cap_id::kMsi, 14)) {
  config_.set16(cap_ + kControlOffset, kControl64Bit);  // 1 vector capable
  // Enable and multiple-message-enable (only 1 vector: the guest writes 0 there).
  config_.set_writable(cap_ + kControlOffset, 2, kControlEnable | 0x70);
  config_.set_writable(cap_ + kAddressOffset, 4, 0xFFFFFFFC);
  config_.set_writable(cap_ + kAddressHighOffset, 4, 0xFFFFFFFF);
  config_.set_writable(cap_ + kDataOffset, 2, 0xFFFF);
}

bool MsiCapability::enabled() const {
  return (config_.get16(cap_ + kControlOffset) & kControlEnable) != 0;
}

uint64_t MsiCapability::address() const {
  return uint64_t{config_.get32(cap_ + kAddressHighOffset)} << 32 | config_.get32(cap_ + kAddressOffset);
}

uint16_t MsiCapability::data() const { return config_.get16(cap_ + kDataOffset); }

bool MsiCapability::notify() {
  if (!enabled() || sender_ == nullptr) return false;
  sender_->send(address(), data());
  return true;
}

void MsiCapability::reset() {
  config_.set16(cap_ + kControlOffset, kControl64Bit);
  config_.set32(cap_ + kAddressOffset, 0);
  config_.set32(cap_ + kAddressHighOffset, 0);
  config_.set16(cap_ + kDataOffset, 0);
}

}  // namespace devices::pci
