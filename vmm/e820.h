// The BIOS-style e820 memory map handed to Linux in boot_params.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/memory_layout.h"

namespace vmm {

enum class E820Type : uint32_t { kRam = 1, kReserved = 2, kAcpi = 3 };

struct E820Entry {
  uint64_t address;
  uint64_t size;
  E820Type type;
  bool operator==(const E820Entry&) const = default;
};

// Low memory up to the EBDA is RAM, the EBDA and the BIOS area (0xE0000..1 MiB) are reserved
// (Linux must not reuse the MP/ACPI tables there), then the RAM regions from 1 MiB.
std::vector<E820Entry> build_e820_map(const std::vector<RamRegion>& regions);

}  // namespace vmm
