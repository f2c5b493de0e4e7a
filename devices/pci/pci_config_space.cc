#include "devices/pci/pci_config_space.h"

#include <bit>
#include <stdexcept>

namespace devices::pci {

PciConfigSpace::PciConfigSpace(const PciIds& ids) {
  set16(reg::kVendorId, ids.vendor);
  set16(reg::kDeviceId, ids.device);
  set8(reg::kRevision, ids.revision);
  set8(reg::kClassCode, ids.class_code & 0xFF);
  set8(reg::kClassCode + 1, (ids.class_code >> 8) & 0xFF);
  set8(reg::kClassCode + 2, (ids.class_code >> 16) & 0xFF);
  set8(reg::kHeaderType, 0);  // type 0, single function
  set16(reg::kSubsystemVendorId, ids.subsystem_vendor);
  set16(reg::kSubsystemId, ids.subsystem);
  set_writable(reg::kCommand, 2,
               cmd::kIoSpace | cmd::kMemorySpace | cmd::kBusMaster | cmd::kParityErrorResponse |
                   cmd::kSerr | cmd::kIntxDisable);
  write_one_to_clear_[reg::kStatus + 1] = status::kWriteOneToClear >> 8;
  set_writable(reg::kInterruptLine, 1, 0xFF);
}

uint16_t PciConfigSpace::get16(uint32_t offset) const {
  return static_cast<uint16_t>(bytes_[offset] | bytes_[offset + 1] << 8);
}

uint32_t PciConfigSpace::get32(uint32_t offset) const {
  return static_cast<uint32_t>(get16(offset)) | static_cast<uint32_t>(get16(offset + 2)) << 16;
}

void PciConfigSpace::set16(uint32_t offset, uint16_t value) {
  bytes_[offset] = value & 0xFF;
  bytes_[offset + 1] = value >> 8;
}

void PciConfigSpace::set32(uint32_t offset, uint32_t value) {
  set16(offset, value & 0xFFFF);
  set16(offset + 2, value >> 16);
}

void PciConfigSpace::set_writable(uint32_t offset, size_t size, uint32_t mask) {
  for (size_t i = 0; i < size && i < 4; ++i) writable_.at(offset + i) = (mask >> (8 * i)) & 0xFF;
}

void PciConfigSpace::read(uint32_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = uint64_t{offset} + i;
    data[i] = at < kConfigSpaceSize ? bytes_[at] : 0xFF;
  }
}

void PciConfigSpace::write(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = uint64_t{offset} + i;
    if (at >= kConfigSpaceSize) break;
    uint8_t v = data[i];
    bytes_[at] = static_cast<uint8_t>((bytes_[at] & ~writable_[at]) | (v & writable_[at]));
    bytes_[at] &= static_cast<uint8_t>(~(v & write_one_to_clear_[at]));
  }
}

void PciConfigSpace::add_bar(int index, BarType type, uint64_t size, bool prefetchable) {
  if (index < 0 || index >= kNumBars || (type == BarType::kMemory64 && index == kNumBars - 1)) {
    throw std::invalid_argument("pci: bad BAR index");
  }
  uint64_t min = type == BarType::kIo ? 4 : 16;
  size = std::bit_ceil(size < min ? min : size);
  bars_[index] = BarInfo{type, size, prefetchable};
  uint32_t off = reg::kBar0 + 4 * index;
  uint32_t low_flags = 0;
  uint32_t low_mask = 0;
  switch (type) {
    case BarType::kIo:
      low_flags = 0x1;
      low_mask = static_cast<uint32_t>(~(size - 1)) & ~0x3u;
      break;
    case BarType::kMemory32:
      low_flags = prefetchable ? 0x8 : 0x0;
      low_mask = static_cast<uint32_t>(~(size - 1)) & ~0xFu;
      break;
    case BarType::kMemory64:
      low_flags = 0x4 | (prefetchable ? 0x8 : 0x0);
      low_mask = static_cast<uint32_t>(~(size - 1)) & ~0xFu;
      set32(off + 4, 0);
      set_writable(off + 4, 4, static_cast<uint32_t>(~(size - 1) >> 32));
      break;
  }
  set32(off, low_flags);
  set_writable(off, 4, low_mask);
}

uint64_t PciConfigSpace::bar_address(int index) const {
  const auto& info = bars_.at(index);
  if (!info) return 0;
  uint32_t off = reg::kBar0 + 4 * index;
  uint32_t low = get32(off);
  switch (info->type) {
    case BarType::kIo:
      return low & ~0x3u;
    case BarType::kMemory32:
      return low & ~0xFu;
    case BarType::kMemory64:
      return (uint64_t{get32(off + 4)} << 32) | (low & ~0xFu);
  }
  return 0;
}

void PciConfigSpace::set_bar_address(int index, uint64_t address) {
  const auto& info = bars_.at(index);
  if (!info) throw std::invalid_argument("pci: BAR not declared");
  uint32_t off = reg::kBar0 + 4 * index;
  uint32_t flags = get32(off) & (info->type == BarType::kIo ? 0x3u : 0xFu);
  uint64_t masked = address & ~(info->size - 1);
  set32(off, static_cast<uint32_t>(masked) | flags);
  if (info->type == BarType::kMemory64) set32(off + 4, static_cast<uint32_t>(masked >> 32));
}

uint8_t PciConfigSpace::add_capability(uint8_t id, size_t size) {
  size_t rounded = (size + 3) & ~size_t{3};
  if (size < 2 || next_capability_ + rounded > kConfigSpaceSize) {
    throw std::length_error("pci: configuration space full");
  }
  auto offset = static_cast<uint8_t>(next_capability_);
  set8(offset, id);
  set8(offset + 1, 0);
  if (last_capability_ == 0) {
    set8(reg::kCapabilityPointer, offset);
    set16(reg::kStatus, get16(reg::kStatus) | status::kCapabilityList);
  } else {
    set8(last_capability_ + 1, offset);
  }
  last_capability_ = offset;
  next_capability_ += rounded;
  return offset;
}

void PciConfigSpace::set_interrupt_status(bool pending) {
  uint16_t s = get16(reg::kStatus);
  set16(reg::kStatus, pending ? (s | status::kInterrupt) : (s & ~status::kInterrupt));
}

}  // namespace devices::pci
