#include "vmm/acpi_tables.h"

#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

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
  // Generic Address Structure for a system I/O port.
  void io_address(uint16_t port, uint8_t bit_width) {
    u8(1);  // system I/O space
    u8(bit_width);
    u8(0);  // bit offset
    u8(1);  // access size: byte
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

// Scope (\_SB) { COM1 (PNP0501, 0x3F8/8, IRQ 4), RTC (PNP0B00, 0x70/2, IRQ 8)[, PCI0 and one
// interrupt link per IOAPIC pin it routes to] }. On a hardware-reduced machine Linux has no
// legacy ISA IRQs, so devices that interrupt must be described here for their IRQs to be
// routed through the IOAPIC.
aml::Bytes dsdt_aml(const AcpiConfig& config) {
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
  return aml::scope("\\_SB", terms);
}

std::vector<uint8_t> build_dsdt(const AcpiConfig& config) {
  Table t("DSDT", 2);
  for (uint8_t b : dsdt_aml(config)) t.u8(b);
  return t.finish();
}

std::vector<uint8_t> build_fadt(uint64_t dsdt_address) {
  Table t("FACP", 6);
  t.zeros(acpi::kFadtSize - acpi::kHeaderSize);
  t.put<uint32_t>(40, static_cast<uint32_t>(dsdt_address));  // DSDT (32-bit)
  // IAPC_BOOT_ARCH: no VGA; no LEGACY_DEVICES/8042 bits, so Linux skips PS/2 probing. The CMOS
  // RTC is present (bit 5 clear).
  t.put<uint16_t>(acpi::kFadtBootArch, acpi::kBootArchNoVga);
  t.put<uint32_t>(acpi::kFadtFlags, acpi::kFadtHwReduced | acpi::kFadtResetRegSupported);
  // RESET_REG: port 0xCF9, value 0x06 (RST_CPU | SYS_RST).
  Table reset;
  reset.io_address(0xCF9, 8);
  std::memcpy(t.raw().data() + 116, reset.raw().data(), 12);
  t.put<uint8_t>(128, 0x06);
  t.put<uint8_t>(131, 5);                 // FADT minor version (6.5)
  t.put<uint64_t>(140, dsdt_address);     // X_DSDT
  std::memcpy(t.raw().data() + 268, "KVMMKVMM", 8);  // hypervisor vendor identity
  return t.finish();
}

std::vector<uint8_t> build_madt(const AcpiConfig& config) {
  Table t("APIC", 5);
  t.u32(kLocalApicAddress);
  t.u32(0);  // flags: no PCAT_COMPAT, the guest need not program the 8259s
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
  const uint64_t fadt_at = align16(dsdt_at + dsdt.size());
  const std::vector<uint8_t> fadt = build_fadt(dsdt_at);
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
  place(fadt_at, fadt);
  place(madt_at, madt);
  place(xsdt_at, xsdt_bytes);
  return out;
}

}  // namespace vmm
