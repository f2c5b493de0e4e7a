// Guest RAM: host mappings for each RamRegion plus bounds-checked access by guest address.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "vmm/memory_layout.h"
#include "vmm/memory_mapping.h"

namespace vmm {

class GuestMemory {
 public:
  struct Slot {
    RamRegion region;
    MemoryMapping mapping;
  };

  // Maps anonymous memory for every region.
  explicit GuestMemory(const std::vector<RamRegion>& regions);

  const std::vector<Slot>& slots() const { return slots_; }
  uint64_t total_bytes() const;
  // End of RAM below 4 GiB (exclusive).
  uint64_t low_ram_end() const { return slots_.front().region.size; }

  // Host view of [address, address + size); throws std::out_of_range if it is not all RAM
  // within one region.
  std::span<uint8_t> span(uint64_t address, uint64_t size) const;

  void write(uint64_t address, std::span<const uint8_t> bytes) const {
    auto dst = span(address, bytes.size());
    std::memcpy(dst.data(), bytes.data(), bytes.size());
  }
  template <typename T>
  void write_object(uint64_t address, const T& value) const {
    write(address, std::span(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

 private:
  std::vector<Slot> slots_;
};

}  // namespace vmm
