// Builds the Linux "zero page" (struct boot_params, Documentation/arch/x86/zero-page.rst).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "vmm/bzimage.h"
#include "vmm/e820.h"

namespace vmm {

namespace zero_page {
inline constexpr size_t kSize = 4096;
inline constexpr size_t kAcpiRsdpAddr = 0x070;
inline constexpr size_t kExtRamdiskImage = 0x0c0;
inline constexpr size_t kExtRamdiskSize = 0x0c4;
inline constexpr size_t kExtCmdLinePtr = 0x0c8;
inline constexpr size_t kE820Entries = 0x1e8;
inline constexpr size_t kE820Table = 0x2d0;
inline constexpr size_t kE820EntrySize = 20;
inline constexpr size_t kE820MaxEntries = 128;
}  // namespace zero_page

struct BootParamsInput {
  const BzImage* image = nullptr;
  std::vector<E820Entry> e820;
  uint64_t cmdline_address = 0;
  uint32_t cmdline_size = 0;  // without the terminating NUL
  uint64_t initrd_address = 0;
  uint64_t initrd_size = 0;
  std::optional<uint64_t> acpi_rsdp_address;
};

using ZeroPage = std::array<uint8_t, zero_page::kSize>;

ZeroPage build_boot_params(const BootParamsInput& input);

}  // namespace vmm
