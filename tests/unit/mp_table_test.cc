#include "vmm/mp_table.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vmm {
namespace {

template <typename T>
T get(const std::vector<uint8_t>& b, size_t offset) {
  T v;
  std::memcpy(&v, b.data() + offset, sizeof v);
  return v;
}

constexpr uint32_t kAddress = 0x9fc00;

TEST(MpTable, FloatingPointerIsValidAndPointsAtTable) {
  const auto t = build_mp_table({2, 0x800f12, 0x178bfbff}, kAddress);
  EXPECT_EQ(std::memcmp(t.data(), "_MP_", 4), 0);
  EXPECT_EQ(get<uint32_t>(t, 4), kAddress + 16);
  EXPECT_EQ(t[8], 1);  // length in paragraphs
  EXPECT_EQ(t[9], 4);  // spec 1.4
  EXPECT_EQ(byte_sum(t.data(), 16), 0);
  EXPECT_EQ(t[11], 0);  // default configuration 0: the table is present
}

TEST(MpTable, ConfigurationTableChecksumAndLength) {
  for (unsigned cpus : {1u, 2u, 8u, 64u}) {
    const auto t = build_mp_table({cpus, 0, 0}, kAddress);
    const uint8_t* table = t.data() + 16;
    EXPECT_EQ(std::memcmp(table, "PCMP", 4), 0);
    const uint16_t length = get<uint16_t>(t, 16 + 4);
    EXPECT_EQ(length, t.size() - 16);
    EXPECT_EQ(byte_sum(table, length), 0) << cpus << " cpus";
    EXPECT_EQ(get<uint32_t>(t, 16 + 36), kLocalApicAddress);
    // CPUs + bus + IOAPIC + 16 ISA IRQs + 2 local interrupts.
    EXPECT_EQ(get<uint16_t>(t, 16 + 34), cpus + 1 + 1 + 16 + 2);
  }
}

TEST(MpTable, ProcessorEntriesHaveIdsAndOneBootProcessor) {
  const auto t = build_mp_table({2, 0x800f12, 0x178bfbff}, kAddress);
  const size_t first = 16 + 44;
  for (unsigned cpu = 0; cpu < 2; ++cpu) {
    const size_t e = first + cpu * 20;
    EXPECT_EQ(t[e], 0);  // processor entry
    EXPECT_EQ(t[e + 1], cpu);
    EXPECT_EQ(t[e + 3], cpu == 0 ? 3 : 1);  // enabled (+ BSP)
    EXPECT_EQ(get<uint32_t>(t, e + 4), 0x800f12u);
    EXPECT_EQ(get<uint32_t>(t, e + 8), 0x178bfbffu);
  }
}

TEST(MpTable, IoApicAndIsaRouting) {
  const unsigned cpus = 2;
  const auto t = build_mp_table({cpus, 0, 0}, kAddress);
  size_t e = 16 + 44 + cpus * 20;
  EXPECT_EQ(t[e], 1);  // bus
  EXPECT_EQ(std::memcmp(&t[e + 2], "ISA   ", 6), 0);
  e += 8;
  EXPECT_EQ(t[e], 2);  // IOAPIC
  EXPECT_EQ(t[e + 1], mp_ioapic_id(cpus));
  EXPECT_EQ(t[e + 3], 1);
  EXPECT_EQ(get<uint32_t>(t, e + 4), kIoApicAddress);
  e += 8;
  for (unsigned irq = 0; irq < 16; ++irq, e += 8) {
    EXPECT_EQ(t[e], 3);
    EXPECT_EQ(t[e + 5], irq);              // source bus IRQ
    EXPECT_EQ(t[e + 6], mp_ioapic_id(cpus));
    EXPECT_EQ(t[e + 7], irq);              // IOAPIC pin (COM1: IRQ 4 -> pin 4)
    // ISA default (edge, active high), but the ACPI SCI is level, active high, as in the MADT.
    EXPECT_EQ(get<uint16_t>(t, e + 2), irq == 9 ? 0x0D : 0) << irq;
  }
  EXPECT_EQ(t[e], 4);
  EXPECT_EQ(t[e + 1], 3);  // ExtINT on LINT0
  EXPECT_EQ(t[e + 7], 0);
  EXPECT_EQ(t[e + 8], 4);
  EXPECT_EQ(t[e + 9], 1);  // NMI on LINT1
  EXPECT_EQ(t[e + 15], 1);
  EXPECT_EQ(e + 16, t.size());
}

TEST(MpTable, RejectsBadCpuCounts) {
  EXPECT_THROW(build_mp_table({0, 0, 0}, kAddress), std::invalid_argument);
  EXPECT_THROW(build_mp_table({255, 0, 0}, kAddress), std::invalid_argument);
}

TEST(MpTable, PciBusAndInterrupts) {
  MpTableConfig config{1, 0, 0};
  config.pci = true;
  config.pci_interrupts = {{1, 0, 16}, {3, 0, 18}};
  const auto t = build_mp_table(config, kAddress);
  const uint16_t length = get<uint16_t>(t, 16 + 4);
  EXPECT_EQ(byte_sum(t.data() + 16, length), 0);
  // CPU + 2 buses + IOAPIC + 16 ISA IRQs + 2 PCI IRQs + 2 local interrupts.
  EXPECT_EQ(get<uint16_t>(t, 16 + 34), 1 + 2 + 1 + 16 + 2 + 2);
  size_t e = 16 + 44 + 20;
  EXPECT_EQ(t[e], 1);  // bus 0 = PCI
  EXPECT_EQ(t[e + 1], 0);
  EXPECT_EQ(std::memcmp(&t[e + 2], "PCI   ", 6), 0);
  e += 8;
  EXPECT_EQ(t[e], 1);  // bus 1 = ISA
  EXPECT_EQ(t[e + 1], 1);
  EXPECT_EQ(std::memcmp(&t[e + 2], "ISA   ", 6), 0);
  e += 8 + 8;  // IOAPIC
  EXPECT_EQ(t[e], 3);
  EXPECT_EQ(t[e + 4], 1);   // ISA IRQ 0 on bus 1
  e += 16 * 8;
  EXPECT_EQ(t[e], 3);       // slot 1 INTA# -> pin 16, level/active high
  EXPECT_EQ(get<uint16_t>(t, e + 2), 0x0D);
  EXPECT_EQ(t[e + 4], 0);   // bus 0
  EXPECT_EQ(t[e + 5], 1 << 2);
  EXPECT_EQ(t[e + 7], 16);
  e += 8;
  EXPECT_EQ(t[e + 5], 3 << 2);
  EXPECT_EQ(t[e + 7], 18);
}

}  // namespace
}  // namespace vmm
