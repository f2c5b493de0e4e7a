#include "vmm/aml.h"

#include <stdexcept>
#include <string>

namespace vmm::aml {
namespace {

// Opcodes and prefixes (ACPI 6.5 sections 20.2.2-20.2.5).
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0A;
constexpr uint8_t kWordPrefix = 0x0B;
constexpr uint8_t kDWordPrefix = 0x0C;
constexpr uint8_t kStringPrefix = 0x0D;
constexpr uint8_t kQWordPrefix = 0x0E;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kDualNamePrefix = 0x2E;
constexpr uint8_t kMultiNamePrefix = 0x2F;
constexpr uint8_t kExtOpPrefix = 0x5B;
constexpr uint8_t kDeviceOp = 0x82;  // after kExtOpPrefix
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kParentPrefixChar = '^';

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

void little_endian(Bytes& out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// opcode(s) PkgLength body: the shape of Scope, Device, Method, Buffer and Package.
Bytes with_pkg_length(std::initializer_list<uint8_t> opcode, const Bytes& body) {
  Bytes out(opcode);
  append(out, pkg_length(body.size()));
  append(out, body);
  return out;
}

bool lead_name_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char(char c) { return lead_name_char(c) || (c >= '0' && c <= '9'); }

void name_seg(Bytes& out, std::string_view seg, std::string_view whole) {
  if (seg.empty() || seg.size() > 4 || !lead_name_char(seg[0])) {
    throw std::invalid_argument("AML: bad name segment in \"" + std::string(whole) + "\"");
  }
  for (size_t i = 0; i < 4; ++i) {
    const char c = i < seg.size() ? seg[i] : '_';
    if (!name_char(c)) {
      throw std::invalid_argument("AML: bad name character in \"" + std::string(whole) + "\"");
    }
    out.push_back(static_cast<uint8_t>(c));
  }
}

}  // namespace

Bytes join(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) append(out, p);
  return out;
}

// Section 20.2.4: bits 7-6 of the lead byte count the bytes that follow it. A one-byte
// encoding holds the length in bits 5-0; otherwise the lead byte holds bits 3-0 and each
// following byte the next 8 bits. The length includes the PkgLength bytes themselves.
Bytes pkg_length(size_t body_size) {
  for (unsigned extra = 0; extra <= 3; ++extra) {
    const size_t total = body_size + 1 + extra;
    if (extra == 0) {
      if (total < 0x40) return {static_cast<uint8_t>(total)};
      continue;
    }
    if (total >= (size_t{1} << (4 + 8 * extra))) continue;
    Bytes out{static_cast<uint8_t>(extra << 6 | (total & 0x0F))};
    for (unsigned i = 0; i < extra; ++i) out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
    return out;
  }
  throw std::length_error("AML: package longer than 2^28 bytes");
}

Bytes name_string(std::string_view path) {
  Bytes out;
  const std::string_view whole = path;
  if (!path.empty() && path[0] == kRootChar) {
    out.push_back(kRootChar);
    path.remove_prefix(1);
  } else {
    while (!path.empty() && path[0] == kParentPrefixChar) {
      out.push_back(kParentPrefixChar);
      path.remove_prefix(1);
    }
  }
  std::vector<std::string_view> segs;
  while (!path.empty()) {
    const size_t dot = path.find('.');
    segs.push_back(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    if (dot != std::string_view::npos && path.empty()) segs.push_back(path);  // trailing '.'
  }
  if (segs.empty()) {
    out.push_back(0x00);  // NullName: the root or parent itself ("\\", "^")
    return out;
  }
  if (segs.size() == 2) out.push_back(kDualNamePrefix);
  if (segs.size() > 2) {
    if (segs.size() > 255) throw std::invalid_argument("AML: name path too long");
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (std::string_view seg : segs) name_seg(out, seg, whole);
  return out;
}

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Bytes out;
  if (value <= 0xFF) {
    out.push_back(kBytePrefix);
    little_endian(out, value, 1);
  } else if (value <= 0xFFFF) {
    out.push_back(kWordPrefix);
    little_endian(out, value, 2);
  } else if (value <= 0xFFFF'FFFF) {
    out.push_back(kDWordPrefix);
    little_endian(out, value, 4);
  } else {
    out.push_back(kQWordPrefix);
    little_endian(out, value, 8);
  }
  return out;
}

Bytes dword(uint32_t value) {
  Bytes out{kDWordPrefix};
  little_endian(out, value, 4);
  return out;
}

Bytes string(std::string_view text) {
  Bytes out{kStringPrefix};
  for (char c : text) {
    if (c <= 0 || static_cast<unsigned char>(c) > 0x7F) {
      throw std::invalid_argument("AML: strings are ASCII without NUL");
    }
    out.push_back(static_cast<uint8_t>(c));
  }
  out.push_back(0x00);
  return out;
}

// Three letters as 5-bit values ('A' = 1) then four hex digits, 32 bits stored big-endian
// (ACPI 6.5 section 19.6.44, EISAID).
Bytes eisa_id(std::string_view id) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  bool ok = id.size() == 7;
  for (size_t i = 0; ok && i < 3; ++i) ok = id[i] >= 'A' && id[i] <= 'Z';
  for (size_t i = 3; ok && i < 7; ++i) ok = hex(id[i]) >= 0;
  if (!ok) throw std::invalid_argument("AML: bad EISA ID \"" + std::string(id) + "\"");
  uint32_t v = 0;
  for (size_t i = 0; i < 3; ++i) v = v << 5 | static_cast<uint32_t>(id[i] - '@');
  for (size_t i = 3; i < 7; ++i) v = v << 4 | static_cast<uint32_t>(hex(id[i]));
  // v has 31 significant bits (15 + 16); byte-swap so the first letter's bits come first.
  const uint32_t swapped = (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);
  return dword(swapped);
}

Bytes name(std::string_view name, const Bytes& object) {
  Bytes out{kNameOp};
  append(out, name_string(name));
  append(out, object);
  return out;
}

Bytes scope(std::string_view name, const Bytes& terms) {
  return with_pkg_length({kScopeOp}, join({name_string(name), terms}));
}

Bytes device(std::string_view name, const Bytes& terms) {
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, join({name_string(name), terms}));
}

