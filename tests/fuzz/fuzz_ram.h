#pragma once
// Guest RAM for the device fuzzers: two regions with a hole between them (like RAM below and
// above the PCI hole), small enough to wipe on every input. Addresses the fuzzer picks land in
// RAM, at region edges, in the hole or far outside, so every device bounds check is reached.
#include <cstdint>
#include <cstring>
#include <span>

#include "tests/fuzz/byte_reader.h"
#include "vmm/guest_memory.h"

namespace kvmm::fuzz {

class FuzzRam {
 public:
  static constexpr uint64_t kLowSize = 256 << 10;
  static constexpr uint64_t kHighBase = 1 << 20;
  static constexpr uint64_t kHighSize = 64 << 10;

  FuzzRam() : memory({{0, kLowSize}, {kHighBase, kHighSize}}) {}

  void clear() {
    for (const auto& slot : memory.slots()) std::memset(slot.mapping.data(), 0, slot.region.size);
  }
  // Harness writes: silently dropped outside RAM (the harness only aims at RAM anyway).
  void write(uint64_t address, const void* data, size_t size) {
    if (uint8_t* p = host(address, size)) std::memcpy(p, data, size);
  }
  template <typename T>
  void put(uint64_t address, T value) {
    write(address, &value, sizeof value);
  }
  template <typename T>
  T get(uint64_t address) {
    T value{};
    if (uint8_t* p = host(address, sizeof value)) std::memcpy(&value, p, sizeof value);
    return value;
  }
  uint8_t* host(uint64_t address, uint64_t size) {
    for (const auto& slot : memory.slots()) {
      const auto& r = slot.region;
      if (address >= r.guest_address && address - r.guest_address <= r.size &&
          size <= r.size - (address - r.guest_address)) {
        return slot.mapping.data() + (address - r.guest_address);
      }
    }
    return nullptr;
  }

  // A guest address chosen by the input: mostly inside RAM, sometimes at or across a region
  // edge, in the hole, or anywhere in the 64-bit space.
  uint64_t pick_address(ByteReader& in) {
    uint8_t mode = in.u8();
    uint16_t off = in.u16();
    switch (mode % 8) {
      case 0:
      case 1:
      case 2:
        return off % kLowSize;
      case 3:
        return kHighBase + off % kHighSize;
      case 4:
        return kLowSize - 1 - (off % 64);  // last bytes of the low region
      case 5:
        return kHighBase + kHighSize - 1 - (off % 64);
      case 6:
        return kLowSize + off;  // the hole
      default:
        return in.u64();
    }
  }

  vmm::GuestMemory memory;
};

}  // namespace kvmm::fuzz
