// Cross-check of our hand-encoded tables (DSDT, FADT, FACS, MADT) against ACPICA's disassembler
// (iasl, Debian package acpica-tools, installed by scripts/setup.sh): it must parse each table
// without errors or warnings and print back what we meant. Skips when iasl is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include "vmm/acpi_tables.h"

namespace vmm {
namespace {

constexpr char kIasl[] = "/usr/bin/iasl";
constexpr uint64_t kBase = 0xE0000;

// The table with `signature` ("DSDT", "FACS", "FACP", "APIC"), found from the RSDP.
std::vector<uint8_t> table_of(const AcpiTables& t, std::string_view signature) {
  auto at = [&](uint64_t address) { return t.bytes.data() + (address - kBase); };
  auto bytes_at = [&](uint64_t address) {
    uint32_t length;
    std::memcpy(&length, at(address + 4), 4);
    return std::vector<uint8_t>(at(address), at(address) + length);
  };
  uint64_t xsdt, fadt, madt, dsdt;
  uint32_t facs;
  std::memcpy(&xsdt, at(t.rsdp_address + 24), 8);
  std::memcpy(&fadt, at(xsdt + 36), 8);  // the FADT is the XSDT's first entry, the MADT second
  std::memcpy(&madt, at(xsdt + 44), 8);
  std::memcpy(&dsdt, at(fadt + 140), 8);
  std::memcpy(&facs, at(fadt + 36), 4);
  if (signature == "FACP") return bytes_at(fadt);
  if (signature == "APIC") return bytes_at(madt);
  if (signature == "FACS") return bytes_at(facs);
  return bytes_at(dsdt);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Disassembles `table` with iasl; returns the ASL text, with iasl's own messages in `log`.
std::string disassemble(const std::vector<uint8_t>& table, std::string& log) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp ? tmp : "/tmp";
  const std::string base = dir + "/table-" + std::to_string(getpid());
  {
    std::ofstream out(base + ".dat", std::ios::binary);
    out.write(reinterpret_cast<const char*>(table.data()),
              static_cast<std::streamsize>(table.size()));
  }
  const std::string command =
      std::string(kIasl) + " -d " + base + ".dat > " + base + ".log 2>&1";
  const int status = std::system(command.c_str());
  log = read_text(base + ".log");
  EXPECT_EQ(status, 0) << log;
  return read_text(base + ".dsl");
}

// iasl reports problems as "Error", "Warning" and, in data tables, "**** ..." lines.
void expect_clean(const std::string& log, const std::string& asl) {
  for (const char* bad : {"Error", "Warning", "Incorrect checksum", "****"}) {
    EXPECT_EQ(log.find(bad), std::string::npos) << bad << " in:\n" << log;
    EXPECT_EQ(asl.find(bad), std::string::npos) << bad << " in:\n" << asl;
  }
}

TEST(AcpiIasl, DisassemblesThePciHostBridge) {
  if (access(kIasl, X_OK) != 0) GTEST_SKIP() << "iasl not installed (acpica-tools)";
  AcpiConfig config{2, 2};
  config.pci = true;
  config.pci_interrupts = {{1, 0, 16}, {2, 0, 17}};
  std::string log;
  const std::string asl = disassemble(table_of(build_acpi_tables(config, kBase), "DSDT"), log);
  expect_clean(log, asl);
  for (const char* expected : {
           "Name (_S5, Package (0x04)",
           "Scope (\\_SB)",
           "Device (COM1)",
           "Device (PCI0)",
           "Name (_HID, EisaId (\"PNP0A03\")",
           "Name (_SEG, Zero)",
           "Name (_BBN, Zero)",
           "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
           "IO (Decode16,\n                    0x0CF8,",
           "WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,",
           "0x0CF7,             // Range Maximum",
           "0x0D00,             // Range Minimum",
           "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, "
           "ReadWrite,",
           "0xC0000000,         // Range Minimum",
           "0xFEBFFFFF,         // Range Maximum",
           "0x0001FFFF,",
           "\\_SB.GS16,",
           "\\_SB.GS17,",
           "Device (GS16)",
           "Name (_HID, EisaId (\"PNP0C0F\")",
           "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )",
           "Method (_SRS, 1, NotSerialized)",
       }) {
    EXPECT_NE(asl.find(expected), std::string::npos) << "missing: " << expected;
  }
  if (HasFailure()) std::fprintf(stderr, "%s\n", asl.c_str());
}

// The value iasl prints for data table field `name` ("Name   : value"), looking from `from`
// on; "" if absent. Alignment differs between iasl versions, so only the order is relied on.
std::string value_of(const std::string& asl, const std::string& name, size_t from = 0) {
  for (size_t at = asl.find(name, from); at != std::string::npos; at = asl.find(name, at + 1)) {
    size_t v = asl.find_first_not_of(' ', at + name.size());
    if (v == std::string::npos || asl.compare(v, 2, ": ") != 0) continue;
    v += 2;
    return asl.substr(v, asl.find('\n', v) - v);
  }
  return "";
}

// The values of a Generic Address Structure printed under `heading`.
void expect_io_gas(const std::string& asl, const std::string& heading, const char* bits,
                   const char* access, const char* address) {
  const size_t at = asl.find(heading + " : [Generic Address Structure]");
  ASSERT_NE(at, std::string::npos) << heading;
  EXPECT_EQ(value_of(asl, "Space ID", at), "01 [SystemIO]") << heading;
  EXPECT_EQ(value_of(asl, "Bit Width", at), bits) << heading;
  EXPECT_EQ(value_of(asl, "Encoded Access Width", at), access) << heading;
  EXPECT_EQ(value_of(asl, "Address", at), address) << heading;
}

TEST(AcpiIasl, DisassemblesTheFadt) {
  if (access(kIasl, X_OK) != 0) GTEST_SKIP() << "iasl not installed (acpica-tools)";
  std::string log;
  const std::string asl = disassemble(table_of(build_acpi_tables({1, 1}, kBase), "FACP"), log);
  expect_clean(log, asl);
  for (auto [name, value] : std::initializer_list<std::pair<const char*, const char*>>{
           {"SCI Interrupt", "0009"},
           {"SMI Command Port", "00000000"},
           {"PM1A Event Block Address", "00000600"},
           {"PM1B Event Block Address", "00000000"},
           {"PM1A Control Block Address", "00000604"},
           {"PM Timer Block Address", "00000608"},
           {"GPE0 Block Address", "00000000"},
           {"PM1 Event Block Length", "04"},
           {"PM1 Control Block Length", "02"},
           {"PM Timer Block Length", "04"},
           {"GPE0 Block Length", "00"},
           {"Hardware Reduced (V5)", "0"},
           {"32-bit PM Timer (V1)", "0"},
           {"Reset Register Supported (V2)", "1"},
           {"WBINVD instruction is operational (V1)", "1"},
           {"Value to cause reset", "06"},
       }) {
    EXPECT_EQ(value_of(asl, name), value) << name;
  }
  expect_io_gas(asl, "PM1A Event Block", "20", "02 [Word Access:16]", "0000000000000600");
  expect_io_gas(asl, "PM1A Control Block", "10", "02 [Word Access:16]", "0000000000000604");
  expect_io_gas(asl, "PM Timer Block", "20", "03 [DWord Access:32]", "0000000000000608");
  expect_io_gas(asl, "Reset Register", "08", "01 [Byte Access:8]", "0000000000000CF9");
  if (HasFailure()) std::fprintf(stderr, "%s\n", asl.c_str());
}

TEST(AcpiIasl, DisassemblesTheFacs) {
  if (access(kIasl, X_OK) != 0) GTEST_SKIP() << "iasl not installed (acpica-tools)";
  std::string log;
  const std::string asl = disassemble(table_of(build_acpi_tables({1, 1}, kBase), "FACS"), log);
  expect_clean(log, asl);
  EXPECT_EQ(value_of(asl, "Length"), "00000040");
  EXPECT_EQ(value_of(asl, "Global Lock"), "00000000");
  EXPECT_EQ(value_of(asl, "Version"), "02");
  if (HasFailure()) std::fprintf(stderr, "%s\n", asl.c_str());
}

TEST(AcpiIasl, DisassemblesTheMadt) {
  if (access(kIasl, X_OK) != 0) GTEST_SKIP() << "iasl not installed (acpica-tools)";
  std::string log;
  const std::string asl = disassemble(table_of(build_acpi_tables({2, 2}, kBase), "APIC"), log);
  expect_clean(log, asl);
  EXPECT_EQ(value_of(asl, "PC-AT Compatibility"), "1");
  const size_t iso = asl.find("02 [Interrupt Source Override]");
  ASSERT_NE(iso, std::string::npos) << asl;
  EXPECT_EQ(value_of(asl, "Bus", iso), "00");
  EXPECT_EQ(value_of(asl, "Source", iso), "09");
  EXPECT_EQ(value_of(asl, "Interrupt", iso), "00000009");
  EXPECT_EQ(value_of(asl, "Polarity", iso), "1");      // active high
  EXPECT_EQ(value_of(asl, "Trigger Mode", iso), "3");  // level
  EXPECT_EQ(value_of(asl, "Interrupt Input LINT", iso), "01");  // the NMI entry follows
  if (HasFailure()) std::fprintf(stderr, "%s\n", asl.c_str());
}

}  // namespace
}  // namespace vmm
