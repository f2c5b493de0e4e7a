// Builds small synthetic bzImages for loader tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/bzimage.h"

namespace vmm::testing {

struct FakeBzImageSpec {
  uint16_t version = 0x020f;
  uint8_t setup_sects = 4;
  size_t kernel_bytes = 0x3000;
  uint32_t initrd_addr_max = 0x7fffffff;
  uint32_t init_size = 0x20000;
  uint32_t cmdline_size = 2047;
  uint16_t xloadflags = setup_header::kXlfKernel64 | setup_header::kXlfCanBeLoadedAbove4G;
  uint8_t loadflags = setup_header::kLoadedHigh;
};

template <typename T>
inline void put(std::vector<uint8_t>& image, size_t offset, T value) {
  std::memcpy(image.data() + offset, &value, sizeof(T));
}

inline std::vector<uint8_t> make_fake_bzimage(const FakeBzImageSpec& spec = {}) {
  const size_t setup_bytes = (spec.setup_sects + 1u) * 512u;
  std::vector<uint8_t> image(setup_bytes + spec.kernel_bytes, 0);
  image[0x1f1] = spec.setup_sects;
  put<uint32_t>(image, 0x1f4, static_cast<uint32_t>(spec.kernel_bytes / 16));
  put<uint16_t>(image, 0x1fe, 0xAA55);
  image[0x200] = 0xEB;  // short jump over the header
  image[0x201] = 0x6a;  // header ends at 0x202 + 0x6a = 0x26c
  std::memcpy(image.data() + 0x202, "HdrS", 4);
  put<uint16_t>(image, 0x206, spec.version);
  image[0x211] = spec.loadflags;
  put<uint32_t>(image, 0x214, 0x100000);
  put<uint32_t>(image, 0x22c, spec.initrd_addr_max);
  put<uint32_t>(image, 0x230, 0x200000);
  image[0x234] = 1;
  put<uint16_t>(image, 0x236, spec.xloadflags);
  put<uint32_t>(image, 0x238, spec.cmdline_size);
  put<uint32_t>(image, 0x260, spec.init_size);
  // Recognizable protected-mode kernel bytes.
  for (size_t i = 0; i < spec.kernel_bytes; ++i) image[setup_bytes + i] = static_cast<uint8_t>(i * 7);
  return image;
}

}  // namespace vmm::testing
