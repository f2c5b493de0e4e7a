// Defaults and validation of the zoned geometry (-drive zoned=on,...).
#include "block/zoned/zone_geometry.h"

#include <gtest/gtest.h>

#include "block/drive_options.h"
#include "block/error.h"

namespace block::zoned {
namespace {

constexpr uint64_t MiB = 1 << 20;
constexpr uint64_t GiB = 1ull << 30;

ZonedOptions opts(const std::string& extra = "") {
  return parse_drive_options("file=x,zoned=on" + extra).zoned;
}

std::string error_of(const ZonedOptions& o, uint64_t disk, uint32_t granularity = 512) {
  try {
    resolve_geometry(o, disk, granularity, "disk.img");
  } catch (const BlockError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ZoneGeometryTest, DefaultsOnAOneGigabyteDisk) {
  ZoneGeometry g = resolve_geometry(opts(), GiB, 512, "d");
  EXPECT_EQ(g.zone_sectors * 512, 16 * MiB);
  EXPECT_EQ(g.capacity_sectors, g.zone_sectors);
  EXPECT_EQ(g.nr_zones, 64u);
  EXPECT_EQ(g.conventional_zones, 4u);
  EXPECT_EQ(g.max_open_zones, 8u);
  EXPECT_EQ(g.max_active_zones, 12u);
  EXPECT_EQ(g.max_append_sectors, 2048u);  // 1 MiB
  EXPECT_EQ(g.write_granularity, 512u);
}

TEST(ZoneGeometryTest, DefaultZoneSizeGrowsWithTheDisk) {
  EXPECT_EQ(resolve_geometry(opts(), 4 * GiB, 512, "d").zone_sectors * 512, 32 * MiB);
  EXPECT_EQ(resolve_geometry(opts(), 16 * GiB, 512, "d").zone_sectors * 512, 64 * MiB);
  // Small disks get smaller zones so there are enough of them.
  ZoneGeometry small = resolve_geometry(opts(), 32 * MiB, 512, "d");
  EXPECT_EQ(small.zone_sectors * 512, 2 * MiB);
  EXPECT_EQ(small.nr_zones, 16u);
  EXPECT_GE(small.conventional_zones, 2u);
}

TEST(ZoneGeometryTest, ExplicitValuesWin) {
  ZoneGeometry g = resolve_geometry(
      opts(",zone_size=4M,zone_capacity=3M,conventional_zones=0,max_open_zones=0,max_active_zones=0,"
           "max_append_sectors=64"),
      64 * MiB, 512, "d");
  EXPECT_EQ(g.zone_sectors, 8192u);
  EXPECT_EQ(g.capacity_sectors, 6144u);
  EXPECT_EQ(g.conventional_zones, 0u);
  EXPECT_EQ(g.max_open_zones, 0u);
  EXPECT_EQ(g.max_active_zones, 0u);
  EXPECT_EQ(g.max_append_sectors, 64u);
}

TEST(ZoneGeometryTest, OpenLimitFollowsASmallerActiveLimit) {
  ZoneGeometry g = resolve_geometry(opts(",max_active_zones=4"), GiB, 512, "d");
  EXPECT_EQ(g.max_open_zones, 4u);
}

TEST(ZoneGeometryTest, LastZoneMayBeSmaller) {
  ZoneGeometry g = resolve_geometry(opts(",zone_size=1M,conventional_zones=2"), 10 * MiB + 512 * 1024, 512, "d");
  EXPECT_EQ(g.nr_zones, 11u);
  EXPECT_EQ(g.zone_length(10), 1024u);
  EXPECT_EQ(g.zone_capacity(10), 1024u);
  EXPECT_EQ(g.zone_length(9), 2048u);
}

TEST(ZoneGeometryTest, GranularityFollowsThePhysicalBlock) {
  ZoneGeometry g = resolve_geometry(opts(",zone_size=1M"), 64 * MiB, 4096, "d");
  EXPECT_EQ(g.write_granularity, 4096u);
  EXPECT_EQ(g.max_append_sectors % 8, 0u);
}

TEST(ZoneGeometryTest, ClearErrors) {
  EXPECT_EQ(error_of(opts(",zone_size=3M"), GiB),
            "vmm: -drive file=disk.img: zone_size=3M is not a power of two multiple of 512 bytes");
  EXPECT_EQ(error_of(opts(",zone_size=1000"), GiB),
            "vmm: -drive file=disk.img: zone_size=1000 is not a power of two multiple of 512 bytes");
  EXPECT_EQ(error_of(opts(",zone_size=1M,conventional_zones=64"), 64 * MiB),
            "vmm: -drive file=disk.img: conventional_zones=64 leaves no sequential zone (the disk has 64 "
            "zones of zone_size=1M)");
  EXPECT_EQ(error_of(opts(",zone_size=64M"), 32 * MiB),
            "vmm: -drive file=disk.img: file too small for zoned=on: 33554432 bytes is less than one zone "
            "(zone_size=64M)");
  EXPECT_EQ(error_of(opts(), 0),
            "vmm: -drive file=disk.img: file too small for zoned=on: 0 bytes is less than one zone "
            "(zone_size=1M)");
  EXPECT_EQ(error_of(opts(",max_open_zones=9,max_active_zones=4"), GiB),
            "vmm: -drive file=disk.img: max_open_zones=9 exceeds max_active_zones=4");
  EXPECT_EQ(error_of(opts(",zone_size=1M,zone_capacity=1536"), GiB, 4096),
            "vmm: -drive file=disk.img: zone_capacity=1536 is not a multiple of the write granularity "
            "(4096 bytes)");
  EXPECT_EQ(error_of(opts(",max_append_sectors=9"), GiB, 4096),
            "vmm: -drive file=disk.img: max_append_sectors=9 is not a multiple of the write granularity (8 "
            "sectors)");
  ZonedOptions big = opts();
  big.zone_size = 2 * MiB;
  big.zone_capacity = 4 * MiB;  // bypassing the parser's own check
  EXPECT_EQ(error_of(big, GiB), "vmm: -drive file=disk.img: zone_capacity=4M is larger than zone_size=2M");
}

TEST(ZoneGeometryTest, DefaultConventionalZonesLeaveASequentialZone) {
  ZoneGeometry one = resolve_geometry(opts(",zone_size=1M"), MiB, 512, "d");
  EXPECT_EQ(one.nr_zones, 1u);
  EXPECT_EQ(one.conventional_zones, 0u);
  EXPECT_EQ(resolve_geometry(opts(",zone_size=1M"), 2 * MiB, 512, "d").conventional_zones, 1u);
  EXPECT_EQ(resolve_geometry(opts(",zone_size=1M"), 3 * MiB, 512, "d").conventional_zones, 2u);
  EXPECT_EQ(resolve_geometry(opts(",zone_size=1M"), 15 * MiB, 512, "d").conventional_zones, 2u);
  EXPECT_EQ(resolve_geometry(opts(",zone_size=1M"), 16 * MiB, 512, "d").conventional_zones, 4u);
}

TEST(ZoneGeometryTest, ParserRemembersExplicitZeroes) {
  ZonedOptions o = opts(",conventional_zones=0,max_open_zones=0");
  EXPECT_TRUE(o.conventional_zones_set);
  EXPECT_TRUE(o.max_open_zones_set);
  EXPECT_FALSE(o.max_active_zones_set);
}

}  // namespace
}  // namespace block::zoned
