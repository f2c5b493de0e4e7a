#include "devices/pci/bar_allocator.h"

#include <bit>

namespace devices::pci {

std::optional<uint64_t> BarAllocator::allocate(uint64_t size) {
  if (size == 0 || size > (uint64_t{1} << 62)) return std::nullopt;
  size = std::bit_ceil(size < 16 ? uint64_t{16} : size);
  uint64_t base = (next_ + size - 1) & ~(size - 1);
  if (base < next_ || base > end_ || size > end_ - base) return std::nullopt;
  next_ = base + size;
  return base;
}

}  // namespace devices::pci
