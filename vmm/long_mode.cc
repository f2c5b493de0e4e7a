#include "vmm/long_mode.h"

#include <array>

#include "vmm/memory_layout.h"

namespace vmm {
namespace {

constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kLargePage = 1ull << 7;

constexpr uint64_t kCr0Pe = 1ull << 0;
constexpr uint64_t kCr0Et = 1ull << 4;
constexpr uint64_t kCr0Ne = 1ull << 5;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;

// A GDT descriptor from its base, limit and the 12 flag bits (access byte + flags nibble).
constexpr uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((uint64_t{base} & 0xff000000) << 32) | ((uint64_t{base} & 0x00ffffff) << 16) |
         (uint64_t{limit} & 0x0000ffff) | ((uint64_t{limit} & 0x000f0000) << 32) |
         ((uint64_t{flags} & 0xf0ff) << 40);
}

// Segment register contents matching a GDT entry written above.
kvm_segment segment(uint16_t selector, uint8_t type, bool code64, bool system) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code64 ? 0 : 1;
  s.s = system ? 0 : 1;
  s.l = code64 ? 1 : 0;
  s.g = 1;
  return s;
}

}  // namespace

uint64_t write_long_mode_tables(const GuestMemory& memory) {
  const uint64_t pml4 = layout::kPageTables;
  const uint64_t pdpt = pml4 + 0x1000;
  const uint64_t pd = pdpt + 0x1000;  // four consecutive page directories
  memory.write_object(pml4, pdpt | kPresent | kWritable);
  for (uint64_t gib = 0; gib < 4; ++gib) {
    memory.write_object(pdpt + gib * 8, (pd + gib * 0x1000) | kPresent | kWritable);
  }
  std::array<uint64_t, 4 * 512> entries{};
  for (uint64_t i = 0; i < entries.size(); ++i) {
    entries[i] = (i << 21) | kPresent | kWritable | kLargePage;
  }
  memory.write_object(pd, entries);

  const std::array<uint64_t, 5> gdt = {
      0,                                  // null
      0,                                  // unused (keeps Linux's __BOOT_CS at 0x10)
      gdt_entry(0xa09b, 0, 0xfffff),      // 0x10: 64-bit code, execute/read
      gdt_entry(0xc093, 0, 0xfffff),      // 0x18: data, read/write
      gdt_entry(0x008b, 0, 0x67),         // 0x20: busy TSS (VMX wants a usable TR)
  };
  memory.write_object(layout::kGdt, gdt);
  return pml4;
}

void set_long_mode_sregs(kvm_sregs& sregs, uint64_t cr3) {
  sregs.gdt.base = layout::kGdt;
  sregs.gdt.limit = 5 * 8 - 1;
  sregs.idt.base = 0;
  sregs.idt.limit = 0;  // Linux installs its own IDT before enabling interrupts
  sregs.cs = segment(kBootCodeSelector, 0xb, /*code64=*/true, /*system=*/false);
  const kvm_segment data = segment(kBootDataSelector, 0x3, false, false);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = segment(kBootTssSelector, 0xb, false, /*system=*/true);
  sregs.tr.g = 0;
  sregs.tr.limit = 0x67;
  sregs.ldt = {};
  sregs.ldt.unusable = 1;
  sregs.ldt.type = 0x2;
  sregs.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
  sregs.cr3 = cr3;
  sregs.cr4 = kCr4Pae;
  sregs.efer = kEferLme | kEferLma;
}

}  // namespace vmm
