// Byte encodings of the AML encoder. Expected bytes are worked out by hand from ACPI 6.5:
// chapter 20 (AML grammar: opcodes, PkgLength, NameString, data objects) and section 6.4
// (resource descriptors). Each expectation notes the rule it follows.
#include "vmm/aml.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace vmm::aml {
namespace {

using B = Bytes;

TEST(AmlPkgLength, OneByteUpTo63) {
  // Bits 7-6 = 0: bits 5-0 are the whole length, which counts the PkgLength byte itself.
  EXPECT_EQ(pkg_length(0), (B{0x01}));
  EXPECT_EQ(pkg_length(5), (B{0x06}));
  EXPECT_EQ(pkg_length(62), (B{0x3F}));
}

TEST(AmlPkgLength, TwoBytesUpTo4095) {
  // Bits 7-6 = 1: lead byte bits 3-0 = length bits 3-0, next byte = length bits 11-4.
  EXPECT_EQ(pkg_length(63), (B{0x41, 0x04}));     // 63 + 2 = 0x041
  EXPECT_EQ(pkg_length(0xFFD), (B{0x4F, 0xFF}));  // 0xFFD + 2 = 0xFFF, the largest
}

TEST(AmlPkgLength, ThreeAndFourBytes) {
  EXPECT_EQ(pkg_length(0xFFE), (B{0x81, 0x00, 0x01}));            // 0xFFE + 3 = 0x1001
  EXPECT_EQ(pkg_length(0xFFFFC), (B{0x8F, 0xFF, 0xFF}));          // 0xFFFFF
  EXPECT_EQ(pkg_length(0xFFFFD), (B{0xC1, 0x00, 0x00, 0x01}));    // 0xFFFFD + 4 = 0x100001
  EXPECT_EQ(pkg_length(0xFFFFFFB), (B{0xCF, 0xFF, 0xFF, 0xFF}));  // 0xFFFFFFF, the largest
  EXPECT_THROW(pkg_length(0xFFFFFFC), std::length_error);
}

TEST(AmlNameString, SegmentsAndPrefixes) {
  EXPECT_EQ(name_string("_HID"), (B{'_', 'H', 'I', 'D'}));
  EXPECT_EQ(name_string("_SB"), (B{'_', 'S', 'B', '_'}));  // padded with '_'
  EXPECT_EQ(name_string("\\_SB"), (B{0x5C, '_', 'S', 'B', '_'}));  // RootChar
  EXPECT_EQ(name_string("^GS16"), (B{0x5E, 'G', 'S', '1', '6'}));  // ParentPrefixChar
  // DualNamePrefix 0x2E: exactly two segments follow.
  EXPECT_EQ(name_string("\\_SB.PCI0"), (B{0x5C, 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'}));
  // MultiNamePrefix 0x2F, SegCount, segments.
  EXPECT_EQ(name_string("\\_SB.PCI0.GS16"),
            (B{0x5C, 0x2F, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'G', 'S', '1', '6'}));
  EXPECT_EQ(name_string("\\"), (B{0x5C, 0x00}));  // RootChar NullName
}

TEST(AmlNameString, RejectsInvalidNames) {
  for (const char* bad : {"1ABC", "ABCDE", "pci0", "A.", ".A", "\\A..B", "A-B"}) {
    EXPECT_THROW(name_string(bad), std::invalid_argument) << bad;
  }
}

TEST(AmlInteger, SmallestEncoding) {
  EXPECT_EQ(integer(0), (B{0x00}));  // ZeroOp
  EXPECT_EQ(integer(1), (B{0x01}));  // OneOp
  EXPECT_EQ(integer(2), (B{0x0A, 0x02}));  // BytePrefix
  EXPECT_EQ(integer(0xFF), (B{0x0A, 0xFF}));
  EXPECT_EQ(integer(0x100), (B{0x0B, 0x00, 0x01}));  // WordPrefix, little endian
  EXPECT_EQ(integer(0x10000), (B{0x0C, 0x00, 0x00, 0x01, 0x00}));  // DWordPrefix
  EXPECT_EQ(integer(0x1'0000'0000),
            (B{0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}));  // QWordPrefix
  EXPECT_EQ(dword(0x1FFFF), (B{0x0C, 0xFF, 0xFF, 0x01, 0x00}));
  EXPECT_EQ(dword(0), (B{0x0C, 0, 0, 0, 0}));
}

TEST(AmlString, NulTerminated) {
  EXPECT_EQ(string("ab"), (B{0x0D, 'a', 'b', 0x00}));  // StringPrefix AsciiCharList NullChar
  EXPECT_EQ(string(""), (B{0x0D, 0x00}));
}

TEST(AmlEisaId, CompressedBigEndian) {
  // "PNP": P = 0x10, N = 0x0E -> 0b0'10000'01110'10000 = 0x41D0; digits as nibbles.
  EXPECT_EQ(eisa_id("PNP0A03"), (B{0x0C, 0x41, 0xD0, 0x0A, 0x03}));
  EXPECT_EQ(eisa_id("PNP0C0F"), (B{0x0C, 0x41, 0xD0, 0x0C, 0x0F}));
  EXPECT_EQ(eisa_id("PNP0501"), (B{0x0C, 0x41, 0xD0, 0x05, 0x01}));
  // "ABC": 00001 00010 00011 -> 0b0000'0100'0100'0011 = 0x0443.
  EXPECT_EQ(eisa_id("ABC1234"), (B{0x0C, 0x04, 0x43, 0x12, 0x34}));
  for (const char* bad : {"pnp0a03", "PNP0A0", "PNP0A03X", "PNP0G03"}) {
    EXPECT_THROW(eisa_id(bad), std::invalid_argument) << bad;
  }
}

TEST(AmlNamedObjects, NameScopeDeviceMethod) {
  // NameOp NameString DataRefObject
  EXPECT_EQ(name("_UID", integer(0)), (B{0x08, '_', 'U', 'I', 'D', 0x00}));
  // ScopeOp PkgLength NameString TermList: 5 name bytes -> PkgLength 6.
  EXPECT_EQ(scope("\\_SB", {}), (B{0x10, 0x06, 0x5C, '_', 'S', 'B', '_'}));
  // DeviceOp is ExtOpPrefix 0x5B 0x82.
  EXPECT_EQ(device("PCI0", {0xAA}), (B{0x5B, 0x82, 0x06, 'P', 'C', 'I', '0', 0xAA}));
  // MethodOp PkgLength NameString MethodFlags (ArgCount 1, not serialized, SyncLevel 0).
  EXPECT_EQ(method("_SRS", 1, {}), (B{0x14, 0x06, '_', 'S', 'R', 'S', 0x01}));
  EXPECT_THROW(method("_SRS", 8, {}), std::invalid_argument);
}

TEST(AmlNamedObjects, LongBodyGetsTwoBytePkgLength) {
  const Bytes body(100, 0xA3);
  const Bytes d = device("DEV0", body);
  ASSERT_EQ(d.size(), 2u + 2u + 4u + 100u);
  // 2 + 4 + 100 = 106 = 0x6A -> 0x4A 0x06.
  EXPECT_EQ(d[2], 0x4A);
  EXPECT_EQ(d[3], 0x06);
  EXPECT_EQ(d[4], 'D');
}

TEST(AmlData, BufferAndPackage) {
  // BufferOp PkgLength BufferSize(TermArg) ByteList
  EXPECT_EQ(buffer({1, 2}), (B{0x11, 0x05, 0x0A, 0x02, 0x01, 0x02}));
  EXPECT_EQ(buffer({}), (B{0x11, 0x02, 0x00}));
  // PackageOp PkgLength NumElements PackageElementList
  EXPECT_EQ(package({integer(2), integer(0)}), (B{0x12, 0x05, 0x02, 0x0A, 0x02, 0x00}));
  EXPECT_EQ(package({}), (B{0x12, 0x02, 0x00}));
  // A name inside a package is a reference to that object.
  EXPECT_EQ(package({name_string("\\_SB")}), (B{0x12, 0x07, 0x01, 0x5C, '_', 'S', 'B', '_'}));
  EXPECT_THROW(package(std::vector<Bytes>(256, integer(0))), std::invalid_argument);
}

TEST(AmlResources, SmallDescriptors) {
  // I/O port descriptor: tag 0x47 (item 0x08, length 7), Decode16, min, max, alignment, length.
  EXPECT_EQ(res::io(0xCF8, 0xCF8, 1, 8), (B{0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08}));
  // IRQ descriptor without information byte: tag 0x22 (item 0x04, length 2), mask.
  EXPECT_EQ(res::irq_no_flags(4), (B{0x22, 0x10, 0x00}));
  EXPECT_EQ(res::irq_no_flags(8), (B{0x22, 0x00, 0x01}));
  EXPECT_THROW(res::irq_no_flags(16), std::invalid_argument);
}

TEST(AmlResources, WordAddressSpace) {
  // Tag 0x88, length 13, type 2 (bus), flags MaxFixed|MinFixed producer, no type flags,
  // then granularity, min, max, translation, length.
  EXPECT_EQ(res::word_bus_number(0, 0xFF),
            (B{0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0x00, 0x01}));
  // Type 1 (I/O), type-specific flags _RNG = 3 (EntireRange).
  EXPECT_EQ(res::word_io(0x0D00, 0xFFFF),
            (B{0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0x00, 0x0D, 0xFF, 0xFF, 0, 0, 0x00,
               0xF3}));
  EXPECT_EQ(res::word_io(0, 0x0CF7),
            (B{0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0, 0, 0xF7, 0x0C, 0, 0, 0xF8, 0x0C}));
}

TEST(AmlResources, DWordMemory) {
  // Tag 0x87, length 23, type 0 (memory), producer fixed range, _RW = 1 and non-cacheable.
  EXPECT_EQ(res::dword_memory(0xC000'0000, 0xFEBF'FFFF),
            (B{0x87, 0x17, 0x00, 0x00, 0x0C, 0x01,
               0x00, 0x00, 0x00, 0x00,    // granularity
               0x00, 0x00, 0x00, 0xC0,    // min
               0xFF, 0xFF, 0xBF, 0xFE,    // max
               0x00, 0x00, 0x00, 0x00,    // translation
               0x00, 0x00, 0xC0, 0x3E}));  // length 0x3EC00000
}

TEST(AmlResources, ExtendedInterrupt) {
  // Tag 0x89, length 6, flags (bit 0 consumer, 1 edge, 2 active low, 3 shared), count 1, GSI.
  using namespace res;
  EXPECT_EQ(extended_interrupt(16, Trigger::kLevel, Polarity::kActiveHigh, Sharing::kExclusive),
            (B{0x89, 0x06, 0x00, 0x01, 0x01, 0x10, 0x00, 0x00, 0x00}));
  EXPECT_EQ(extended_interrupt(0x123, Trigger::kEdge, Polarity::kActiveLow, Sharing::kShared),
            (B{0x89, 0x06, 0x00, 0x0F, 0x01, 0x23, 0x01, 0x00, 0x00}));
}

TEST(AmlResources, TemplateEndsWithEndTag) {
  // Buffer (size 10: IO descriptor 8 + End Tag 0x79 with checksum 0) and its PkgLength 13.
  const Bytes t = resource_template({res::io(0x70, 0x70, 1, 2)});
  EXPECT_EQ(t, (B{0x11, 0x0D, 0x0A, 0x0A, 0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02, 0x79,
                  0x00}));
  EXPECT_EQ(resource_template({}), (B{0x11, 0x05, 0x0A, 0x02, 0x79, 0x00}));
}

TEST(AmlJoin, Concatenates) {
  EXPECT_EQ(join({{1, 2}, {}, {3}}), (B{1, 2, 3}));
}

}  // namespace
}  // namespace vmm::aml
