#include "vmm/acpi_tables.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "devices/pci/bar_allocator.h"
#include "vmm/aml.h"
#include "vmm/mp_table.h"

namespace vmm {
namespace {

constexpr uint64_t kBase = 0xE0000;

template <typename T>
T get(const std::vector<uint8_t>& b, uint64_t guest_address) {
  T v;
  std::memcpy(&v, b.data() + (guest_address - kBase), sizeof v);
  return v;
}

// Follows RSDP -> XSDT -> tables and returns each table's bytes by signature.
std::map<std::string, std::vector<uint8_t>> walk(const AcpiTables& t) {
  std::map<std::string, std::vector<uint8_t>> tables;
  const uint64_t xsdt = get<uint64_t>(t.bytes, t.rsdp_address + 24);
  std::vector<uint64_t> addresses = {xsdt};
  const uint32_t xsdt_len = get<uint32_t>(t.bytes, xsdt + 4);
  for (uint64_t at = xsdt + 36; at < xsdt + xsdt_len; at += 8) {
    addresses.push_back(get<uint64_t>(t.bytes, at));
  }
  for (uint64_t a : addresses) {
    const uint32_t len = get<uint32_t>(t.bytes, a + 4);
    const uint8_t* p = t.bytes.data() + (a - kBase);
    tables[std::string(reinterpret_cast<const char*>(p), 4)] = std::vector<uint8_t>(p, p + len);
  }
  // The DSDT hangs off the FADT.
  const auto& fadt = tables.at("FACP");
  uint64_t dsdt;
  std::memcpy(&dsdt, fadt.data() + 140, 8);
  const uint32_t len = get<uint32_t>(t.bytes, dsdt + 4);
  const uint8_t* p = t.bytes.data() + (dsdt - kBase);
  tables["DSDT"] = std::vector<uint8_t>(p, p + len);
  return tables;
}

TEST(AcpiTables, RsdpIsValid) {
  const AcpiTables t = build_acpi_tables({2, 2}, kBase);
  EXPECT_EQ(t.rsdp_address, kBase);
  EXPECT_EQ(std::memcmp(t.bytes.data(), "RSD PTR ", 8), 0);
  EXPECT_EQ(byte_sum(t.bytes.data(), 20), 0);
  EXPECT_EQ(byte_sum(t.bytes.data(), 36), 0);
  EXPECT_EQ(t.bytes[15], 2);                          // revision: XSDT present
  EXPECT_EQ(get<uint32_t>(t.bytes, kBase + 20), 36u);  // length
  EXPECT_EQ(get<uint64_t>(t.bytes, kBase + 24) % 8, 0u);
  EXPECT_LE(kBase + t.bytes.size(), 0x100000u);  // stays in the BIOS area below 1 MiB
}

TEST(AcpiTables, EveryTableHasAValidChecksumAndAlignment) {
  const auto tables = walk(build_acpi_tables({4, 4}, kBase));
  for (const char* sig : {"XSDT", "FACP", "APIC", "DSDT"}) {
    ASSERT_TRUE(tables.count(sig)) << sig;
    const auto& t = tables.at(sig);
    EXPECT_EQ(byte_sum(t.data(), t.size()), 0) << sig;
    EXPECT_EQ(std::memcmp(t.data() + 10, "KVMM  ", 6), 0) << sig;
  }
}

TEST(AcpiTables, FadtIsHardwareReducedWithResetRegister) {
  const auto fadt = walk(build_acpi_tables({1, 1}, kBase)).at("FACP");
  ASSERT_EQ(fadt.size(), acpi::kFadtSize);
  EXPECT_EQ(fadt[8], 6);  // revision
  uint32_t flags;
  std::memcpy(&flags, fadt.data() + acpi::kFadtFlags, 4);
  EXPECT_TRUE(flags & acpi::kFadtHwReduced);
  EXPECT_TRUE(flags & acpi::kFadtResetRegSupported);
  uint16_t boot_arch;
  std::memcpy(&boot_arch, fadt.data() + acpi::kFadtBootArch, 2);
  EXPECT_EQ(boot_arch & 0x3, 0);     // no legacy devices, no 8042
  EXPECT_EQ(boot_arch & 0x20, 0);    // CMOS RTC present
  EXPECT_EQ(fadt[116], 1);           // reset register in system I/O space
  uint64_t reset_port;
  std::memcpy(&reset_port, fadt.data() + 120, 8);
  EXPECT_EQ(reset_port, 0xCF9u);
  EXPECT_EQ(fadt[128], 0x06);
}

TEST(AcpiTables, MadtListsCpusIoApicAndNmi) {
  const unsigned cpus = 3;
  const auto madt = walk(build_acpi_tables({cpus, 3}, kBase)).at("APIC");
  uint32_t lapic;
  std::memcpy(&lapic, madt.data() + 36, 4);
  EXPECT_EQ(lapic, kLocalApicAddress);
  size_t at = 44;
  for (unsigned cpu = 0; cpu < cpus; ++cpu, at += 8) {
    EXPECT_EQ(madt[at], 0);
    EXPECT_EQ(madt[at + 1], 8);
    EXPECT_EQ(madt[at + 3], cpu);  // APIC ID
    EXPECT_EQ(madt[at + 4] & 1, 1);
  }
  EXPECT_EQ(madt[at], 1);  // IOAPIC
  EXPECT_EQ(madt[at + 2], 3);
  uint32_t ioapic, gsi_base;
  std::memcpy(&ioapic, madt.data() + at + 4, 4);
  std::memcpy(&gsi_base, madt.data() + at + 8, 4);
  EXPECT_EQ(ioapic, kIoApicAddress);
  EXPECT_EQ(gsi_base, 0u);
  at += 12;
  EXPECT_EQ(madt[at], 4);      // local APIC NMI
  EXPECT_EQ(madt[at + 2], 0xFF);
  EXPECT_EQ(madt[at + 5], 1);  // LINT1
  EXPECT_EQ(at + 6, madt.size());
}

bool contains(const std::vector<uint8_t>& haystack, const std::vector<uint8_t>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

TEST(AcpiTables, DsdtDescribesCom1AndRtcWithTheirIrqs) {
  const auto dsdt = walk(build_acpi_tables({1, 1}, kBase)).at("DSDT");
  // _HID EisaId("PNP0501") / ("PNP0B00") as DWordConst.
  EXPECT_TRUE(contains(dsdt, {'_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01}));
  EXPECT_TRUE(contains(dsdt, {'_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0B, 0x00}));
  // IO 0x3F8 length 8 + IRQ 4; IO 0x70 length 2 + IRQ 8.
  EXPECT_TRUE(contains(dsdt, {0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x08, 0x08, 0x22, 0x10, 0x00}));
  EXPECT_TRUE(contains(dsdt, {0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02, 0x22, 0x00, 0x01}));
  // The scope's two-byte PkgLength covers exactly the rest of the table.
  ASSERT_EQ(dsdt[36], 0x10);
  ASSERT_EQ(dsdt[37] >> 6, 1);
  const size_t pkg_length = (dsdt[37] & 0x0F) | (size_t{dsdt[38]} << 4);
  EXPECT_EQ(36u + 1u + pkg_length, dsdt.size());
}

// Two virtio functions and AHCI, as vmm/drives.cc wires them: slot n, INTA#, GSI 15 + n.
AcpiConfig with_pci(unsigned cpus) {
  AcpiConfig c{cpus, static_cast<uint8_t>(cpus)};
  c.pci = true;
  c.pci_interrupts = {{1, 0, 16}, {2, 0, 17}, {3, 0, 18}};
  return c;
}

// PkgLength at `at` (ACPI 6.5 section 20.2.4): {value, bytes it takes}.
std::pair<size_t, size_t> pkg_length_at(const std::vector<uint8_t>& b, size_t at) {
  const unsigned follow = b[at] >> 6;
  if (follow == 0) return {b[at] & 0x3F, 1};
  size_t v = b[at] & 0x0F;
  for (unsigned i = 0; i < follow; ++i) v |= size_t{b[at + 1 + i]} << (4 + 8 * i);
  return {v, 1 + follow};
}

TEST(AcpiTables, DsdtHasNoPciHostBridgeWithoutPci) {
  const auto dsdt = walk(build_acpi_tables({1, 1}, kBase)).at("DSDT");
  EXPECT_FALSE(contains(dsdt, {'P', 'C', 'I', '0'}));
  EXPECT_FALSE(contains(dsdt, {0x41, 0xD0, 0x0A, 0x03}));
}

TEST(AcpiTables, DsdtDescribesPciHostBridge) {
  const auto dsdt = walk(build_acpi_tables(with_pci(2), kBase)).at("DSDT");
  EXPECT_EQ(byte_sum(dsdt.data(), dsdt.size()), 0);
  // Device (PCI0) { Name (_HID, EisaId ("PNP0A03")) Name (_UID, Zero) Name (_SEG, Zero)
  // Name (_BBN, Zero) Name (_ADR, Zero) ... }
  EXPECT_TRUE(contains(dsdt, {'P', 'C', 'I', '0', 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0,
                              0x0A, 0x03, 0x08, '_', 'U', 'I', 'D', 0x00, 0x08, '_', 'S', 'E',
                              'G', 0x00, 0x08, '_', 'B', 'B', 'N', 0x00, 0x08, '_', 'A', 'D',
                              'R', 0x00, 0x08, '_', 'C', 'R', 'S', 0x11}));
  // Bus numbers 0-255; config ports consumed; I/O windows around them.
  EXPECT_TRUE(contains(dsdt, {0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0, 0, 0, 0, 0xFF, 0}));
  EXPECT_TRUE(contains(dsdt, {0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08}));
  EXPECT_TRUE(contains(dsdt, {0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0, 0, 0xF7, 0x0C}));
  EXPECT_TRUE(contains(dsdt, {0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0x00, 0x0D, 0xFF, 0xFF}));
  // The memory window is BarAllocator's.
  EXPECT_TRUE(contains(dsdt, aml::res::dword_memory(
                                 static_cast<uint32_t>(devices::pci::kMmio32WindowStart),
                                 static_cast<uint32_t>(devices::pci::kMmio32WindowEnd - 1))));
  // The Scope's PkgLength covers exactly the rest of the table.
  ASSERT_EQ(dsdt[36], 0x10);
  EXPECT_EQ(36u + 1u + pkg_length_at(dsdt, 37).first, dsdt.size());
}

TEST(AcpiTables, PrtRoutesEachWiredPinThroughAnActiveHighLevelLink) {
  const AcpiConfig config = with_pci(1);
  const auto dsdt = walk(build_acpi_tables(config, kBase)).at("DSDT");
  // Name (_PRT, Package (3) { ... })
  const std::vector<uint8_t> prt = {0x08, '_', 'P', 'R', 'T', 0x12};
  const auto at = std::search(dsdt.begin(), dsdt.end(), prt.begin(), prt.end());
  ASSERT_NE(at, dsdt.end());
  const size_t pkg = static_cast<size_t>(at - dsdt.begin()) + prt.size();
  const size_t count_at = pkg + pkg_length_at(dsdt, pkg).second;
  EXPECT_EQ(dsdt[count_at], config.pci_interrupts.size());
  for (const MpPciInterrupt& i : config.pci_interrupts) {
    const uint8_t d0 = static_cast<uint8_t>('0' + i.ioapic_pin / 10);
    const uint8_t d1 = static_cast<uint8_t>('0' + i.ioapic_pin % 10);
    // Package (4) { 0x000nFFFF, Zero (INTA#), \_SB.GSnn, Zero }
    EXPECT_TRUE(contains(dsdt, {0x12, 0x13, 0x04, 0x0C, 0xFF, 0xFF, i.slot, 0x00, 0x00, 0x5C,
                                0x2E, '_', 'S', 'B', '_', 'G', 'S', d0, d1, 0x00}))
        << int{i.slot};
    // Device (GSnn) { _HID PNP0C0F, _UID nn, _PRS/_CRS Interrupt (ResourceConsumer, Level,
    // ActiveHigh, Exclusive) { nn }, Method (_SRS, 1) {} }
    EXPECT_TRUE(contains(dsdt, {'G', 'S', d0, d1, 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0,
                                0x0C, 0x0F, 0x08, '_', 'U', 'I', 'D', 0x0A, i.ioapic_pin}));
    const std::vector<uint8_t> irq = {0x89, 0x06, 0x00, 0x01, 0x01, i.ioapic_pin, 0, 0, 0};
    for (const char* obj : {"_PRS", "_CRS"}) {
      std::vector<uint8_t> named = {0x08, uint8_t(obj[0]), uint8_t(obj[1]), uint8_t(obj[2]),
                                    uint8_t(obj[3]), 0x11, 0x0E, 0x0A, 0x0B};
      named.insert(named.end(), irq.begin(), irq.end());
      named.insert(named.end(), {0x79, 0x00});
      EXPECT_TRUE(contains(dsdt, named)) << obj << " of GSI " << int{i.ioapic_pin};
    }
  }
  EXPECT_TRUE(contains(dsdt, {0x14, 0x06, '_', 'S', 'R', 'S', 0x01}));
}

TEST(AcpiTables, PciWithoutInterruptsHasAnEmptyPrt) {
  AcpiConfig config{1, 1};
  config.pci = true;
  const auto dsdt = walk(build_acpi_tables(config, kBase)).at("DSDT");
  EXPECT_TRUE(contains(dsdt, {0x08, '_', 'P', 'R', 'T', 0x12, 0x02, 0x00}));
  EXPECT_FALSE(contains(dsdt, {0x41, 0xD0, 0x0C, 0x0F}));  // no link devices
}

TEST(AcpiTables, RejectsBadPciRoutes) {
  // Slot 0 is the host bridge; slots, pins and IOAPIC pins out of range; ISA IRQ 11; a GSI
  // routed twice (KVM_IRQ_LINE has one source per GSI, and the links say Exclusive).
  for (std::vector<MpPciInterrupt> bad : std::vector<std::vector<MpPciInterrupt>>{
           {{0, 0, 16}}, {{32, 0, 16}}, {{1, 4, 16}}, {{1, 0, 24}}, {{1, 0, 11}},
           {{1, 0, 16}, {2, 0, 16}}}) {
    AcpiConfig config{1, 1};
    config.pci = true;
    config.pci_interrupts = bad;
    EXPECT_THROW(build_acpi_tables(config, kBase), std::invalid_argument);
  }
}

TEST(AcpiTables, RejectsBadCpuCounts) {
  EXPECT_THROW(build_acpi_tables({0, 0}, kBase), std::invalid_argument);
}

}  // namespace
}  // namespace vmm