Bytes method(std::string_view name, unsigned arg_count, const Bytes& terms) {
  if (arg_count > 7) throw std::invalid_argument("AML: a method takes at most 7 arguments");
  // MethodFlags: bits 2-0 ArgCount, bit 3 SerializeFlag (0), bits 7-4 SyncLevel (0).
  const Bytes flags{static_cast<uint8_t>(arg_count)};
  return with_pkg_length({kMethodOp}, join({name_string(name), flags, terms}));
}

Bytes buffer(const Bytes& data) {
  return with_pkg_length({kBufferOp}, join({integer(data.size()), data}));
}

Bytes package(const std::vector<Bytes>& elements) {
  if (elements.size() > 255) throw std::invalid_argument("AML: Package of more than 255");
  Bytes body{static_cast<uint8_t>(elements.size())};  // NumElements
  for (const Bytes& e : elements) append(body, e);
  return with_pkg_length({kPackageOp}, body);
}

namespace res {
namespace {

// Large resource items (section 6.4.3): tag byte (bit 7 set | item name), 16-bit length of
// what follows the length field.
Bytes large(uint8_t item, const Bytes& data) {
  Bytes out{static_cast<uint8_t>(0x80 | item)};
  little_endian(out, data.size(), 2);
  append(out, data);
  return out;
}

// Address space descriptors' resource types and general flags (section 6.4.3.5).
constexpr uint8_t kMemoryRange = 0;
constexpr uint8_t kIoRange = 1;
constexpr uint8_t kBusNumberRange = 2;
// Bit 0 clear = ResourceProducer, bit 1 clear = PosDecode, bit 2 = MinFixed, bit 3 = MaxFixed.
constexpr uint8_t kProducerFixedRange = 0x0C;

// Granularity, minimum, maximum, translation offset and length, each `width` bytes.
Bytes address_fields(uint64_t min, uint64_t max, unsigned width) {
  Bytes out;
  little_endian(out, 0, width);
  little_endian(out, min, width);
  little_endian(out, max, width);
  little_endian(out, 0, width);
  little_endian(out, max - min + 1, width);
  return out;
}

}  // namespace

// Small item 0x08 (I/O port descriptor), length 7: 0x47 (section 6.4.2.5).
Bytes io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
  Bytes out{0x47, 0x01};  // information: bit 0 = decodes 16 address bits
  little_endian(out, min, 2);
  little_endian(out, max, 2);
  out.push_back(alignment);
  out.push_back(length);
  return out;
}

// Small item 0x04 (IRQ descriptor), length 2 (no information byte): 0x22, then the IRQ mask
// (section 6.4.2.1).
Bytes irq_no_flags(unsigned irq) {
  if (irq > 15) throw std::invalid_argument("AML: IRQ descriptor holds IRQs 0..15");
  const unsigned mask = 1u << irq;
  return {0x22, static_cast<uint8_t>(mask), static_cast<uint8_t>(mask >> 8)};
}

// Large item 0x08 (Word Address Space Descriptor), section 6.4.3.5.3.
Bytes word_bus_number(uint16_t min, uint16_t max) {
  return large(0x08, join({{kBusNumberRange, kProducerFixedRange, 0x00},
                           address_fields(min, max, 2)}));
}

Bytes word_io(uint16_t min, uint16_t max) {
  // I/O type-specific flags: bits 1-0 _RNG = 3, ISA and non-ISA ranges (EntireRange).
  return large(0x08, join({{kIoRange, kProducerFixedRange, 0x03}, address_fields(min, max, 2)}));
}

// Large item 0x07 (DWord Address Space Descriptor), section 6.4.3.5.2.
Bytes dword_memory(uint32_t min, uint32_t max) {
  // Memory type-specific flags: bit 0 _RW = read-write, bits 2-1 _MEM = 0 non-cacheable,
  // bits 4-3 _MTP = 0 AddressRangeMemory, bit 5 _TTP = 0.
  return large(0x07, join({{kMemoryRange, kProducerFixedRange, 0x01},
                           address_fields(min, max, 4)}));
}

// Large item 0x09 (Extended Interrupt Descriptor), section 6.4.3.6.
Bytes extended_interrupt(uint32_t gsi, Trigger trigger, Polarity polarity, Sharing sharing) {
  // Flags: bit 0 = ResourceConsumer, bit 1 = edge, bit 2 = active low, bit 3 = shared.
  const uint8_t flags = static_cast<uint8_t>(0x01 | (trigger == Trigger::kEdge ? 0x02 : 0) |
                                             (polarity == Polarity::kActiveLow ? 0x04 : 0) |
                                             (sharing == Sharing::kShared ? 0x08 : 0));
  Bytes data{flags, 0x01};  // one interrupt number follows
  little_endian(data, gsi, 4);
  return large(0x09, data);
}

}  // namespace res

// Small item 0x0F (End Tag), length 1: 0x79 and a checksum byte (section 6.4.2.9).
Bytes resource_template(std::initializer_list<Bytes> descriptors) {
  Bytes data = join(descriptors);
  data.push_back(0x79);
  data.push_back(0x00);
  return buffer(data);
}

}  // namespace vmm::aml
