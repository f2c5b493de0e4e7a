#include "vmm/e820.h"

#include <stdexcept>

namespace vmm {

std::vector<E820Entry> build_e820_map(const std::vector<RamRegion>& regions) {
  if (regions.empty() || regions.front().guest_address != 0 ||
      regions.front().size <= layout::kHighMemory) {
    throw std::invalid_argument("e820: guest RAM must start at 0 and extend beyond 1 MiB");
  }
  std::vector<E820Entry> map;
  map.push_back({0, layout::kEbdaStart, E820Type::kRam});
  map.push_back({layout::kEbdaStart, 0xA0000 - layout::kEbdaStart, E820Type::kReserved});
  map.push_back({layout::kBiosStart, layout::kHighMemory - layout::kBiosStart, E820Type::kReserved});
  map.push_back({layout::kHighMemory, regions.front().size - layout::kHighMemory, E820Type::kRam});
  for (size_t i = 1; i < regions.size(); ++i) {
    map.push_back({regions[i].guest_address, regions[i].size, E820Type::kRam});
  }
  return map;
}

}  // namespace vmm
