#pragma once
// Reads a fuzzer input front to back as little-endian integers. Past the end every read
// returns zeroes, so a short input is still a valid (shorter) program. The seed generator
// (make_seeds.py) writes inputs in exactly this order, which keeps the seeds readable.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace kvmm::fuzz {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  bool flag() { return (u8() & 1) != 0; }

  // Copies up to out.size() bytes (zero-filling the rest); returns how many were real.
  size_t bytes(std::span<uint8_t> out) {
    size_t n = std::min(out.size(), remaining());
    if (n > 0) std::memcpy(out.data(), data_ + pos_, n);
    std::memset(out.data() + n, 0, out.size() - n);
    pos_ += n;
    return n;
  }
  // The rest of the input as a string.
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(data_ + pos_), remaining());
    pos_ = size_;
    return s;
  }

 private:
  uint64_t take(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i, ++pos_) {
      if (pos_ < size_) v |= uint64_t{data_[pos_]} << (8 * i);
    }
    return v;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace kvmm::fuzz
