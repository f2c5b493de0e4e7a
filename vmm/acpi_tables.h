// ACPI tables for the guest (ACPI 6.x): RSDP -> XSDT -> {FADT -> DSDT, MADT}. The platform is
// described as "hardware-reduced" (no fixed-feature PM hardware, no legacy PIC/PIT use), the
// way small VMMs describe themselves; interrupts go through the IOAPIC and the LAPIC timer.
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
inline constexpr size_t kFadtSize = 276;
inline constexpr size_t kFadtFlags = 112;
inline constexpr size_t kFadtBootArch = 109;
inline constexpr uint32_t kFadtHwReduced = 1u << 20;
inline constexpr uint32_t kFadtResetRegSupported = 1u << 10;
inline constexpr uint16_t kBootArchNoVga = 1u << 2;
}  // namespace acpi

// Lays the tables out contiguously from guest address `base` (16-byte aligned, below 1 MiB so
// that the guest may also find the RSDP by scanning 0xE0000..0xFFFFF).
AcpiTables build_acpi_tables(const AcpiConfig& config, uint64_t base);

}  // namespace vmm
