#include "vmm/mp_table.h"

#include <cstring>
#include <stdexcept>
#include <string_view>

#include "devices/acpi_pm.h"

namespace vmm {
namespace {

constexpr uint8_t kEntryProcessor = 0;
constexpr uint8_t kEntryBus = 1;
constexpr uint8_t kEntryIoApic = 2;
constexpr uint8_t kEntryIoInterrupt = 3;
constexpr uint8_t kEntryLocalInterrupt = 4;

constexpr uint8_t kIntTypeInt = 0;
constexpr uint8_t kIntTypeNmi = 1;
constexpr uint8_t kIntTypeExtInt = 3;

constexpr uint8_t kPciBusId = 0;  // must equal the PCI bus number
constexpr unsigned kIsaIrqs = 16;

// Little-endian byte appender.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { append(&v, 2); }
  void u32(uint32_t v) { append(&v, 4); }
  void text(std::string_view s, size_t width) {
    for (size_t i = 0; i < width; ++i) out_.push_back(i < s.size() ? s[i] : ' ');
  }
  void zeros(size_t n) { out_.insert(out_.end(), n, 0); }

 private:
  void append(const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<uint8_t>& out_;
};

}  // namespace

uint8_t byte_sum(const uint8_t* data, size_t size) {
  uint8_t sum = 0;
  for (size_t i = 0; i < size; ++i) sum = static_cast<uint8_t>(sum + data[i]);
  return sum;
}

std::vector<uint8_t> build_mp_table(const MpTableConfig& config, uint32_t address) {
  if (config.cpus == 0 || config.cpus > 254) throw std::invalid_argument("MP table: bad CPU count");
  constexpr size_t kFloatingSize = 16;
  constexpr size_t kHeaderSize = 44;
  std::vector<uint8_t> out;
  Writer w(out);

  // Floating pointer structure.
  w.text("_MP_", 4);
  w.u32(address + kFloatingSize);  // configuration table follows directly
  w.u8(1);                         // length in 16-byte units
  w.u8(4);                         // spec revision 1.4
  w.u8(0);                         // checksum, fixed below
  w.zeros(5);                      // feature bytes: 0 = config table present, virtual wire mode

  // Configuration table header; length, entry count and checksum are fixed below.
  const size_t header = out.size();
  w.text("PCMP", 4);
  w.u16(0);
  w.u8(4);
  w.u8(0);
  w.text("KVMM", 8);
  w.text("BLOCKVMM", 12);
  w.u32(0);  // OEM table pointer
  w.u16(0);  // OEM table size
  w.u16(0);  // entry count
  w.u32(kLocalApicAddress);
  w.u16(0);  // extended table length
  w.u8(0);   // extended table checksum
  w.u8(0);
  uint16_t entries = 0;
  // Bus IDs ascend; a PCI bus takes ID 0 (its bus number), pushing ISA to 1.
  const uint8_t isa_bus = config.pci ? 1 : 0;

  for (unsigned cpu = 0; cpu < config.cpus; ++cpu) {
    w.u8(kEntryProcessor);
    w.u8(static_cast<uint8_t>(cpu));                // local APIC ID
    w.u8(0x14);                                     // local APIC version (integrated)
    w.u8(cpu == 0 ? 0x3 : 0x1);                     // enabled, bootstrap processor
    w.u32(config.cpu_signature);
    w.u32(config.cpu_features);
    w.zeros(8);
    ++entries;
  }
  if (config.pci) {
    w.u8(kEntryBus);
    w.u8(kPciBusId);
    w.text("PCI", 6);
    ++entries;
  }
  w.u8(kEntryBus);
  w.u8(isa_bus);
  w.text("ISA", 6);
  ++entries;

  const uint8_t ioapic_id = mp_ioapic_id(config.cpus);
  w.u8(kEntryIoApic);
  w.u8(ioapic_id);
  w.u8(0x11);  // IOAPIC version
  w.u8(1);     // enabled
  w.u32(kIoApicAddress);
  ++entries;

  // ISA IRQ n is wired to IOAPIC pin n: that is how KVM's default GSI routing delivers the
  // in-kernel PIT (IRQ 0) and KVM_IRQ_LINE(n). Flags 0 = bus-default polarity and trigger
  // (edge, active high), except for the ACPI SCI: level triggered, active high, as the MADT's
  // override says (KVM_IRQ_LINE level 1 = asserted, as QEMU's machines describe their SCI).
  for (unsigned irq = 0; irq < kIsaIrqs; ++irq) {
    w.u8(kEntryIoInterrupt);
    w.u8(kIntTypeInt);
    w.u16(irq == devices::AcpiPm::kSciIrq ? kMpInterruptLevelActiveHigh : 0);
    w.u8(isa_bus);
    w.u8(static_cast<uint8_t>(irq));
    w.u8(ioapic_id);
    w.u8(static_cast<uint8_t>(irq));
    ++entries;
  }
  // PCI INTx: source bus IRQ = slot << 2 | pin; flags 0x0D = level triggered, active high.
  for (const MpPciInterrupt& pci : config.pci_interrupts) {
    w.u8(kEntryIoInterrupt);
    w.u8(kIntTypeInt);
    w.u16(kMpInterruptLevelActiveHigh);
    w.u8(kPciBusId);
    w.u8(static_cast<uint8_t>(pci.slot << 2 | (pci.pin & 3)));
    w.u8(ioapic_id);
    w.u8(pci.ioapic_pin);
    ++entries;
  }
  // LINT0 receives the 8259's ExtINT, LINT1 the NMI, on every local APIC (ID 0xFF).
  for (auto [type, lint] : {std::pair<uint8_t, uint8_t>{kIntTypeExtInt, 0}, {kIntTypeNmi, 1}}) {
    w.u8(kEntryLocalInterrupt);
    w.u8(type);
    w.u16(0);
    w.u8(isa_bus);
    w.u8(0);
    w.u8(0xFF);
    w.u8(lint);
    ++entries;
  }

  const uint16_t table_length = static_cast<uint16_t>(out.size() - header);
  std::memcpy(&out[header + 4], &table_length, 2);
  std::memcpy(&out[header + 34], &entries, 2);
  out[header + 7] = static_cast<uint8_t>(-byte_sum(&out[header], table_length));
  out[10] = static_cast<uint8_t>(-byte_sum(out.data(), kFloatingSize));
  static_assert(kHeaderSize == 44);
  return out;
}

}  // namespace vmm
