#include "vmm/memory_layout.h"

#include <algorithm>

namespace vmm {

std::vector<RamRegion> plan_ram_regions(uint64_t ram_bytes) {
  std::vector<RamRegion> regions;
  const uint64_t low = std::min(ram_bytes, kPciHoleStart);
  regions.push_back({0, low});
  if (ram_bytes > low) regions.push_back({kFourGiB, ram_bytes - low});
  return regions;
}

}  // namespace vmm
