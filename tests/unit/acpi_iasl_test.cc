// Cross-check of our hand-encoded DSDT against ACPICA's disassembler (iasl, Debian package
// acpica-tools, installed by scripts/setup.sh): it must parse the table without errors and
// print back the ASL we meant. Skips when iasl is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <unistd.h>

#include "vmm/acpi_tables.h"

namespace vmm {
namespace {

constexpr char kIasl[] = "/usr/bin/iasl";
constexpr uint64_t kBase = 0xE0000;

std::vector<uint8_t> dsdt_of(const AcpiTables& t) {
  auto at = [&](uint64_t address) { return t.bytes.data() + (address - kBase); };
  uint64_t xsdt, fadt, dsdt;
  std::memcpy(&xsdt, at(t.rsdp_address + 24), 8);
  std::memcpy(&fadt, at(xsdt + 36), 8);  // the FADT is the XSDT's first entry
  std::memcpy(&dsdt, at(fadt + 140), 8);
  uint32_t length;
  std::memcpy(&length, at(dsdt + 4), 4);
  return {at(dsdt), at(dsdt) + length};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Disassembles `table` with iasl; returns the ASL text, with iasl's own messages in `log`.
std::string disassemble(const std::vector<uint8_t>& table, std::string& log) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp ? tmp : "/tmp";
  const std::string base = dir + "/dsdt-" + std::to_string(getpid());
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

TEST(AcpiIasl, DisassemblesThePciHostBridge) {
  if (access(kIasl, X_OK) != 0) GTEST_SKIP() << "iasl not installed (acpica-tools)";
  AcpiConfig config{2, 2};
  config.pci = true;
  config.pci_interrupts = {{1, 0, 16}, {2, 0, 17}};
  std::string log;
  const std::string asl = disassemble(dsdt_of(build_acpi_tables(config, kBase)), log);
  EXPECT_EQ(log.find("Error"), std::string::npos) << log;
  EXPECT_EQ(log.find("Incorrect checksum"), std::string::npos) << log;
  for (const char* expected : {
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

}  // namespace
}  // namespace vmm
