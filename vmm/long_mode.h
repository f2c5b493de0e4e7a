// The CPU state the 64-bit Linux boot protocol expects: long mode, paging with the low 4 GiB
// identity mapped, flat 64-bit code and data segments.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "vmm/guest_memory.h"

namespace vmm {

inline constexpr uint16_t kBootCodeSelector = 0x10;
inline constexpr uint16_t kBootDataSelector = 0x18;
inline constexpr uint16_t kBootTssSelector = 0x20;

// Writes PML4/PDPT/PDs (2 MiB pages covering 0..4 GiB) and the GDT. Returns CR3.
uint64_t write_long_mode_tables(const GuestMemory& memory);

// Fills segment, control and EFER registers of `sregs` for 64-bit mode with page tables at `cr3`.
void set_long_mode_sregs(kvm_sregs& sregs, uint64_t cr3);

}  // namespace vmm
