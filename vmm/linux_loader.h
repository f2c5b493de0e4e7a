// Places a bzImage's kernel, the initrd, the command line and boot_params in guest memory.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "vmm/bzimage.h"
#include "vmm/file_contents.h"
#include "vmm/guest_memory.h"

namespace vmm {

// The initrd: its size, and how to copy it to its place in guest RAM (from a file: straight
// from the page cache into guest RAM, no heap copy of 100+ MiB first).
struct InitrdImage {
  uint64_t size = 0;
  std::function<void(std::span<uint8_t> destination)> fill;  // destination.size() == size

  static InitrdImage from_bytes(std::span<const uint8_t> bytes);
  static InitrdImage from_file(const InputFile& file);  // `file` must outlive load_linux()
};

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
                         const InitrdImage& initrd, const std::string& cmdline,
                         std::optional<uint64_t> acpi_rsdp);

}  // namespace vmm
