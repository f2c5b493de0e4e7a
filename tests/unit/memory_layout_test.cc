#include "vmm/memory_layout.h"

#include <gtest/gtest.h>

#include "vmm/guest_memory.h"

namespace vmm {
namespace {

TEST(MemoryLayout, SmallRamIsOneRegion) {
  EXPECT_EQ(plan_ram_regions(512ull << 20), (std::vector<RamRegion>{{0, 512ull << 20}}));
  EXPECT_EQ(plan_ram_regions(3ull << 30), (std::vector<RamRegion>{{0, 3ull << 30}}));
}

TEST(MemoryLayout, RamAboveThreeGiBContinuesAtFourGiB) {
  EXPECT_EQ(plan_ram_regions(4ull << 30),
            (std::vector<RamRegion>{{0, kPciHoleStart}, {kFourGiB, 1ull << 30}}));
}

TEST(GuestMemory, SpanIsBoundsChecked) {
  GuestMemory memory(plan_ram_regions(64ull << 20));
  EXPECT_EQ(memory.total_bytes(), 64ull << 20);
  EXPECT_EQ(memory.low_ram_end(), 64ull << 20);
  memory.write_object<uint32_t>(0x1000, 0xdeadbeef);
  EXPECT_EQ(memory.span(0x1000, 4)[0], 0xef);
  EXPECT_NO_THROW(memory.span((64ull << 20) - 8, 8));
  EXPECT_THROW(memory.span((64ull << 20) - 4, 8), std::out_of_range);
  EXPECT_THROW(memory.span(~0ull - 2, 8), std::out_of_range);
}

TEST(GuestMemory, HighRegionIsAddressedAboveFourGiB) {
  // Mapped with MAP_NORESERVE, so 3 GiB + 16 MiB costs nothing until touched.
  GuestMemory memory(plan_ram_regions((3ull << 30) + (16ull << 20)));
  ASSERT_EQ(memory.slots().size(), 2u);
  EXPECT_NO_THROW(memory.span(kFourGiB, 16ull << 20));
  EXPECT_THROW(memory.span(kPciHoleStart, 1), std::out_of_range);
  EXPECT_THROW(memory.span(kFourGiB + (16ull << 20), 1), std::out_of_range);
}

}  // namespace
}  // namespace vmm
