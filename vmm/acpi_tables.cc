#include "vmm/acpi_tables.h"

#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "devices/acpi_pm.h"
#include "devices/pci/bar_allocator.h"
#include "devices/pci/pci_bus.h"
#include "vmm/aml.h"
#include "vmm/mp_table.h"

namespace vmm {
namespace {

constexpr char kOemId[] = "KVMM  ";        // 6 bytes
constexpr char kOemTableId[] = "BLOCKVMM";  // 8 bytes
constexpr uint32_t kCreatorRevision = 1;

// One table under construction; offsets are relative to its start.
class Table {
 public:
  // Standard 36-byte System Description Table header; length and checksum are fixed in finish().
  Table(std::string_view signature, uint8_t revision) {
    text(signature, 4);
    u32(0);
    u8(revision);
    u8(0);
    text(kOemId, 6);
    text(kOemTableId, 8);
    u32(1);          // OEM revision
    text("KVMM", 4); // creator ID
    u32(kCreatorRevision);
  }
  Table() = default;  // raw structure (the RSDP)

  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v) { append(&v, 2); }
  void u32(uint32_t v) { append(&v, 4); }
  void u64(uint64_t v) { append(&v, 8); }
  void text(std::string_view s, size_t width) {
    for (size_t i = 0; i < width; ++i) bytes_.push_back(i < s.size() ? s[i] : ' ');
  }
  void zeros(size_t n) { bytes_.insert(bytes_.end(), n, 0); }
  // Generic Address Structure for a system I/O register of `bytes` bytes, accessed in
  // `access_bytes` units (1, 2 or 4).
  void io_address(uint16_t port, uint8_t bytes, uint8_t access_bytes) {
    u8(1);  // system I/O space
    u8(static_cast<uint8_t>(bytes * 8));
    u8(0);  // bit offset
    u8(access_bytes == 4 ? 3 : access_bytes);  // access size: 1 byte, 2 word, 3 dword
    u64(port);
  }
  template <typename T>
  void put(size_t offset, T v) {
    std::memcpy(bytes_.data() + offset, &v, sizeof v);
  }
  size_t size() const { return bytes_.size(); }

  // Sets the length field and the checksum of a table with a standard header.
  std::vector<uint8_t> finish() {
    put<uint32_t>(4, static_cast<uint32_t>(bytes_.size()));
    bytes_[9] = 0;
    bytes_[9] = static_cast<uint8_t>(-byte_sum(bytes_.data(), bytes_.size()));
    return std::move(bytes_);
  }
  std::vector<uint8_t>& raw() { return bytes_; }

