#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by the zone metadata file.
#include <array>
#include <cstddef>
#include <cstdint>

namespace block::zoned {

namespace crc32c_internal {
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
inline constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();
}  // namespace crc32c_internal

constexpr uint32_t crc32c(const uint8_t* data, size_t size, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = crc32c_internal::kCrc32cTable[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace block::zoned
