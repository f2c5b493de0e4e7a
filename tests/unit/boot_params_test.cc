#include "vmm/boot_params.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/unit/fake_bzimage.h"
#include "vmm/e820.h"

namespace vmm {
namespace {

template <typename T>
T get(const ZeroPage& page, size_t offset) {
  T v;
  std::memcpy(&v, page.data() + offset, sizeof v);
  return v;
}

TEST(E820, SmallGuestHasLowRamReservedAreasAndHighRam) {
  const auto map = build_e820_map(plan_ram_regions(512ull << 20));
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map[0], (E820Entry{0, 0x9fc00, E820Type::kRam}));
  EXPECT_EQ(map[1], (E820Entry{0x9fc00, 0x400, E820Type::kReserved}));
  EXPECT_EQ(map[2], (E820Entry{0xe0000, 0x20000, E820Type::kReserved}));
  EXPECT_EQ(map[3], (E820Entry{0x100000, (512ull << 20) - 0x100000, E820Type::kRam}));
}

TEST(E820, LargeGuestSkipsThePciHole) {
  const auto map = build_e820_map(plan_ram_regions(6ull << 30));
  ASSERT_EQ(map.size(), 5u);
  EXPECT_EQ(map[3].address + map[3].size, kPciHoleStart);
  EXPECT_EQ(map[4], (E820Entry{kFourGiB, 3ull << 30, E820Type::kRam}));
  uint64_t ram = 0;
  for (const auto& e : map) {
    if (e.type == E820Type::kRam) ram += e.size;
  }
  EXPECT_EQ(ram, (6ull << 30) - (0xa0000 - 0x9fc00) - 0x60000);  // minus the low holes
}

TEST(E820, EntriesAreSortedAndDisjoint) {
  const auto map = build_e820_map(plan_ram_regions(4ull << 30));
  for (size_t i = 1; i < map.size(); ++i) {
    EXPECT_LE(map[i - 1].address + map[i - 1].size, map[i].address);
  }
}

TEST(BootParams, FillsLoaderFieldsAndE820Table) {
  const auto image_bytes = testing::make_fake_bzimage();
  const BzImage image = parse_bzimage(image_bytes);
  BootParamsInput in;
  in.image = &image;
  in.e820 = build_e820_map(plan_ram_regions(1ull << 30));
  in.cmdline_address = 0x20000;
  in.cmdline_size = 12;
  in.initrd_address = 0x3f000000;
  in.initrd_size = 0x123456;
  in.acpi_rsdp_address = 0xe0000;
  const ZeroPage page = build_boot_params(in);

  // The header is copied from the image...
  EXPECT_EQ(get<uint16_t>(page, 0x1fe), 0xAA55);
  EXPECT_EQ(std::memcmp(page.data() + 0x202, "HdrS", 4), 0);
  EXPECT_EQ(get<uint16_t>(page, 0x206), 0x020f);
  // ...and the loader's fields are filled in.
  EXPECT_EQ(page[0x210], 0xff);
  EXPECT_EQ(page[0x211] & 0x81, 0x81);  // LOADED_HIGH kept, CAN_USE_HEAP set
  EXPECT_EQ(get<uint16_t>(page, 0x224), 0xfe00);
  EXPECT_EQ(get<uint32_t>(page, 0x228), 0x20000u);
  EXPECT_EQ(get<uint32_t>(page, 0x218), 0x3f000000u);
  EXPECT_EQ(get<uint32_t>(page, 0x21c), 0x123456u);
  EXPECT_EQ(get<uint32_t>(page, 0x0c0), 0u);
  EXPECT_EQ(get<uint64_t>(page, 0x070), 0xe0000u);

  ASSERT_EQ(page[0x1e8], in.e820.size());
  for (size_t i = 0; i < in.e820.size(); ++i) {
    const size_t at = 0x2d0 + 20 * i;
    EXPECT_EQ(get<uint64_t>(page, at), in.e820[i].address);
    EXPECT_EQ(get<uint64_t>(page, at + 8), in.e820[i].size);
    EXPECT_EQ(get<uint32_t>(page, at + 16), static_cast<uint32_t>(in.e820[i].type));
  }
}

TEST(BootParams, HighInitrdUsesExtFields) {
  const auto image_bytes = testing::make_fake_bzimage();
  const BzImage image = parse_bzimage(image_bytes);
  BootParamsInput in;
  in.image = &image;
  in.initrd_address = 0x1'2000'0000;
  in.initrd_size = 0x1000;
  const ZeroPage page = build_boot_params(in);
  EXPECT_EQ(get<uint32_t>(page, 0x218), 0x20000000u);
  EXPECT_EQ(get<uint32_t>(page, 0x0c0), 1u);
  EXPECT_EQ(get<uint64_t>(page, 0x070), 0u);  // no RSDP given
}

}  // namespace
}  // namespace vmm