 private:
  void append(const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<uint8_t> bytes_;
};

uint64_t align16(uint64_t v) { return (v + 15) & ~uint64_t{15}; }
uint64_t align64(uint64_t v) { return (v + 63) & ~uint64_t{63}; }

// Device (NAME) { Name (_HID, EisaId (hid)) Name (_CRS, ResourceTemplate () { IO, IRQNoFlags }) }
aml::Bytes legacy_device(std::string_view name, std::string_view hid, uint16_t port,
                         uint8_t length, uint8_t alignment, unsigned irq) {
  return aml::device(
      name, aml::join({aml::name("_HID", aml::eisa_id(hid)),
                       aml::name("_CRS", aml::resource_template(
                                             {aml::res::io(port, port, alignment, length),
                                              aml::res::irq_no_flags(irq)}))}));
}

// The interrupt link device of one IOAPIC pin: "GS16" for GSI 16.
std::string link_name(unsigned gsi) {
  return "GS" + std::to_string(gsi / 10) + std::to_string(gsi % 10);
}

// A PCI interrupt link (PNP0C0F) fixed to one GSI. A _PRT entry that names a GSI directly is
// level triggered and active LOW by definition (ACPI 6.5 section 6.2.13); our lines are level
// triggered and active high (KVM_IRQ_LINE level 1 = asserted; the MP table says so too), which
// only a link's Interrupt descriptor can express. Exclusive: KVM_IRQ_LINE has one source per
// GSI, so the VMM never shares a pin. _SRS accepts the only setting _PRS offers.
aml::Bytes interrupt_link(unsigned gsi) {
  const aml::Bytes irq = aml::resource_template({aml::res::extended_interrupt(
      gsi, aml::res::Trigger::kLevel, aml::res::Polarity::kActiveHigh,
      aml::res::Sharing::kExclusive)});
  return aml::device(link_name(gsi),
                     aml::join({aml::name("_HID", aml::eisa_id("PNP0C0F")),
                                aml::name("_UID", aml::integer(gsi)), aml::name("_PRS", irq),
                                aml::name("_CRS", irq), aml::method("_SRS", 1, {})}));
}

// \_SB.PCI0: PCI bus 0 behind configuration mechanism #1 (PNP0A03: conventional PCI, no
// MMCONFIG). _CRS: the bus numbers, the configuration ports as consumed, and as windows the
// rest of the I/O space and the 32-bit MMIO window BarAllocator hands out BARs from.
aml::Bytes pci_host_bridge(const std::vector<MpPciInterrupt>& interrupts) {
  using namespace devices::pci;
  constexpr uint16_t kConfigEnd = kConfigIoPort + kConfigIoSize - 1;
  static_assert(kMmio32WindowEnd <= 0x1'0000'0000 && kMmio32WindowStart < kMmio32WindowEnd);
  const aml::Bytes crs = aml::resource_template({
      aml::res::word_bus_number(0, 0xFF),
      aml::res::io(kConfigIoPort, kConfigIoPort, 1, kConfigIoSize),
      aml::res::word_io(0x0000, kConfigIoPort - 1),
      aml::res::word_io(kConfigEnd + 1, 0xFFFF),
      aml::res::dword_memory(static_cast<uint32_t>(kMmio32WindowStart),
                             static_cast<uint32_t>(kMmio32WindowEnd - 1)),
  });
  // _PRT entries: { address (slot << 16 | 0xFFFF = any function), pin (0 = INTA#), source
  // (the link device), source index (0: the link has one interrupt) }.
  std::vector<aml::Bytes> routes;
  for (const MpPciInterrupt& i : interrupts) {
    routes.push_back(aml::package({aml::dword(uint32_t{i.slot} << 16 | 0xFFFF),
                                   aml::integer(i.pin),
                                   aml::name_string("\\_SB." + link_name(i.ioapic_pin)),
                                   aml::integer(0)}));
  }
  return aml::device(
      "PCI0", aml::join({aml::name("_HID", aml::eisa_id("PNP0A03")),
                         aml::name("_UID", aml::integer(0)), aml::name("_SEG", aml::integer(0)),
                         aml::name("_BBN", aml::integer(0)), aml::name("_ADR", aml::integer(0)),
                         aml::name("_CRS", crs), aml::name("_PRT", aml::package(routes))}));
}

// Name (_S5, ...) and Scope (\_SB) { COM1 (PNP0501, 0x3F8/8, IRQ 4), RTC (PNP0B00, 0x70/2,
// IRQ 8)[, PCI0 and one interrupt link per IOAPIC pin it routes to] }. _S5 is the only sleep
// state: {SLP_TYPa, SLP_TYPb, reserved, reserved}, the value devices::AcpiPm powers off on.
aml::Bytes dsdt_aml(const AcpiConfig& config) {
  using devices::AcpiPm;
  const aml::Bytes s5 = aml::name(
      "_S5", aml::package({aml::integer(AcpiPm::kS5SleepType), aml::integer(AcpiPm::kS5SleepType),
                           aml::integer(0), aml::integer(0)}));
  aml::Bytes terms = aml::join({legacy_device("COM1", "PNP0501", 0x3F8, 8, 8, 4),
                                legacy_device("RTC_", "PNP0B00", 0x70, 2, 1, 8)});
  if (config.pci) {
    // Pins 0-15 are ISA IRQs (edge, active high); a pin routed twice would not be Exclusive.
    std::set<unsigned> gsis;
    for (const MpPciInterrupt& i : config.pci_interrupts) {
      if (i.slot == 0 || i.slot >= devices::pci::kSlotsPerBus || i.pin > 3 ||
          i.ioapic_pin < 16 || i.ioapic_pin >= kIoApicPins || !gsis.insert(i.ioapic_pin).second) {
        throw std::invalid_argument("ACPI: bad PCI interrupt route");
      }
    }
    const aml::Bytes bridge = pci_host_bridge(config.pci_interrupts);
    terms.insert(terms.end(), bridge.begin(), bridge.end());
    for (unsigned gsi : gsis) {
      const aml::Bytes link = interrupt_link(gsi);
      terms.insert(terms.end(), link.begin(), link.end());
    }
  }
  return aml::join({s5, aml::scope("\\_SB", terms)});
}

std::vector<uint8_t> build_dsdt(const AcpiConfig& config) {
  Table t("DSDT", 2);
  for (uint8_t b : dsdt_aml(config)) t.u8(b);
  return t.finish();
}

// Copies a Generic Address Structure for an I/O register to `offset` of the FADT.
void put_io_address(Table& t, size_t offset, uint16_t port, uint8_t bytes, uint8_t access_bytes) {
  Table gas;
  gas.io_address(port, bytes, access_bytes);
  std::memcpy(t.raw().data() + offset, gas.raw().data(), gas.size());
}

// A full (not hardware-reduced) PC: SCI on ISA IRQ 9, the PM1a event and control blocks and the
// PM timer of devices::AcpiPm, each in both the 32-bit field and its X_ Generic Address
// Structure; no PM1b/PM2 blocks, no GPE blocks (no general-purpose events).
std::vector<uint8_t> build_fadt(uint64_t dsdt_address, uint64_t facs_address) {
  using devices::AcpiPm;
  using namespace acpi;
  Table t("FACP", 6);
  t.zeros(kFadtSize - kHeaderSize);
  // FIRMWARE_CTRL only: X_FIRMWARE_CTRL stays 0, so that ACPICA does not install the FACS twice.
  t.put<uint32_t>(36, static_cast<uint32_t>(facs_address));
  t.put<uint32_t>(40, static_cast<uint32_t>(dsdt_address));  // DSDT (32-bit)
  t.put<uint16_t>(kFadtSciInt, AcpiPm::kSciIrq);
  // SMI_CMD 0: no SMM to hand the hardware over, the machine is always in ACPI mode (ACPICA's
  // acpi_hw_get_mode() returns ACPI mode when SMI_CMD is 0, without reading SCI_EN).
  t.put<uint32_t>(kFadtSmiCmd, 0);
  t.put<uint32_t>(kFadtPm1aEvtBlk, AcpiPm::kEventBlock);
  t.put<uint32_t>(kFadtPm1aCntBlk, AcpiPm::kControlBlock);
  t.put<uint32_t>(kFadtPmTmrBlk, AcpiPm::kTimerBlock);
  t.put<uint8_t>(kFadtPm1EvtLen, AcpiPm::kEventBlockLength);
  t.put<uint8_t>(kFadtPm1CntLen, AcpiPm::kControlBlockLength);
  t.put<uint8_t>(kFadtPmTmrLen, AcpiPm::kTimerBlockLength);
  // No C2/C3 (latencies above 100 and 1000 us mean "not supported").
  t.put<uint16_t>(96, 101);
  t.put<uint16_t>(98, 1001);
  // IAPC_BOOT_ARCH: no VGA; no LEGACY_DEVICES/8042 bits, so Linux skips PS/2 probing (and
  // LEGACY_DEVICES would only enable PnP BIOS probing; the ISA IRQs come with the 8259 the MADT
  // announces). The CMOS RTC is present (bit 5 clear).
  t.put<uint16_t>(kFadtBootArch, kBootArchNoVga);
  // No fixed power/sleep buttons and no RTC wake status in PM1: nothing would ever raise them.
  t.put<uint32_t>(kFadtFlags, kFadtWbinvd | kFadtPwrButton | kFadtSlpButton | kFadtFixRtc |
                                  kFadtResetRegSupported);
  // RESET_REG: port 0xCF9, value 0x06 (RST_CPU | SYS_RST).
  put_io_address(t, 116, 0xCF9, 1, 1);
  t.put<uint8_t>(128, 0x06);
  t.put<uint8_t>(131, 5);                 // FADT minor version (6.5)
  t.put<uint64_t>(140, dsdt_address);     // X_DSDT
  // The status/enable and control registers are 16 bits wide, the timer 32.
  put_io_address(t, kFadtXPm1aEvtBlk, AcpiPm::kEventBlock, AcpiPm::kEventBlockLength, 2);
  put_io_address(t, kFadtXPm1aCntBlk, AcpiPm::kControlBlock, AcpiPm::kControlBlockLength, 2);
  put_io_address(t, kFadtXPmTmrBlk, AcpiPm::kTimerBlock, AcpiPm::kTimerBlockLength, 4);
  std::memcpy(t.raw().data() + 268, "KVMMKVMM", 8);  // hypervisor vendor identity
  return t.finish();
}

// Firmware ACPI Control Structure (ACPI 6.5 section 5.2.10), required without HW_REDUCED_ACPI:
// it holds the global lock (free: no firmware ever takes it) and the waking vector (none, no
// S1-S4). No checksum.
std::vector<uint8_t> build_facs() {
  Table t;
  t.text("FACS", 4);
  t.u32(acpi::kFacsSize);
  t.u32(0);  // hardware signature
  t.u32(0);  // firmware waking vector
  t.u32(0);  // global lock
  t.u32(0);  // flags: no S4BIOS, no 64-bit wake
  t.u64(0);  // X firmware waking vector
  t.u8(2);   // version
  t.zeros(3);
  t.u32(0);  // OSPM flags
  t.zeros(acpi::kFacsSize - t.size());
  return std::move(t.raw());
}

// Interrupt Source Override: ISA IRQ `irq` is GSI `gsi` with MPS INTI `flags`.
void interrupt_source_override(Table& t, uint8_t irq, uint32_t gsi, uint16_t flags) {
  t.u8(2);
  t.u8(10);
  t.u8(0);  // bus: ISA
  t.u8(irq);
  t.u32(gsi);
  t.u16(flags);
}

std::vector<uint8_t> build_madt(const AcpiConfig& config) {
  Table t("APIC", 5);
  t.u32(kLocalApicAddress);
  // PCAT_COMPAT: KVM's in-kernel 8259 pair exists (KVM_CREATE_IRQCHIP), so Linux keeps the 16
  // legacy IRQ numbers, and ISA IRQ n stays Linux IRQ n (ata_piix asks for 14 and 15).
  t.u32(acpi::kMadtPcatCompat);
  for (unsigned cpu = 0; cpu < config.cpus; ++cpu) {
    t.u8(0);   // processor local APIC
    t.u8(8);
    t.u8(static_cast<uint8_t>(cpu));  // ACPI processor UID
    t.u8(static_cast<uint8_t>(cpu));  // APIC ID
    t.u32(1);  // enabled
  }
  t.u8(1);  // I/O APIC
  t.u8(12);
  t.u8(config.ioapic_id);
  t.u8(0);
  t.u32(kIoApicAddress);
  t.u32(0);  // GSI base: ISA IRQ n = GSI n = pin n, KVM's default routing
  // Without an override ISA IRQ n is GSI n, edge, active high: the MP table's routing, IRQ 0
  // (the PIT, on pin 0 in KVM's default routing) included. Only the SCI differs from that, as
  // in the MP table: level, active high (without an override, an SCI is level active LOW).
  interrupt_source_override(t, devices::AcpiPm::kSciIrq, devices::AcpiPm::kSciIrq,
                            kMpInterruptLevelActiveHigh);
  t.u8(4);   // local APIC NMI: LINT1 on all processors
  t.u8(6);
  t.u8(0xFF);
  t.u16(0);
  t.u8(1);
  return t.finish();
}

}  // namespace

AcpiTables build_acpi_tables(const AcpiConfig& config, uint64_t base) {
  if (config.cpus == 0 || config.cpus > 254) throw std::invalid_argument("ACPI: bad CPU count");
  const uint64_t rsdp_at = base;
  const uint64_t dsdt_at = align16(rsdp_at + acpi::kRsdpSize);
  const std::vector<uint8_t> dsdt = build_dsdt(config);
  const uint64_t facs_at = align64(dsdt_at + dsdt.size());
  const std::vector<uint8_t> facs = build_facs();
  const uint64_t fadt_at = align16(facs_at + facs.size());
  const std::vector<uint8_t> fadt = build_fadt(dsdt_at, facs_at);
  const uint64_t madt_at = align16(fadt_at + fadt.size());
  const std::vector<uint8_t> madt = build_madt(config);
  const uint64_t xsdt_at = align16(madt_at + madt.size());
  Table xsdt("XSDT", 1);
  xsdt.u64(fadt_at);
  xsdt.u64(madt_at);
  const std::vector<uint8_t> xsdt_bytes = xsdt.finish();

  Table rsdp;
  rsdp.text("RSD PTR ", 8);
  rsdp.u8(0);  // checksum over the first 20 bytes
  rsdp.text(kOemId, 6);
  rsdp.u8(2);  // revision: ACPI 2.0+, use the XSDT
  rsdp.u32(0); // no RSDT
  rsdp.u32(acpi::kRsdpSize);
  rsdp.u64(xsdt_at);
  rsdp.u8(0);  // extended checksum over all 36 bytes
  rsdp.zeros(3);
  std::vector<uint8_t>& r = rsdp.raw();
  r[8] = static_cast<uint8_t>(-byte_sum(r.data(), 20));
  r[32] = static_cast<uint8_t>(-byte_sum(r.data(), acpi::kRsdpSize));

  AcpiTables out{rsdp_at, {}};
  auto place = [&](uint64_t at, const std::vector<uint8_t>& bytes) {
    out.bytes.resize(at - base, 0);
    out.bytes.insert(out.bytes.end(), bytes.begin(), bytes.end());
  };
  place(rsdp_at, r);
  place(dsdt_at, dsdt);
  place(facs_at, facs);
  place(fadt_at, fadt);
  place(madt_at, madt);
  place(xsdt_at, xsdt_bytes);
  return out;
}

}  // namespace vmm
