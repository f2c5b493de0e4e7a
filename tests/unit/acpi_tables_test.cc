#include "vmm/acpi_tables.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "devices/acpi_pm.h"
#include "devices/pci/bar_allocator.h"
#include "vmm/aml.h"
#include "vmm/mp_table.h"

namespace vmm {
namespace {

constexpr uint64_t kBase = 0xE0000;
constexpr size_t kS5Size = 14;  // Name (_S5, ...) precedes Scope (\_SB) in the DSDT

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
  // So does the FACS (FIRMWARE_CTRL; it has no checksum and its length at the same place).
  uint32_t facs;
  std::memcpy(&facs, fadt.data() + 36, 4);
  const uint8_t* f = t.bytes.data() + (facs - kBase);
  tables["FACS"] = std::vector<uint8_t>(f, f + get<uint32_t>(t.bytes, facs + 4));
  return tables;
}

template <typename T>
T field(const std::vector<uint8_t>& table, size_t offset) {
  T v;
  std::memcpy(&v, table.data() + offset, sizeof v);
  return v;
}

// Checks the Generic Address Structure at `offset`: system I/O `port`, `bytes` wide, accessed
// in `access` units (ACPI access size code).
void expect_io_gas(const std::vector<uint8_t>& fadt, size_t offset, uint16_t port,
                   uint8_t bytes, uint8_t access) {
  EXPECT_EQ(fadt[offset], 1) << offset;  // system I/O
  EXPECT_EQ(fadt[offset + 1], bytes * 8) << offset;
  EXPECT_EQ(fadt[offset + 2], 0) << offset;
  EXPECT_EQ(fadt[offset + 3], access) << offset;
  EXPECT_EQ(field<uint64_t>(fadt, offset + 4), port) << offset;
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

TEST(AcpiTables, FadtIsAFullPcWithResetRegister) {
  const auto fadt = walk(build_acpi_tables({1, 1}, kBase)).at("FACP");
  ASSERT_EQ(fadt.size(), acpi::kFadtSize);
  EXPECT_EQ(fadt[8], 6);  // revision
  uint32_t flags;
  std::memcpy(&flags, fadt.data() + acpi::kFadtFlags, 4);
  EXPECT_FALSE(flags & acpi::kFadtHwReduced);
  EXPECT_FALSE(flags & acpi::kFadtTmrValExt);  // the PM timer has 24 bits
  EXPECT_TRUE(flags & acpi::kFadtWbinvd);
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

TEST(AcpiTables, FadtPointsAtThePmRegisters) {
  using devices::AcpiPm;
  const auto fadt = walk(build_acpi_tables({1, 1}, kBase)).at("FACP");
  EXPECT_EQ(field<uint16_t>(fadt, acpi::kFadtSciInt), 9);
  EXPECT_EQ(field<uint32_t>(fadt, acpi::kFadtSmiCmd), 0u);  // always in ACPI mode
  EXPECT_EQ(field<uint32_t>(fadt, acpi::kFadtPm1aEvtBlk), 0x600u);
  EXPECT_EQ(field<uint32_t>(fadt, acpi::kFadtPm1aCntBlk), 0x604u);
  EXPECT_EQ(field<uint32_t>(fadt, acpi::kFadtPmTmrBlk), 0x608u);
  EXPECT_EQ(fadt[acpi::kFadtPm1EvtLen], 4);
  EXPECT_EQ(fadt[acpi::kFadtPm1CntLen], 2);
  EXPECT_EQ(fadt[acpi::kFadtPmTmrLen], 4);
  EXPECT_EQ(field<uint32_t>(fadt, acpi::kFadtGpe0Blk), 0u);
  EXPECT_EQ(fadt[acpi::kFadtGpe0BlkLen], 0);
  for (size_t b : {60, 68, 72, 84}) EXPECT_EQ(field<uint32_t>(fadt, b), 0u) << b;  // PM1b, PM2, GPE1
  expect_io_gas(fadt, acpi::kFadtXPm1aEvtBlk, AcpiPm::kEventBlock, 4, 2);
  expect_io_gas(fadt, acpi::kFadtXPm1aCntBlk, AcpiPm::kControlBlock, 2, 2);
  expect_io_gas(fadt, acpi::kFadtXPmTmrBlk, AcpiPm::kTimerBlock, 4, 3);
  for (size_t x : {160, 184, 196, 220, 232}) EXPECT_EQ(fadt[x], 0) << x;  // absent X_ blocks
  // The device's range holds all three blocks.
  EXPECT_EQ(AcpiPm::kEventBlock, AcpiPm::kBase);
  EXPECT_LE(AcpiPm::kTimerBlock + AcpiPm::kTimerBlockLength, AcpiPm::kBase + AcpiPm::kSize);
}

TEST(AcpiTables, FacsIsAlignedAndPresent) {
  const AcpiTables t = build_acpi_tables({2, 2}, kBase);
  const auto tables = walk(t);
  const auto& fadt = tables.at("FACP");
  const uint32_t facs_at = field<uint32_t>(fadt, 36);
  EXPECT_EQ(facs_at % 64, 0u);
  EXPECT_EQ(field<uint64_t>(fadt, 132), 0u);  // X_FIRMWARE_CTRL unused
  const auto& facs = tables.at("FACS");
  ASSERT_EQ(facs.size(), acpi::kFacsSize);
  EXPECT_EQ(std::memcmp(facs.data(), "FACS", 4), 0);
  EXPECT_EQ(field<uint32_t>(facs, 16), 0u);  // global lock free
  EXPECT_EQ(facs[32], 2);                    // version
}

TEST(AcpiTables, MadtListsCpusIoApicSciOverrideAndNmi) {
  const unsigned cpus = 3;
  const auto madt = walk(build_acpi_tables({cpus, 3}, kBase)).at("APIC");
  uint32_t lapic;
  std::memcpy(&lapic, madt.data() + 36, 4);
  EXPECT_EQ(lapic, kLocalApicAddress);
  EXPECT_EQ(field<uint32_t>(madt, 40), 1u);  // PCAT_COMPAT: the 8259s exist
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
  // Interrupt Source Override: ISA IRQ 9 (SCI) -> GSI 9, level, active high.
  EXPECT_EQ(madt[at], 2);
  EXPECT_EQ(madt[at + 1], 10);
  EXPECT_EQ(madt[at + 2], 0);  // ISA
  EXPECT_EQ(madt[at + 3], 9);
  EXPECT_EQ(field<uint32_t>(madt, at + 4), 9u);
  EXPECT_EQ(field<uint16_t>(madt, at + 8), 0x0D);
  at += 10;
  EXPECT_EQ(madt[at], 4);      // local APIC NMI
  EXPECT_EQ(madt[at + 2], 0xFF);
  EXPECT_EQ(madt[at + 5], 1);  // LINT1
  EXPECT_EQ(at + 6, madt.size());
}

// ISA IRQ -> {GSI, MPS INTI flags}, as each table says.
using IsaRouting = std::map<unsigned, std::pair<uint32_t, uint16_t>>;

IsaRouting madt_isa_routing(const std::vector<uint8_t>& madt) {
  IsaRouting r;
  for (unsigned irq = 0; irq < 16; ++irq) r[irq] = {irq, 0};  // without overrides: identity
  for (size_t at = 44; at < madt.size(); at += madt[at + 1]) {
    if (madt[at] == 2 && madt[at + 2] == 0) {
      r[madt[at + 3]] = {field<uint32_t>(madt, at + 4), field<uint16_t>(madt, at + 8)};
    }
  }
  return r;
}

IsaRouting mp_isa_routing(const std::vector<uint8_t>& mp) {
  constexpr size_t kHeader = 16;
  const uint16_t count = field<uint16_t>(mp, kHeader + 34);
  int isa_bus = -1;
  IsaRouting r;
  size_t at = kHeader + 44;
  for (unsigned i = 0; i < count; ++i) {
    const uint8_t type = mp[at];
    if (type == 1 && std::memcmp(&mp[at + 2], "ISA", 3) == 0) isa_bus = mp[at + 1];
    if (type == 3 && mp[at + 4] == isa_bus) {
      r[mp[at + 5]] = {mp[at + 7], field<uint16_t>(mp, at + 2)};
    }
    at += type == 0 ? 20 : 8;
  }
  return r;
}

TEST(AcpiTables, MadtIsaRoutingIsTheMpTables) {
  for (bool pci : {false, true}) {
    MpTableConfig mp_config{2, 0, 0};
    mp_config.pci = pci;
    AcpiConfig acpi_config{2, mp_ioapic_id(2)};
    acpi_config.pci = pci;
    const auto madt = walk(build_acpi_tables(acpi_config, kBase)).at("APIC");
    const IsaRouting mp = mp_isa_routing(build_mp_table(mp_config, 0x9FC00));
    ASSERT_EQ(mp.size(), 16u);
    EXPECT_EQ(madt_isa_routing(madt), mp) << "pci " << pci;
    EXPECT_EQ(mp.at(0), (std::pair<uint32_t, uint16_t>{0, 0}));  // the PIT: pin 0, as in KVM
    EXPECT_EQ(mp.at(devices::AcpiPm::kSciIrq), (std::pair<uint32_t, uint16_t>{9, 0x0D}));
  }
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
  const size_t scope = 36 + kS5Size;
  ASSERT_EQ(dsdt[scope], 0x10);
  ASSERT_EQ(dsdt[scope + 1] >> 6, 1);
  const size_t pkg_length = (dsdt[scope + 1] & 0x0F) | (size_t{dsdt[scope + 2]} << 4);
  EXPECT_EQ(scope + 1u + pkg_length, dsdt.size());
}

TEST(AcpiTables, DsdtNamesS5AtRootScope) {
  for (bool pci : {false, true}) {
    AcpiConfig config{1, 1};
    config.pci = pci;
    const auto dsdt = walk(build_acpi_tables(config, kBase)).at("DSDT");
    // Name (_S5, Package (4) { 7, 7, Zero, Zero }) first, before Scope (\_SB).
    const uint8_t t = devices::AcpiPm::kS5SleepType;
    const std::vector<uint8_t> s5 = {0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                                     0x0A, t,   0x0A, t,  0x00, 0x00};
    ASSERT_EQ(s5.size(), kS5Size);
    EXPECT_TRUE(std::equal(s5.begin(), s5.end(), dsdt.begin() + 36));
  }
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
  const size_t scope = 36 + kS5Size;
  ASSERT_EQ(dsdt[scope], 0x10);
  EXPECT_EQ(scope + 1u + pkg_length_at(dsdt, scope + 1).first, dsdt.size());
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
