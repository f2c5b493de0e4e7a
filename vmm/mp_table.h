// Intel MultiProcessor Specification 1.4 tables: tell Linux how many CPUs exist, where the
// IOAPIC is and how ISA IRQs reach it. Linux finds the floating pointer by scanning the last KiB
// of base memory (we put it at the EBDA start, 0x9FC00).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmm {

inline constexpr uint32_t kLocalApicAddress = 0xFEE00000;
inline constexpr uint32_t kIoApicAddress = 0xFEC00000;
inline constexpr unsigned kIoApicPins = 24;
// Interrupt flags (MPS "INTI" encoding, which the MADT's Interrupt Source Override reuses):
// bits 0-1 polarity, 2-3 trigger; 0 = the bus's default (ISA: edge, active high).
inline constexpr uint16_t kMpInterruptLevelActiveHigh = 0x0D;

// One PCI function's INTx pin wired to an IOAPIC pin (level triggered, active high, as KVM's
// KVM_IRQ_LINE drives it).
struct MpPciInterrupt {
  uint8_t slot = 0;
  uint8_t pin = 0;  // 0 = INTA# .. 3 = INTD#
  uint8_t ioapic_pin = 0;
};

struct MpTableConfig {
  unsigned cpus = 1;
  uint32_t cpu_signature = 0;  // CPUID.1:EAX
  uint32_t cpu_features = 0;   // CPUID.1:EDX
  // With PCI: a PCI bus entry (bus ID 0 = PCI bus 0, so ISA becomes bus ID 1) and one I/O
  // interrupt entry per element of pci_interrupts.
  bool pci = false;
  std::vector<MpPciInterrupt> pci_interrupts;
};

// The IOAPIC's APIC ID: the first one after the CPUs' IDs 0..cpus-1.
inline uint8_t mp_ioapic_id(unsigned cpus) { return static_cast<uint8_t>(cpus); }

// Returns the bytes to place at guest address `address`: the floating pointer followed by the
// configuration table (whose address it points to).
std::vector<uint8_t> build_mp_table(const MpTableConfig& config, uint32_t address);

// Sum of all bytes mod 256 (valid MP/ACPI structures sum to 0).
uint8_t byte_sum(const uint8_t* data, size_t size);

}  // namespace vmm
