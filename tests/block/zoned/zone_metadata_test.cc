// The zone metadata sidecar file: format on first use, round trip, torn/damaged records,
// geometry checks with clear errors.
#include "block/zoned/zone_metadata.h"
#include "block/zoned/crc32c.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "block/error.h"
#include "tests/block/test_util.h"
#include "tests/block/zoned/zoned_test_util.h"

namespace block::zoned {
namespace {

using block::testing::TempDir;
using L = MetadataLayout;

ZoneGeometry geo() {
  ZoneGeometry g;
  g.zone_sectors = 2048;
  g.capacity_sectors = 1536;
  g.nr_zones = 8;
  g.disk_sectors = 8 * 2048;
  g.conventional_zones = 2;
  g.max_open_zones = 4;
  g.max_active_zones = 6;
  g.max_append_sectors = 256;
  return g;
}

std::string error_of(const std::string& path, const ZoneGeometry& g) {
  try {
    ZoneMetadata::open(path, g, false, false);
  } catch (const BlockError& e) {
    return e.what();
  }
  return "no error";
}

void scribble(const std::string& path, uint64_t offset, uint8_t value) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::pwrite(fd.get(), &value, 1, static_cast<off_t>(offset)), 1);
}

TEST(ZoneMetadataTest, MissingFileIsFormattedAndEveryZoneIsEmpty) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_TRUE(m.created());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), L::slot_offset(8, 0));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  for (uint32_t z = 2; z < 8; ++z) {
    EXPECT_EQ(m.loaded()[z].condition, ZoneCondition::kEmpty);
    EXPECT_EQ(m.loaded()[z].data_end, z * 2048u);
    EXPECT_FALSE(m.loaded()[z].corrupt);
  }
  ZoneMetadata again = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_FALSE(again.created());
}

TEST(ZoneMetadataTest, RecordsSurviveReopen) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  {
    ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 100).is_ok());
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 200).is_ok());
    ASSERT_TRUE(m.write(4, ZoneCondition::kFull, 4 * 2048 + 8).is_ok());
    ASSERT_TRUE(m.write(5, ZoneCondition::kOffline, 5 * 2048).is_ok());
    ASSERT_TRUE(m.sync().is_ok());
  }
  ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_EQ(m.loaded()[3].condition, ZoneCondition::kClosed);
  EXPECT_EQ(m.loaded()[3].data_end, 3 * 2048u + 200);
  EXPECT_EQ(m.loaded()[4].condition, ZoneCondition::kFull);
  EXPECT_EQ(m.loaded()[4].data_end, 4 * 2048u + 8);
  EXPECT_EQ(m.loaded()[5].condition, ZoneCondition::kOffline);
  EXPECT_EQ(m.loaded()[2].condition, ZoneCondition::kEmpty);
}

TEST(ZoneMetadataTest, TornRecordFallsBackToThePreviousGeneration) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  {
    ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 100).is_ok());  // gen 1, slot 1
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 200).is_ok());  // gen 2, slot 0
  }
  scribble(path, L::slot_offset(3, 0) + 9, 0x5a);  // damage the newer record
  ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_FALSE(m.loaded()[3].corrupt);
  EXPECT_EQ(m.loaded()[3].data_end, 3 * 2048u + 100);
  // The next write goes to the damaged slot's partner generation order, and wins.
  ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 300).is_ok());
  ZoneMetadata m2 = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_EQ(m2.loaded()[3].data_end, 3 * 2048u + 300);
}

TEST(ZoneMetadataTest, BothSlotsDamagedMarksTheZoneCorrupt) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  {
    ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 100).is_ok());
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 200).is_ok());
  }
  scribble(path, L::slot_offset(3, 0) + 9, 0x5a);
  scribble(path, L::slot_offset(3, 1) + 9, 0x5a);
  ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_TRUE(m.loaded()[3].corrupt);
  EXPECT_FALSE(m.loaded()[4].corrupt);
}

TEST(ZoneMetadataTest, RecordForAnotherZoneIsIgnored) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  {
    ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
    ASSERT_TRUE(m.write(3, ZoneCondition::kClosed, 3 * 2048 + 100).is_ok());  // slot 1
  }
  // Copy zone 3's record into zone 4's slot: valid CRC, wrong zone number.
  std::vector<uint8_t> rec = block::testing::read_file(path, L::slot_offset(3, 1), L::kRecordBytes);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(::pwrite(fd.get(), rec.data(), rec.size(), static_cast<off_t>(L::slot_offset(4, 1))), 32);
  ZoneMetadata m = ZoneMetadata::open(path, geo(), false, false);
  EXPECT_TRUE(m.loaded()[4].corrupt);
}

TEST(ZoneMetadataTest, GeometryMismatchIsAClearError) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  ZoneMetadata::open(path, geo(), false, false);
  ZoneGeometry other = geo();
  other.zone_sectors = 4096;
  other.nr_zones = 4;
  EXPECT_EQ(error_of(path, other),
            "vmm: -drive: zone metadata " + path +
                ": geometry mismatch: zone_size is 1M in the file but 2M with these options (fix the "
                "-drive options, or delete the file to reformat, which empties every zone)");
  other = geo();
  other.conventional_zones = 3;
  EXPECT_EQ(error_of(path, other),
            "vmm: -drive: zone metadata " + path +
                ": geometry mismatch: conventional_zones is 2 in the file but 3 with these options (fix "
                "the -drive options, or delete the file to reformat, which empties every zone)");
  // Limits are not geometry: they may change between runs.
  other = geo();
  other.max_open_zones = 1;
  EXPECT_EQ(error_of(path, other), "no error");
}

TEST(ZoneMetadataTest, DamagedHeaderIsNeverReformatted) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  block::testing::write_file(path, std::vector<uint8_t>(8192, 0x11));
  EXPECT_EQ(error_of(path, geo()), "vmm: -drive: zone metadata " + path + ": not a zone metadata file (bad magic)");
  ZoneMetadata::open(dir.file("e.zones"), geo(), false, false);
  scribble(dir.file("e.zones"), 20, 0xff);
  EXPECT_EQ(error_of(dir.file("e.zones"), geo()),
            "vmm: -drive: zone metadata " + dir.file("e.zones") + ": header checksum mismatch (damaged file)");
  ZoneMetadata::open(dir.file("f.zones"), geo(), false, false);
  ASSERT_EQ(::truncate(dir.file("f.zones").c_str(), 4096 + 100), 0);
  EXPECT_EQ(error_of(dir.file("f.zones"), geo()),
            "vmm: -drive: zone metadata " + dir.file("f.zones") + ": truncated (expected 4608 bytes)");
}

TEST(ZoneMetadataTest, ReadOnlyWithoutFileCreatesNothing) {
  TempDir dir;
  std::string path = dir.file("d.img.zones");
  ZoneMetadata m = ZoneMetadata::open(path, geo(), true, false);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(m.loaded()[2].condition, ZoneCondition::kEmpty);
  EXPECT_EQ(m.write(2, ZoneCondition::kClosed, 4096 + 8), Status::of(StatusCode::kReadOnly));
}

TEST(ZoneMetadataTest, Crc32cKnownAnswer) {
  const char* s = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(s), 9), 0xE3069283u);
}

}  // namespace
}  // namespace block::zoned
