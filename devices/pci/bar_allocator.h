#pragma once
// Hands out naturally aligned ranges of a fixed MMIO window (e.g. the 32-bit PCI hole
// 0xC000_0000..0xFEBF_FFFF) for BARs. Allocate the largest BARs first to avoid holes.
#include <cstdint>
#include <optional>

namespace devices::pci {

inline constexpr uint64_t kMmio32WindowStart = 0xC000'0000;
inline constexpr uint64_t kMmio32WindowEnd = 0xFEC0'0000;  // exclusive: IOAPIC/LAPIC follow

class BarAllocator {
 public:
  // [start, end): end exclusive.
  BarAllocator(uint64_t start, uint64_t end) : start_(start), end_(end), next_(start) {}

  // A range of `size` bytes (rounded up to a power of two, at least 16) aligned to its size,
  // or nullopt if the window is exhausted.
  std::optional<uint64_t> allocate(uint64_t size);

  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }

 private:
  uint64_t start_;
  uint64_t end_;
  uint64_t next_;
};

}  // namespace devices::pci
