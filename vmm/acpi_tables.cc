#include "vmm/acpi_tables.h"

#include <array>
#include <cstring>
#include <stdexcept>
#include <string_view>

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

// AML (ACPI 6.x, section 20) is hand-encoded here: the DSDT only needs a scope with two devices.

// PkgLength: the length of what follows including the PkgLength bytes themselves.
std::vector<uint8_t> aml_package(uint8_t opcode_byte, const std::vector<uint8_t>& body,
                                 bool ext_opcode = false) {
  std::vector<uint8_t> out;
  if (ext_opcode) out.push_back(0x5B);
  out.push_back(opcode_byte);
  const size_t one = body.size() + 1, two = body.size() + 2;
  if (one < 0x40) {
    out.push_back(static_cast<uint8_t>(one));
  } else if (two < 0x1000) {
    out.push_back(static_cast<uint8_t>(0x40 | (two & 0x0F)));
    out.push_back(static_cast<uint8_t>(two >> 4));
  } else {
    throw std::length_error("AML package too large");
  }
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Device (NAME) { Name (_HID, EisaId (...)) Name (_CRS, Buffer () { resources }) }
std::vector<uint8_t> aml_device(const char (&name)[5], const std::array<uint8_t, 4>& eisa_id,
                                const std::vector<uint8_t>& resources) {
  std::vector<uint8_t> body(name, name + 4);
  const std::vector<uint8_t> hid = {0x08, '_', 'H', 'I', 'D', 0x0C};  // Name, DWordConst
  body.insert(body.end(), hid.begin(), hid.end());
  body.insert(body.end(), eisa_id.begin(), eisa_id.end());
  const std::vector<uint8_t> crs_name = {0x08, '_', 'C', 'R', 'S'};
  body.insert(body.end(), crs_name.begin(), crs_name.end());
  std::vector<uint8_t> buffer = {0x0A, static_cast<uint8_t>(resources.size())};  // ByteConst size
  buffer.insert(buffer.end(), resources.begin(), resources.end());
  const std::vector<uint8_t> crs = aml_package(0x11, buffer);  // BufferOp
  body.insert(body.end(), crs.begin(), crs.end());
  return aml_package(0x82, body, /*ext_opcode=*/true);  // DeviceOp
}

// Small resource descriptors: IO (Decode16, base, base, 1, length) and IRQNoFlags () {irq}.
std::vector<uint8_t> io_and_irq(uint16_t base, uint8_t length, uint8_t alignment, unsigned irq) {
  const uint16_t mask = static_cast<uint16_t>(1u << irq);
  return {0x47, 0x01, static_cast<uint8_t>(base), static_cast<uint8_t>(base >> 8),
          static_cast<uint8_t>(base), static_cast<uint8_t>(base >> 8), alignment, length,
          0x22, static_cast<uint8_t>(mask), static_cast<uint8_t>(mask >> 8),
          0x79, 0x00};  // end tag
}

// Scope (\_SB) { COM1 (PNP0501, 0x3F8/8, IRQ 4), RTC (PNP0B00, 0x70/2, IRQ 8) }.
// On a hardware-reduced machine Linux has no legacy ISA IRQs, so devices that interrupt must be
// described here for their IRQs to be routed through the IOAPIC.
std::vector<uint8_t> dsdt_aml() {
  std::vector<uint8_t> scope = {'\\', '_', 'S', 'B', '_'};
  const auto com1 = aml_device("COM1", {0x41, 0xD0, 0x05, 0x01}, io_and_irq(0x3F8, 8, 8, 4));
  const auto rtc = aml_device("RTC_", {0x41, 0xD0, 0x0B, 0x00}, io_and_irq(0x70, 2, 1, 8));
  scope.insert(scope.end(), com1.begin(), com1.end());
  scope.insert(scope.end(), rtc.begin(), rtc.end());
  return aml_package(0x10, scope);  // ScopeOp
}

std::vector<uint8_t> build_dsdt() {
  Table t("DSDT", 2);
  for (uint8_t b : dsdt_aml()) t.u8(b);
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
  const std::vector<uint8_t> dsdt = build_dsdt();
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
