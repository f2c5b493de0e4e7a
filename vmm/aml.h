// A small AML encoder (ACPI 6.5, chapter 20 "ACPI Machine Language Specification") and ACPI
// resource descriptors (section 6.4), for the few constructs our DSDT needs. Every function
// returns the encoded bytes of one construct; callers nest them by passing bytes as bodies.
// Only static data and empty methods: the DSDT describes fixed hardware, nothing is computed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace vmm::aml {

using Bytes = std::vector<uint8_t>;

// Concatenates encoded terms (a TermList, a package's elements, a resource template's body).
Bytes join(std::initializer_list<Bytes> parts);

// PkgLength for a body of `body_size` bytes: counts itself and the body (1 to 4 bytes).
Bytes pkg_length(size_t body_size);

// NameString from ASL spelling: "_HID", "\\_SB.PCI0", "^LNK". Segments shorter than four
// characters are padded with '_' as ASL does ("_SB" = "_SB_"). Throws on an invalid name.
Bytes name_string(std::string_view path);

// Integer constants: ZeroOp/OneOp, else the smallest of ByteConst..QWordConst.
Bytes integer(uint64_t value);
// Always DWordConst (fields whose width readers expect, e.g. EisaId).
Bytes dword(uint32_t value);
Bytes string(std::string_view text);  // String: NUL-terminated ASCII
// EISA ID "PNP0A03" as the compressed DWordConst the ASL EisaId() macro yields.
Bytes eisa_id(std::string_view id);

Bytes name(std::string_view name, const Bytes& object);  // Name (NAME, object)
Bytes scope(std::string_view name, const Bytes& terms);   // Scope (NAME) { terms }
Bytes device(std::string_view name, const Bytes& terms);  // Device (NAME) { terms }
// Method (NAME, args, NotSerialized) { terms }
Bytes method(std::string_view name, unsigned arg_count, const Bytes& terms);
Bytes buffer(const Bytes& data);                  // Buffer () { data }
Bytes package(const std::vector<Bytes>& elements);  // Package () { elements } (at most 255)

// Resource descriptors (ACPI 6.5 section 6.4), for a ResourceTemplate.
namespace res {
// IO (Decode16, min, max, alignment, length): ports the device consumes.
Bytes io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
// IRQNoFlags () { irq }: an ISA IRQ (0..15), edge triggered, active high.
Bytes irq_no_flags(unsigned irq);
// WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, ...) for buses min..max.
Bytes word_bus_number(uint16_t min, uint16_t max);
// WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...): a port window.
Bytes word_io(uint16_t min, uint16_t max);
// DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...):
// a memory window [min, max].
Bytes dword_memory(uint32_t min, uint32_t max);

enum class Trigger { kLevel, kEdge };
enum class Polarity { kActiveHigh, kActiveLow };
enum class Sharing { kExclusive, kShared };
// Interrupt (ResourceConsumer, trigger, polarity, sharing) { gsi }: any GSI, not only 0..15.
Bytes extended_interrupt(uint32_t gsi, Trigger trigger, Polarity polarity, Sharing sharing);
}  // namespace res

// ResourceTemplate () { descriptors }: a Buffer holding them and an End Tag whose checksum
// byte is 0 ("treat as valid").
Bytes resource_template(std::initializer_list<Bytes> descriptors);

}  // namespace vmm::aml
