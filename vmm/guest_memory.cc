#include "vmm/guest_memory.h"

#include <cstdio>
#include <stdexcept>
#include <string>

namespace vmm {

GuestMemory::GuestMemory(const std::vector<RamRegion>& regions) {
  if (regions.empty() || regions.front().guest_address != 0) {
    throw std::invalid_argument("guest RAM must start at guest address 0");
  }
  for (const RamRegion& region : regions) {
    slots_.push_back({region, MemoryMapping::anonymous(region.size)});
  }
}

uint64_t GuestMemory::total_bytes() const {
  uint64_t total = 0;
  for (const Slot& slot : slots_) total += slot.region.size;
  return total;
}

std::span<uint8_t> GuestMemory::span(uint64_t address, uint64_t size) const {
  for (const Slot& slot : slots_) {
    const RamRegion& r = slot.region;
    if (address >= r.guest_address && address - r.guest_address <= r.size &&
        size <= r.size - (address - r.guest_address)) {
      return {slot.mapping.data() + (address - r.guest_address), size};
    }
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "guest range [0x%llx, +0x%llx) is not RAM",
                static_cast<unsigned long long>(address), static_cast<unsigned long long>(size));
  throw std::out_of_range(buf);
}

}  // namespace vmm
