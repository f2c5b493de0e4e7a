#pragma once
// MSI-X: the capability in configuration space (message control with enable and function
// mask), the vector table and the pending bit array, both living in a memory BAR of the device.
// A masked vector (per-entry mask bit or function mask) that fires sets its pending bit; the
// message goes out when the vector is unmasked.
//
// Not thread-safe: the owning device serializes access (its mutex).
#include <cstdint>
#include <span>
#include <vector>

#include "devices/pci/msi_sender.h"
#include "devices/pci/pci_config_space.h"

namespace devices::pci {

class MsixCapability {
 public:
  static constexpr size_t kEntrySize = 16;
  static constexpr uint16_t kControlEnable = 1 << 15;
  static constexpr uint16_t kControlFunctionMask = 1 << 14;

  // Adds the capability to `config`. The table is at `table_offset` and the PBA at
  // `pba_offset` inside BAR `bar` (offsets 8-byte aligned).
  MsixCapability(PciConfigSpace& config, uint16_t vectors, uint8_t bar, uint32_t table_offset,
                 uint32_t pba_offset);

  void set_sender(MsiSender* sender) { sender_ = sender; }
  uint16_t vectors() const { return static_cast<uint16_t>(entries_.size()); }
  uint8_t capability_offset() const { return cap_; }
  uint8_t bar() const { return bar_; }
  uint32_t table_offset() const { return table_offset_; }
  uint32_t table_size() const { return static_cast<uint32_t>(entries_.size() * kEntrySize); }
  uint32_t pba_offset() const { return pba_offset_; }
  uint32_t pba_size() const { return static_cast<uint32_t>(pba_.size() * 8); }

  bool enabled() const;
  bool function_masked() const;
  bool vector_masked(uint16_t vector) const;
  bool pending(uint16_t vector) const;

  // BAR accesses, offsets relative to the start of the table / PBA. Out-of-range bytes read as
  // zero and ignore writes. The PBA is read-only.
  void table_read(uint64_t offset, std::span<uint8_t> data) const;
  void table_write(uint64_t offset, std::span<const uint8_t> data);
  void pba_read(uint64_t offset, std::span<uint8_t> data) const;

  // Fires `vector`: sends its message, or sets its pending bit if masked. Returns false if
  // MSI-X is disabled (the caller falls back to INTx) or the vector does not exist.
  bool notify(uint16_t vector);
  // Call after the guest wrote the capability (message control): sends what an unmasked
  // function has pending.
  void control_written();
  // Function-level reset: every vector masked, nothing pending, MSI-X disabled.
  void reset();

 private:
  struct Entry {
    uint32_t address_low = 0;
    uint32_t address_high = 0;
    uint32_t data = 0;
    uint32_t control = 1;  // bit 0: masked
  };
  void set_pending(uint16_t vector, bool on);
  void deliver_pending();
  void send(uint16_t vector);

  PciConfigSpace& config_;
  uint8_t cap_;
  uint8_t bar_;
  uint32_t table_offset_;
  uint32_t pba_offset_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> pba_;
  MsiSender* sender_ = nullptr;
};

}  // namespace devices::pci
