#pragma once
// O_DIRECT constraints of an open image. Without O_DIRECT nothing needs aligning.
#include <cstdint>

namespace block {

struct DioAlignment {
  uint32_t memory = 1;  // guest buffer addresses must be multiples of this
  uint32_t offset = 1;  // file offsets and segment lengths must be multiples of this
};

constexpr uint64_t align_down(uint64_t value, uint64_t alignment) {
  return value / alignment * alignment;
}
constexpr uint64_t align_up(uint64_t value, uint64_t alignment) {
  return align_down(value + alignment - 1, alignment);
}

}  // namespace block
