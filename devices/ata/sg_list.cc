#include "devices/ata/sg_list.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace devices::ata {

bool SgList::add(const vmm::GuestMemory& memory, uint64_t address, uint64_t length) {
  if (error_ != Error::kNone) return false;
  if (length == 0) {
    fail(Error::kBadLength);
    return false;
  }
  uint64_t take = std::min(length, wanted_ - bytes_);
  if (take == 0) return true;
  std::span<uint8_t> host;
  try {
    host = memory.span(address, take);
  } catch (const std::exception&) {
    fail(Error::kOutsideRam);
    return false;
  }
  if (count_ > 0) {
    iovec& last = storage_[count_ - 1];
    if (static_cast<uint8_t*>(last.iov_base) + last.iov_len == host.data()) {
      last.iov_len += take;
      bytes_ += take;
      return true;
    }
  }
  if (count_ == storage_.size()) {
    fail(Error::kTooManySegments);
    return false;
  }
  storage_[count_++] = iovec{host.data(), take};
  bytes_ += take;
  return true;
}

bool SgList::overlapping() const {
  if (count_ < 2) return false;
  // Sorted copy of the ranges. On the stack up to the controllers' segment limit (256), so a
  // multi-segment read allocates nothing; only a larger caller-provided storage uses the heap.
  struct Range {  // trivial, so the stack array is left uninitialized (no 4 KiB clear)
    uintptr_t begin, end;
    bool operator<(const Range& o) const { return begin < o.begin || (begin == o.begin && end < o.end); }
  };
  constexpr size_t kOnStack = 256;
  std::array<Range, kOnStack> stack_ranges;
  std::vector<Range> heap_ranges;
  std::span<Range> r;
  if (count_ <= kOnStack) {
    r = std::span(stack_ranges).first(count_);
  } else {
    heap_ranges.resize(count_);
    r = heap_ranges;
  }
  for (size_t i = 0; i < count_; ++i) {
    auto b = reinterpret_cast<uintptr_t>(storage_[i].iov_base);
    r[i] = {b, b + storage_[i].iov_len};
  }
  std::sort(r.begin(), r.end());
  for (size_t i = 1; i < r.size(); ++i) {
    if (r[i].begin < r[i - 1].end) return true;
  }
  return false;
}

uint64_t SgList::copy_in(std::span<const uint8_t> data) const {
  uint64_t done = 0;
  for (size_t i = 0; i < count_ && done < data.size(); ++i) {
    uint64_t n = std::min<uint64_t>(storage_[i].iov_len, data.size() - done);
    std::memcpy(storage_[i].iov_base, data.data() + done, n);
    done += n;
  }
  return done;
}

}  // namespace devices::ata
