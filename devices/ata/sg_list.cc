#include "devices/ata/sg_list.h"

#include <algorithm>
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
  std::vector<std::pair<uintptr_t, uintptr_t>> r;
  r.reserve(count_);
  for (size_t i = 0; i < count_; ++i) {
    auto b = reinterpret_cast<uintptr_t>(storage_[i].iov_base);
    r.emplace_back(b, b + storage_[i].iov_len);
  }
  std::sort(r.begin(), r.end());
  for (size_t i = 1; i < r.size(); ++i) {
    if (r[i].first < r[i - 1].second) return true;
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
