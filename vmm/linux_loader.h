// Places a bzImage's kernel, the initrd, the command line and boot_params in guest memory.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "vmm/bzimage.h"
#include "vmm/guest_memory.h"

namespace vmm {

struct LinuxBootInfo {
  uint64_t entry_point;  // 64-bit entry: load address + 0x200
  uint64_t zero_page;    // passed in RSI
};

// Highest page-aligned address for an initrd of `size` bytes: it must end below both the end of
// low RAM and initrd_addr_max, and must not overlap the kernel's [load, kernel_end) footprint.
// Throws std::runtime_error if it does not fit.
uint64_t place_initrd(uint64_t low_ram_end, uint32_t initrd_addr_max, uint64_t kernel_end,
                      uint64_t size);

// Loads everything and returns where to start. Throws with context on any problem.
LinuxBootInfo load_linux(const GuestMemory& memory, std::span<const uint8_t> bzimage,
                         std::span<const uint8_t> initrd, const std::string& cmdline,
                         std::optional<uint64_t> acpi_rsdp);

}  // namespace vmm
