#include "devices/pci/msix.h"

#include <cstring>
#include <stdexcept>

namespace devices::pci {

MsixCapability::MsixCapability(PciConfigSpace& config, uint16_t vectors, uint8_t bar,
                               uint32_t table_offset, uint32_t pba_offset)
    : config_(config),
      bar_(bar),
      table_offset_(table_offset),
      pba_offset_(pba_offset),
      entries_(vectors),
      pba_((vectors + 63) / 64) {
  if (vectors == 0 || vectors > 2048 || bar > 5 || (table_offset & 7) || (pba_offset & 7)) {
    throw std::invalid_argument("msix: bad layout");
  }
  cap_ = config_.add_capability(cap_id::kMsix, 12);
  config_.set16(cap_ + 2, static_cast<uint16_t>(vectors - 1));
  config_.set_writable(cap_ + 2, 2, kControlEnable | kControlFunctionMask);
  config_.set32(cap_ + 4, table_offset | bar);
  config_.set32(cap_ + 8, pba_offset | bar);
}

bool MsixCapability::enabled() const { return config_.get16(cap_ + 2) & kControlEnable; }

bool MsixCapability::function_masked() const {
  return config_.get16(cap_ + 2) & kControlFunctionMask;
}

bool MsixCapability::vector_masked(uint16_t vector) const {
  return vector >= entries_.size() || (entries_[vector].control & 1) || function_masked();
}

bool MsixCapability::pending(uint16_t vector) const {
  return vector < entries_.size() && ((pba_[vector / 64] >> (vector % 64)) & 1);
}

void MsixCapability::set_pending(uint16_t vector, bool on) {
  uint64_t bit = uint64_t{1} << (vector % 64);
  if (on) {
    pba_[vector / 64] |= bit;
  } else {
    pba_[vector / 64] &= ~bit;
  }
}

void MsixCapability::table_read(uint64_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    uint64_t index = at / kEntrySize;
    if (index >= entries_.size()) {
      data[i] = 0;
      continue;
    }
    uint8_t raw[kEntrySize];
    std::memcpy(raw, &entries_[index], kEntrySize);
    data[i] = raw[at % kEntrySize];
  }
}

void MsixCapability::table_write(uint64_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    uint64_t index = at / kEntrySize;
    if (index >= entries_.size()) continue;
    uint8_t raw[kEntrySize];
    std::memcpy(raw, &entries_[index], kEntrySize);
    raw[at % kEntrySize] = data[i];
    std::memcpy(&entries_[index], raw, kEntrySize);
    entries_[index].control &= 1;  // the other vector control bits are reserved
  }
  // Unmasking a vector with its pending bit set sends the message now.
  uint64_t first = offset / kEntrySize;
  uint64_t last = (offset + data.size() - 1) / kEntrySize;
  for (uint64_t v = first; v <= last && v < entries_.size(); ++v) {
    auto vec = static_cast<uint16_t>(v);
    if (enabled() && pending(vec) && !vector_masked(vec)) {
      set_pending(vec, false);
      send(vec);
    }
  }
}

void MsixCapability::pba_read(uint64_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    data[i] = at / 8 < pba_.size() ? static_cast<uint8_t>(pba_[at / 8] >> (8 * (at % 8))) : 0;
  }
}

bool MsixCapability::notify(uint16_t vector) {
  if (!enabled() || vector >= entries_.size()) return false;
  if (vector_masked(vector)) {
    set_pending(vector, true);
  } else {
    send(vector);
  }
  return true;
}

void MsixCapability::control_written() { deliver_pending(); }

void MsixCapability::deliver_pending() {
  if (!enabled() || function_masked()) return;
  for (uint16_t v = 0; v < entries_.size(); ++v) {
    if (pending(v) && !vector_masked(v)) {
      set_pending(v, false);
      send(v);
    }
  }
}

void MsixCapability::send(uint16_t vector) {
  const Entry& e = entries_[vector];
  if (sender_ != nullptr) {
    sender_->send((uint64_t{e.address_high} << 32) | e.address_low, e.data);
  }
}

void MsixCapability::reset() {
  for (Entry& e : entries_) e = Entry{};
  for (uint64_t& p : pba_) p = 0;
  config_.set16(cap_ + 2, static_cast<uint16_t>(entries_.size() - 1));
}

}  // namespace devices::pci
