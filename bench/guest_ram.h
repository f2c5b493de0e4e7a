#pragma once
// Guest RAM for the host-only benchmarks: a real vmm::GuestMemory (so devices resolve guest
// addresses exactly as in the VMM) plus a bump allocator for the rings, tables and buffers a
// guest driver would place there.
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "vmm/guest_memory.h"

namespace bench {

class GuestRam {
 public:
  explicit GuestRam(uint64_t size = 64ull << 20) : memory_({{0, size}}), size_(size) {}

  // Guest-physical address of `size` fresh bytes aligned to `align`.
  uint64_t alloc(uint64_t size, uint64_t align = 16) {
    next_ = (next_ + align - 1) & ~(align - 1);
    uint64_t at = next_;
    next_ += size;
    if (next_ > size_) throw std::runtime_error("bench: guest RAM exhausted");
    std::memset(ptr(at, size), 0, size);
    return at;
  }
  uint8_t* ptr(uint64_t address, uint64_t size = 1) const { return memory_.span(address, size).data(); }
  template <typename T>
  void put(uint64_t address, T value) const {
    std::memcpy(ptr(address, sizeof value), &value, sizeof value);
  }
  template <typename T>
  T get(uint64_t address) const {
    T value;
    std::memcpy(&value, ptr(address, sizeof value), sizeof value);
    return value;
  }
  const vmm::GuestMemory& memory() const { return memory_; }

 private:
  vmm::GuestMemory memory_;
  uint64_t size_;
  uint64_t next_ = 0x10000;
};

}  // namespace bench
