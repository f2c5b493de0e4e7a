#pragma once
// Plain MSI capability (id 05h): one vector, 64-bit message address, no per-vector masking.
// The guest programs address/data and sets the enable bit in message control; the device
// calls notify() to send the message. Storage is the configuration space itself, so the
// values are whatever the guest wrote.
//
// Not thread-safe: the owning device serializes access (its mutex).
#include <cstdint>

#include "devices/pci/msi_sender.h"
#include "devices/pci/pci_config_space.h"

namespace devices::pci {

class MsiCapability {
 public:
  static constexpr uint16_t kControlEnable = 1 << 0;
  static constexpr uint16_t kControl64Bit = 1 << 7;
  static constexpr uint32_t kControlOffset = 2;
  static constexpr uint32_t kAddressOffset = 4;
  static constexpr uint32_t kAddressHighOffset = 8;
  static constexpr uint32_t kDataOffset = 12;

  explicit MsiCapability(PciConfigSpace& config);

  void set_sender(MsiSender* sender) { sender_ = sender; }
  uint8_t capability_offset() const { return cap_; }
  bool enabled() const;
  uint64_t address() const;
  uint16_t data() const;
  // Sends the message. Returns false (nothing sent) if MSI is disabled or no sender is set.
  bool notify();
  // Function-level reset: disabled, address/data cleared.
  void reset();

 private:
  PciConfigSpace& config_;
  uint8_t cap_;
  MsiSender* sender_ = nullptr;
};

}  // namespace devices::pci
