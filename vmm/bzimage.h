// Parsing of the x86 Linux boot protocol setup header of a bzImage
// (Documentation/arch/x86/boot.rst: offsets are relative to the start of the image file, which
// are also the offsets inside boot_params, the "zero page").
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmm {

class BzImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace setup_header {
inline constexpr size_t kStart = 0x1f1;
inline constexpr size_t kSetupSects = 0x1f1;
inline constexpr size_t kBootFlag = 0x1fe;       // 0xAA55
inline constexpr size_t kJump = 0x200;           // byte 0x201 + 0x202 = end of the header
inline constexpr size_t kMagic = 0x202;          // "HdrS"
inline constexpr size_t kVersion = 0x206;
inline constexpr size_t kTypeOfLoader = 0x210;
inline constexpr size_t kLoadFlags = 0x211;
inline constexpr size_t kCode32Start = 0x214;
inline constexpr size_t kRamdiskImage = 0x218;
inline constexpr size_t kRamdiskSize = 0x21c;
inline constexpr size_t kHeapEndPtr = 0x224;
inline constexpr size_t kCmdLinePtr = 0x228;
inline constexpr size_t kInitrdAddrMax = 0x22c;
inline constexpr size_t kKernelAlignment = 0x230;
inline constexpr size_t kRelocatable = 0x234;
inline constexpr size_t kXLoadFlags = 0x236;
inline constexpr size_t kCmdlineSize = 0x238;
inline constexpr size_t kInitSize = 0x260;

inline constexpr uint8_t kLoadedHigh = 0x01;     // loadflags
inline constexpr uint8_t kCanUseHeap = 0x80;     // loadflags
inline constexpr uint16_t kXlfKernel64 = 0x0001; // xloadflags: has the 64-bit entry point
inline constexpr uint16_t kXlfCanBeLoadedAbove4G = 0x0002;
}  // namespace setup_header

// Oldest protocol we accept: 2.12 introduced xloadflags, which tells us the 64-bit entry exists.
inline constexpr uint16_t kMinBootProtocol = 0x020c;

struct BzImage {
  uint16_t protocol_version = 0;
  uint8_t setup_sects = 0;
  uint8_t loadflags = 0;
  uint16_t xloadflags = 0;
  uint32_t initrd_addr_max = 0;
  uint32_t cmdline_size = 0;
  uint32_t init_size = 0;
  // Bytes 0x1f1 .. end of header, copied verbatim into boot_params.
  std::vector<uint8_t> setup_header;
  // The protected-mode kernel (everything after the real-mode setup code).
  std::span<const uint8_t> kernel;
};

// Validates and describes `image` (which must outlive the result). Throws BzImageError with a
// message that says what is wrong (bad magic, too-old protocol, truncation, ...).
BzImage parse_bzimage(std::span<const uint8_t> image);

}  // namespace vmm
