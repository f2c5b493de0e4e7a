// Where guest RAM lives in guest-physical space. RAM that would overlap the 32-bit PCI/MMIO hole
// (LAPIC, IOAPIC, future PCI BARs) continues above 4 GiB, as on a PC.
#pragma once

#include <cstdint>
#include <vector>

namespace vmm {

inline constexpr uint64_t kPciHoleStart = 0xC000'0000;  // 3 GiB
inline constexpr uint64_t kFourGiB = 0x1'0000'0000;

struct RamRegion {
  uint64_t guest_address;
  uint64_t size;
  bool operator==(const RamRegion&) const = default;
};

// Splits `ram_bytes` into at most two regions: [0, min(ram, 3G)) and [4G, 4G + rest).
std::vector<RamRegion> plan_ram_regions(uint64_t ram_bytes);

// Fixed guest-physical addresses used while booting Linux (all inside the first 1 MiB).
namespace layout {
inline constexpr uint64_t kGdt = 0x500;
inline constexpr uint64_t kZeroPage = 0x7000;
inline constexpr uint64_t kBootStack = 0x8000;    // grows down, below the page tables
inline constexpr uint64_t kPageTables = 0x9000;   // PML4, PDPT, 4 PDs: 0x9000..0xEFFF
inline constexpr uint64_t kCommandLine = 0x20000;
inline constexpr uint64_t kCommandLineMax = 0x10000;
inline constexpr uint64_t kEbdaStart = 0x9FC00;   // the MP table lives here (Linux scans it)
inline constexpr uint64_t kBiosStart = 0xE0000;   // reserved: ACPI tables / BIOS area
inline constexpr uint64_t kHighMemory = 0x100000; // protected-mode kernel load address
}  // namespace layout

}  // namespace vmm
