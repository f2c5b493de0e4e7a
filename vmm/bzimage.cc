#include "vmm/bzimage.h"

#include <cstdio>
#include <cstring>

namespace vmm {
namespace {

template <typename T>
T read_le(std::span<const uint8_t> bytes, size_t offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof(T));  // x86 host: little-endian
  return value;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

}  // namespace

BzImage parse_bzimage(std::span<const uint8_t> image) {
  namespace h = setup_header;
  if (image.size() < h::kInitSize + 4) {
    throw BzImageError("file too small for a bzImage (" + std::to_string(image.size()) + " bytes)");
  }
  if (read_le<uint16_t>(image, h::kBootFlag) != 0xAA55) {
    throw BzImageError("not a bzImage: boot flag 0xAA55 missing at offset 0x1fe");
  }
  if (std::memcmp(image.data() + h::kMagic, "HdrS", 4) != 0) {
    throw BzImageError("not a bzImage: setup header magic \"HdrS\" missing at offset 0x202");
  }
  BzImage result;
  result.protocol_version = read_le<uint16_t>(image, h::kVersion);
  if (result.protocol_version < kMinBootProtocol) {
    throw BzImageError("boot protocol " + std::to_string(result.protocol_version >> 8) + "." +
                       std::to_string(result.protocol_version & 0xff) +
                       " is too old (need 2.12 or newer)");
  }
  result.loadflags = image[h::kLoadFlags];
  result.xloadflags = read_le<uint16_t>(image, h::kXLoadFlags);
  if (!(result.loadflags & h::kLoadedHigh)) {
    throw BzImageError("zImage (loaded low) kernels are not supported");
  }
  if (!(result.xloadflags & h::kXlfKernel64)) {
    throw BzImageError("kernel has no 64-bit entry point (xloadflags " + hex(result.xloadflags) + ")");
  }
  result.setup_sects = image[h::kSetupSects];
  const size_t setup_sects = result.setup_sects == 0 ? 4 : result.setup_sects;
  const size_t kernel_offset = (setup_sects + 1) * 512;
  if (kernel_offset >= image.size()) {
    throw BzImageError("truncated bzImage: setup code claims " + std::to_string(kernel_offset) +
                       " bytes but the file has " + std::to_string(image.size()));
  }
  // syssize (0x1f4) is the protected-mode size in 16-byte units: catches truncated downloads.
  const uint64_t syssize = uint64_t{read_le<uint32_t>(image, 0x1f4)} * 16;
  if (syssize != 0 && kernel_offset + syssize > image.size()) {
    throw BzImageError("truncated bzImage: kernel needs " + std::to_string(kernel_offset + syssize) +
                       " bytes but the file has " + std::to_string(image.size()));
  }
  const size_t header_end = 0x202 + image[h::kJump + 1];
  if (header_end > image.size() || header_end <= h::kInitSize) {
    throw BzImageError("setup header length " + hex(static_cast<uint32_t>(header_end)) + " is invalid");
  }
  result.initrd_addr_max = read_le<uint32_t>(image, h::kInitrdAddrMax);
  result.cmdline_size = read_le<uint32_t>(image, h::kCmdlineSize);
  result.init_size = read_le<uint32_t>(image, h::kInitSize);
  result.setup_header.assign(image.begin() + h::kStart, image.begin() + header_end);
  result.kernel = image.subspan(kernel_offset);
  return result;
}

}  // namespace vmm
