// ACPI tables for the guest (ACPI 6.x): RSDP -> XSDT -> {FADT -> {DSDT, FACS}, MADT}. The
// platform is a full ACPI PC, not "hardware-reduced": the FADT points at the fixed-feature PM
// registers of devices::AcpiPm (PM1a event/control blocks, PM timer, SCI on ISA IRQ 9, never
// raised), the DSDT's \_S5 powers off through PM1_CNT, and the MADT announces the 8259 pair
// KVM emulates (PCAT_COMPAT). So Linux keeps ISA IRQ n = Linux IRQ n, which the legacy-mode
// PIIX IDE needs (it requests IRQ 14/15 by number). The MADT's ISA routing is the MP table's:
// IRQ n on IOAPIC pin n, edge/active high, except the SCI (level, active high) in both.
// The MP table stays as well, for guests booted with acpi=off or without ACPI support.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm/mp_table.h"

namespace vmm {

struct AcpiConfig {
  unsigned cpus = 1;
  uint8_t ioapic_id = 0;
  // With PCI: the DSDT gets a host bridge \_SB.PCI0 for bus 0 (configuration mechanism #1, the
  // 32-bit MMIO window of devices/pci) whose _PRT routes each element of pci_interrupts to its
  // IOAPIC pin, level triggered and active high. The same list the MP table gets, so that
  // both tables always describe the same wiring.
  bool pci = false;
  std::vector<MpPciInterrupt> pci_interrupts;
};

struct AcpiTables {
  uint64_t rsdp_address;       // what the guest is told (boot_params.acpi_rsdp_addr)
  std::vector<uint8_t> bytes;  // to be placed at `base`
};

namespace acpi {
inline constexpr size_t kHeaderSize = 36;
inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFacsSize = 64;
inline constexpr size_t kFadtSize = 276;
// FADT field offsets (ACPI 6.5 table 5.9).
inline constexpr size_t kFadtSciInt = 46;
inline constexpr size_t kFadtSmiCmd = 48;
inline constexpr size_t kFadtPm1aEvtBlk = 56;
inline constexpr size_t kFadtPm1aCntBlk = 64;
inline constexpr size_t kFadtPmTmrBlk = 76;
inline constexpr size_t kFadtGpe0Blk = 80;
inline constexpr size_t kFadtPm1EvtLen = 88;
inline constexpr size_t kFadtPm1CntLen = 89;
inline constexpr size_t kFadtPmTmrLen = 91;
inline constexpr size_t kFadtGpe0BlkLen = 92;
inline constexpr size_t kFadtFlags = 112;
inline constexpr size_t kFadtBootArch = 109;
inline constexpr size_t kFadtXPm1aEvtBlk = 148;
inline constexpr size_t kFadtXPm1aCntBlk = 172;
inline constexpr size_t kFadtXPmTmrBlk = 208;
// FADT flags.
inline constexpr uint32_t kFadtWbinvd = 1u << 0;
inline constexpr uint32_t kFadtPwrButton = 1u << 4;  // no fixed power button
inline constexpr uint32_t kFadtSlpButton = 1u << 5;  // no fixed sleep button
inline constexpr uint32_t kFadtFixRtc = 1u << 6;     // no RTC_STS in PM1
inline constexpr uint32_t kFadtTmrValExt = 1u << 8;  // 32-bit PM timer (ours has 24 bits)
inline constexpr uint32_t kFadtResetRegSupported = 1u << 10;
inline constexpr uint32_t kFadtHwReduced = 1u << 20;
inline constexpr uint16_t kBootArchNoVga = 1u << 2;
inline constexpr uint32_t kMadtPcatCompat = 1u << 0;
}  // namespace acpi

// Lays the tables out contiguously from guest address `base` (16-byte aligned, below 1 MiB so
// that the guest may also find the RSDP by scanning 0xE0000..0xFFFFF).
AcpiTables build_acpi_tables(const AcpiConfig& config, uint64_t base);

}  // namespace vmm
