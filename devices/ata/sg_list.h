#pragma once
// Scatter-gather list for one ATA transfer: guest-physical regions (AHCI PRDT entries, IDE
// PRD entries) translated into host iovecs pointing into guest RAM, with no copy. Bounded by
// the caller's iovec storage; host-contiguous neighbours are merged. Every region is checked
// against guest RAM, and the list is clipped to the transfer size, so a table longer than the
// transfer is fine and one shorter is reported by complete().
#include <sys/uio.h>

#include <cstdint>
#include <span>

#include "vmm/guest_memory.h"

namespace devices::ata {

class SgList {
 public:
  enum class Error : uint8_t { kNone, kOutsideRam, kTooManySegments, kBadLength, kOverlap };

  explicit SgList(std::span<iovec> storage) : storage_(storage) {}

  // Starts a list for `wanted` bytes.
  void reset(uint64_t wanted) {
    count_ = 0;
    bytes_ = 0;
    wanted_ = wanted;
    error_ = Error::kNone;
  }
  // Adds guest [address, address + length) (clipped to what is still wanted). Returns false
  // (and remembers the error) when the region is not all RAM or storage is exhausted.
  bool add(const vmm::GuestMemory& memory, uint64_t address, uint64_t length);
  // Marks the list bad (e.g. a table entry with an illegal length).
  void fail(Error e) {
    if (error_ == Error::kNone) error_ = e;
  }

  bool complete() const { return error_ == Error::kNone && bytes_ == wanted_; }
  bool full() const { return bytes_ == wanted_; }
  Error error() const { return error_; }
  uint64_t bytes() const { return bytes_; }
  std::span<const iovec> iov() const { return storage_.first(count_); }
  // True if two segments share host bytes (a guest pointing several PRDs at one buffer).
  bool overlapping() const;
  // Copies `data` into the list (device-to-host PIO emulation); returns the bytes copied.
  uint64_t copy_in(std::span<const uint8_t> data) const;

 private:
  std::span<iovec> storage_;
  size_t count_ = 0;
  uint64_t bytes_ = 0;
  uint64_t wanted_ = 0;
  Error error_ = Error::kNone;
};

}  // namespace devices::ata
