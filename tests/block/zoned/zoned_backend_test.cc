// The zoned backend on real image files: requests a virtio-blk device would send, what it
// reads back, the device config values, persistence across restarts, hostile input.
#include "block/zoned/zoned_backend.h"

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "block/error.h"
#include "tests/block/test_util.h"
#include "tests/block/zoned/zoned_test_util.h"

namespace block::zoned::testing {
namespace {

using block::testing::TempDir;

// 16 MiB image, 1 MiB zones (2048 sectors) with 768 KiB (1536 sectors) capacity, zones 0-1
// conventional; max open 3, max active 4.
constexpr uint64_t kZoneSectors = 2048;
constexpr uint64_t kCap = 1536;
constexpr uint64_t Z(uint32_t zone) { return zone * kZoneSectors; }
constexpr uint8_t kStale = 0x5c;  // what the image holds before any zone write

struct Disk {
  TempDir dir;
  std::string path = dir.file("zoned.img");
  std::string aio;
  explicit Disk(const char* aio_engine) : aio(aio_engine) {
    block::testing::write_file(path, std::vector<uint8_t>(16 << 20, kStale));
  }
  std::unique_ptr<ZonedBackend> open(const std::string& extra = "",
                                     const std::string& zones = ",zone_size=1M,zone_capacity=768K") {
    return ZonedBackend::open(parse_drive_options("file=" + path + ",zoned=on" + zones +
                                                  ",conventional_zones=2,max_open_zones=3,"
                                                  "max_active_zones=4,aio=" + aio +
                                                  extra));
  }
};

class ZonedBackendTest : public ::testing::TestWithParam<const char*> {};

Status read_at(ZonedBackend& zb, uint64_t sector, size_t bytes, std::vector<uint8_t>* out) {
  ZSlot s;
  s.io(Op::kRead, sector * kSector, bytes, 0xee);
  Status st = run(zb, s);
  *out = s.buf;
  return st;
}

bool all_equal(const std::vector<uint8_t>& v, size_t from, size_t to, uint8_t value) {
  for (size_t i = from; i < to; ++i) {
    if (v[i] != value) return false;
  }
  return true;
}

Status append(ZonedBackend& zb, uint32_t zone, size_t bytes, uint8_t fill, uint64_t* at) {
  ZSlot s;
  s.io(Op::kZoneAppend, Z(zone) * kSector, bytes, fill);
  Status st = run(zb, s);
  *at = s.append_sector;
  return st;
}

TEST_P(ZonedBackendTest, ConfigForTheDevice) {
  Disk d{GetParam()};
  auto zb = d.open();
  ZonedConfig c = zb->zoned_config();
  EXPECT_EQ(c.zone_sectors, kZoneSectors);
  EXPECT_EQ(c.nr_zones, 16u);
  EXPECT_EQ(c.capacity_sectors, 16u * kZoneSectors);
  EXPECT_EQ(c.max_open_zones, 3u);
  EXPECT_EQ(c.max_active_zones, 4u);
  EXPECT_EQ(c.max_append_sectors, 1536u);  // default 1 MiB, capped at the zone capacity
  EXPECT_EQ(c.write_granularity, 512u);
  EXPECT_EQ(c.model, 1);
  Geometry g = zb->geometry();
  EXPECT_EQ(g.size_bytes, 16u << 20);
  EXPECT_FALSE(g.discard);
  EXPECT_TRUE(std::filesystem::exists(d.path + ".zones"));
}

TEST_P(ZonedBackendTest, ReportZonesRequestFillsRecords) {
  Disk d{GetParam()};
  auto zb = d.open();
  std::vector<ZoneReport> out(4);
  ZSlot s;
  s.zone_op(Op::kZoneReport, (Z(3) + 100) * kSector);  // any sector inside the first zone
  s.req.zone_report = out;
  ASSERT_TRUE(run(*zb, s).is_ok());
  EXPECT_EQ(s.req.zones_reported, 4u);
  EXPECT_EQ(out[0].start, Z(3));
  EXPECT_EQ(out[3].start, Z(6));
  EXPECT_EQ(out[0].capacity, kCap);
  EXPECT_EQ(out[0].length, kZoneSectors);
  EXPECT_EQ(out[0].condition, ZoneCondition::kEmpty);
  s.req.offset = Z(14) * kSector;  // only two zones left
  ASSERT_TRUE(run(*zb, s).is_ok());
  EXPECT_EQ(s.req.zones_reported, 2u);
  s.req.offset = Z(0) * kSector;
  ASSERT_TRUE(run(*zb, s).is_ok());
  EXPECT_EQ(out[0].type, ZoneType::kConventional);
  EXPECT_EQ(out[0].condition, ZoneCondition::kNotWritePointer);
  EXPECT_EQ(out[0].capacity, kZoneSectors);
  EXPECT_EQ(out[2].type, ZoneType::kSequentialWriteRequired);
  s.req.offset = Z(16) * kSector;
  EXPECT_EQ(run(*zb, s), code(StatusCode::kOutOfRange));
  s.req.offset = 0;
  s.req.zone_report = {};
  ASSERT_TRUE(run(*zb, s).is_ok());
  EXPECT_EQ(s.req.zones_reported, 0u);
}

TEST_P(ZonedBackendTest, WritesReadBackAndReadsAboveTheWritePointerAreZero) {
  Disk d{GetParam()};
  auto zb = d.open();
  ASSERT_TRUE(write_at(*zb, Z(2), 8 * kSector, 0xab).is_ok());
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(2), 16 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, 8 * kSector, 0xab));
  EXPECT_TRUE(all_equal(v, 8 * kSector, 16 * kSector, 0));  // the file holds 0x5c there
  ASSERT_TRUE(read_at(*zb, Z(2) + 64, 8 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, v.size(), 0));
  ASSERT_TRUE(read_at(*zb, Z(7), 8 * kSector, &v).is_ok());  // never written zone
  EXPECT_TRUE(all_equal(v, 0, v.size(), 0));
  ASSERT_TRUE(read_at(*zb, Z(2) + kCap, 8 * kSector, &v).is_ok());  // beyond capacity
  EXPECT_TRUE(all_equal(v, 0, v.size(), 0));
  EXPECT_EQ(report_one(*zb, Z(2)).write_pointer, Z(2) + 8);
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kImplicitOpen);
}

TEST_P(ZonedBackendTest, ConventionalZonesAreRandomlyWritable) {
  Disk d{GetParam()};
  auto zb = d.open();
  ASSERT_TRUE(write_at(*zb, Z(1) + 1000, 4 * kSector, 0x11).is_ok());
  ASSERT_TRUE(write_at(*zb, Z(0) + 7, kSector, 0x22).is_ok());
  ASSERT_TRUE(write_at(*zb, Z(0) + 2040, 16 * kSector, 0x33).is_ok());  // across conventional zones
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(0), 16 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, 7 * kSector, kStale));  // conventional: file contents as they are
  EXPECT_TRUE(all_equal(v, 7 * kSector, 8 * kSector, 0x22));
  EXPECT_EQ(write_at(*zb, Z(1) + 2040, 16 * kSector, 0x44), code(StatusCode::kZoneInvalidCmd));  // into zone 2
  ZSlot discard;
  discard.io(Op::kDiscard, Z(1) * kSector, 0);
  discard.req.length = 8 * kSector;
  discard.req.iov = {};
  EXPECT_TRUE(run(*zb, discard).is_ok());
  discard.req.offset = Z(2) * kSector;
  EXPECT_EQ(run(*zb, discard), code(StatusCode::kZoneInvalidCmd));
}

TEST_P(ZonedBackendTest, SequentialWriteRules) {
  Disk d{GetParam()};
  auto zb = d.open();
  EXPECT_EQ(write_at(*zb, Z(2) + 8, 8 * kSector), code(StatusCode::kZoneUnalignedWp));
  ASSERT_TRUE(write_at(*zb, Z(2), kCap * kSector - 8 * kSector).is_ok());
  EXPECT_EQ(write_at(*zb, Z(2) + kCap - 8, 16 * kSector), code(StatusCode::kZoneInvalidCmd));  // capacity
  ASSERT_TRUE(write_at(*zb, Z(3), 8 * kSector).is_ok());
  EXPECT_EQ(write_at(*zb, Z(4) - 8, 16 * kSector), code(StatusCode::kZoneInvalidCmd));  // boundary
  ASSERT_TRUE(write_at(*zb, Z(2) + kCap - 8, 8 * kSector).is_ok());
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kFull);
  EXPECT_EQ(write_at(*zb, Z(2) + kCap, 8 * kSector), code(StatusCode::kZoneInvalidCmd));  // FULL
  std::vector<uint8_t> v;
  EXPECT_EQ(read_at(*zb, Z(3) - 8, 16 * kSector, &v), code(StatusCode::kZoneInvalidCmd));  // read across
}

TEST_P(ZonedBackendTest, ImplicitOpenLimitsOverRequests) {
  Disk d{GetParam()};
  auto zb = d.open();
  for (uint32_t z : {2u, 3u, 4u}) ASSERT_TRUE(write_at(*zb, Z(z), 8 * kSector).is_ok());
  ASSERT_TRUE(write_at(*zb, Z(5), 8 * kSector).is_ok());  // implicitly closes zone 2
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kClosed);
  EXPECT_EQ(write_at(*zb, Z(6), 8 * kSector), code(StatusCode::kZoneActiveResource));
  for (uint32_t z : {3u, 4u, 5u}) ASSERT_TRUE(zone_op(*zb, Op::kZoneOpen, Z(z)).is_ok());
  EXPECT_EQ(write_at(*zb, Z(2) + 8, 8 * kSector), code(StatusCode::kZoneOpenResource));
  ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(5)).is_ok());
  EXPECT_TRUE(write_at(*zb, Z(2) + 8, 8 * kSector).is_ok());
}

TEST_P(ZonedBackendTest, AppendReturnsTheWrittenSector) {
  Disk d{GetParam()};
  auto zb = d.open();
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(append(*zb, 4, 8 * kSector, 0x61, &a).is_ok());
  ASSERT_TRUE(append(*zb, 4, 4 * kSector, 0x62, &b).is_ok());
  EXPECT_EQ(a, Z(4));
  EXPECT_EQ(b, Z(4) + 8);
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(4), 16 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, 8 * kSector, 0x61));
  EXPECT_TRUE(all_equal(v, 8 * kSector, 12 * kSector, 0x62));
  EXPECT_TRUE(all_equal(v, 12 * kSector, 16 * kSector, 0));
}

TEST_P(ZonedBackendTest, AppendErrors) {
  Disk d{GetParam()};
  auto zb = d.open();
  uint64_t at;
  ZSlot s;
  s.io(Op::kZoneAppend, (Z(4) + 8) * kSector, 8 * kSector);
  EXPECT_EQ(run(*zb, s), code(StatusCode::kZoneInvalidCmd));  // not a zone start
  EXPECT_EQ(append(*zb, 4, (kCap + 8) * kSector, 1, &at), code(StatusCode::kZoneInvalidCmd));  // > max
  EXPECT_EQ(append(*zb, 0, 8 * kSector, 1, &at), code(StatusCode::kZoneInvalidCmd));  // conventional
  EXPECT_EQ(append(*zb, 4, 0, 1, &at), code(StatusCode::kZoneInvalidCmd));  // empty
  ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(5)).is_ok());
  EXPECT_EQ(append(*zb, 5, 8 * kSector, 1, &at), code(StatusCode::kZoneInvalidCmd));  // FULL
}

TEST_P(ZonedBackendTest, ConcurrentAppendsGetDisjointSectors) {
  Disk d{GetParam()};
  auto zb = d.open();
  constexpr int kN = 24;
  std::vector<ZSlot> slots(kN);
  {
    ZonedBackend* b = zb.get();
    b->begin_batch();
    for (int i = 0; i < kN; ++i) {
      slots[i].io(Op::kZoneAppend, Z(6) * kSector, 8 * kSector, static_cast<uint8_t>(i + 1));
      b->submit(slots[i].req);
    }
    b->end_batch();
  }
  ASSERT_TRUE(pump_until(*zb, [&] {
    for (auto& s : slots)
      if (s.completions == 0) return false;
    return true;
  }));
  std::set<uint64_t> starts;
  for (auto& s : slots) {
    ASSERT_TRUE(s.status.is_ok());
    starts.insert(s.append_sector);
  }
  ASSERT_EQ(starts.size(), static_cast<size_t>(kN));
  EXPECT_EQ(*starts.begin(), Z(6));
  EXPECT_EQ(*starts.rbegin(), Z(6) + 8 * (kN - 1));
  for (auto& s : slots) {
    std::vector<uint8_t> v;
    ASSERT_TRUE(read_at(*zb, s.append_sector, 8 * kSector, &v).is_ok());
    EXPECT_TRUE(all_equal(v, 0, v.size(), s.buf[0])) << s.append_sector;
  }
  EXPECT_EQ(report_one(*zb, Z(6)).write_pointer, Z(6) + 8 * kN);
}

TEST_P(ZonedBackendTest, FinishAndResetHideStaleData) {
  Disk d{GetParam()};
  auto zb = d.open();
  ASSERT_TRUE(write_at(*zb, Z(2), 8 * kSector, 0xab).is_ok());
  ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(2)).is_ok());
  ZoneReport r = report_one(*zb, Z(2));
  EXPECT_EQ(r.condition, ZoneCondition::kFull);
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(2), 16 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, 8 * kSector, 0xab));
  EXPECT_TRUE(all_equal(v, 8 * kSector, v.size(), 0));
  ASSERT_TRUE(zone_op(*zb, Op::kZoneReset, Z(2)).is_ok());
  EXPECT_EQ(report_one(*zb, Z(2)).write_pointer, Z(2));
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kEmpty);
  ASSERT_TRUE(read_at(*zb, Z(2), 16 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, v.size(), 0));
  ASSERT_TRUE(zone_op(*zb, Op::kZoneReset, Z(2)).is_ok());  // EMPTY stays EMPTY
}

// 512-byte blocks the image file occupies on the host.
uint64_t allocated_sectors(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return static_cast<uint64_t>(st.st_blocks);
}

TEST_P(ZonedBackendTest, ResetGivesTheZoneSpaceBackToTheFile) {
  Disk d{GetParam()};
  auto zb = d.open();
  ASSERT_TRUE(write_at(*zb, Z(3), 512 * kSector, 0x42).is_ok());
  const uint64_t before = allocated_sectors(d.path);
  ASSERT_TRUE(zone_op(*zb, Op::kZoneReset, Z(3)).is_ok());
  const uint64_t after = allocated_sectors(d.path);
  // The whole 1 MiB zone (2048 sectors, including the stale bytes above the data) is punched.
  EXPECT_EQ(before - after, kZoneSectors);
  std::vector<uint8_t> data;
  ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(3)).is_ok());  // FULL: readable to capacity
  ASSERT_TRUE(read_at(*zb, Z(3), 8 * kSector, &data).is_ok());
  EXPECT_TRUE(all_equal(data, 0, data.size(), 0));
}

TEST_P(ZonedBackendTest, ResetAllRequest) {
  Disk d{GetParam()};
  auto zb = d.open();
  ASSERT_TRUE(write_at(*zb, Z(2), 8 * kSector).is_ok());
  ASSERT_TRUE(zone_op(*zb, Op::kZoneOpen, Z(3)).is_ok());
  ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(4)).is_ok());
  ASSERT_TRUE(write_at(*zb, Z(0), 8 * kSector, 0x77).is_ok());
  ASSERT_TRUE(zone_op(*zb, Op::kZoneResetAll, 0).is_ok());
  for (uint32_t z = 2; z < 16; ++z) EXPECT_EQ(report_one(*zb, Z(z)).condition, ZoneCondition::kEmpty) << z;
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(0), 8 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, v.size(), 0x77));  // conventional data untouched
  EXPECT_EQ(zone_op(*zb, Op::kZoneResetAll, Z(2)), code(StatusCode::kInvalid));  // sector must be 0
}

TEST_P(ZonedBackendTest, ZoneOperationsOnConventionalZonesAreInvalid) {
  Disk d{GetParam()};
  auto zb = d.open();
  for (Op op : {Op::kZoneOpen, Op::kZoneClose, Op::kZoneFinish, Op::kZoneReset}) {
    EXPECT_EQ(zone_op(*zb, op, Z(1)), code(StatusCode::kZoneInvalidCmd));
    EXPECT_EQ(zone_op(*zb, op, Z(3) + 8), code(StatusCode::kZoneInvalidCmd));  // not a zone start
  }
}

TEST_P(ZonedBackendTest, InjectedReadOnlyAndOfflineZones) {
  Disk d{GetParam()};
  {
    auto zb = d.open();
    ASSERT_TRUE(write_at(*zb, Z(2), 8 * kSector, 0x99).is_ok());
    ASSERT_TRUE(zone_op(*zb, Op::kZoneClose, Z(2)).is_ok());
    ASSERT_TRUE(zb->inject_condition(2, ZoneCondition::kReadOnly).is_ok());
    ASSERT_TRUE(zb->inject_condition(3, ZoneCondition::kOffline).is_ok());
    EXPECT_EQ(zb->inject_condition(0, ZoneCondition::kOffline), code(StatusCode::kInvalid));
  }
  auto zb = d.open();  // persisted
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kReadOnly);
  EXPECT_EQ(report_one(*zb, Z(3)).condition, ZoneCondition::kOffline);
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(2), 16 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, 8 * kSector, 0x99));
  EXPECT_TRUE(all_equal(v, 8 * kSector, v.size(), 0));
  EXPECT_EQ(read_at(*zb, Z(3), 8 * kSector, &v), code(StatusCode::kZoneInvalidCmd));
  EXPECT_EQ(write_at(*zb, Z(2) + 8, 8 * kSector), code(StatusCode::kZoneInvalidCmd));
  EXPECT_EQ(write_at(*zb, Z(3), 8 * kSector), code(StatusCode::kZoneInvalidCmd));
  for (Op op : {Op::kZoneOpen, Op::kZoneClose, Op::kZoneFinish, Op::kZoneReset}) {
    EXPECT_EQ(zone_op(*zb, op, Z(2)), code(StatusCode::kZoneInvalidCmd));
    EXPECT_EQ(zone_op(*zb, op, Z(3)), code(StatusCode::kZoneInvalidCmd));
  }
  ASSERT_TRUE(zone_op(*zb, Op::kZoneResetAll, 0).is_ok());
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kReadOnly);
}

TEST_P(ZonedBackendTest, StateSurvivesACleanRestartAndOpenZonesComeBackClosed) {
  Disk d{GetParam()};
  {
    auto zb = d.open();
    ASSERT_TRUE(write_at(*zb, Z(2), 8 * kSector, 0x21).is_ok());  // IOPEN
    ASSERT_TRUE(zone_op(*zb, Op::kZoneOpen, Z(3)).is_ok());      // EOPEN, empty
    ASSERT_TRUE(zone_op(*zb, Op::kZoneOpen, Z(4)).is_ok());
    ASSERT_TRUE(write_at(*zb, Z(4), 16 * kSector, 0x22).is_ok());  // EOPEN with data
    ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(5)).is_ok());
    ASSERT_TRUE(write_at(*zb, Z(6), kCap * kSector, 0x23).is_ok());  // FULL by writes
    ASSERT_TRUE(write_at(*zb, Z(7), 8 * kSector).is_ok());
    ASSERT_TRUE(zone_op(*zb, Op::kZoneReset, Z(7)).is_ok());
    // No flush: closing the backend flushes and persists.
  }
  auto zb = d.open();
  EXPECT_EQ(report_one(*zb, Z(2)).condition, ZoneCondition::kClosed);
  EXPECT_EQ(report_one(*zb, Z(2)).write_pointer, Z(2) + 8);
  EXPECT_EQ(report_one(*zb, Z(3)).condition, ZoneCondition::kEmpty);
  EXPECT_EQ(report_one(*zb, Z(4)).condition, ZoneCondition::kClosed);
  EXPECT_EQ(report_one(*zb, Z(4)).write_pointer, Z(4) + 16);
  EXPECT_EQ(report_one(*zb, Z(5)).condition, ZoneCondition::kFull);
  EXPECT_EQ(report_one(*zb, Z(6)).condition, ZoneCondition::kFull);
  EXPECT_EQ(report_one(*zb, Z(7)).condition, ZoneCondition::kEmpty);
  EXPECT_EQ(zb->zones().active_zones(), 2u);
  EXPECT_EQ(zb->zones().open_zones(), 0u);
  std::vector<uint8_t> v;
  ASSERT_TRUE(read_at(*zb, Z(4), 24 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, 16 * kSector, 0x22));
  EXPECT_TRUE(all_equal(v, 16 * kSector, v.size(), 0));
  ASSERT_TRUE(read_at(*zb, Z(6) + kCap - 8, 8 * kSector, &v).is_ok());
  EXPECT_TRUE(all_equal(v, 0, v.size(), 0x23));
  // Writing continues at the restored write pointer.
  EXPECT_TRUE(write_at(*zb, Z(2) + 8, 8 * kSector).is_ok());
}

TEST_P(ZonedBackendTest, FlushPersistsWritePointersAndWritebackDefersThem) {
  Disk d{GetParam()};
  auto zb = d.open();
  ASSERT_TRUE(write_at(*zb, Z(2), 8 * kSector).is_ok());
  const ZoneGeometry& g = zb->zones().geometry();
  auto persisted = [&](uint32_t z) { return ZoneMetadata::open(d.path + ".zones", g, true, false).loaded()[z]; };
  EXPECT_EQ(persisted(2).data_end, Z(2));  // write cache on: not yet durable
  ZSlot flush;
  flush.req.op = Op::kFlush;
  ASSERT_TRUE(run(*zb, flush).is_ok());
  EXPECT_EQ(persisted(2).data_end, Z(2) + 8);
  EXPECT_EQ(persisted(2).condition, ZoneCondition::kClosed);
  ASSERT_TRUE(write_at(*zb, Z(2) + 8, 8 * kSector, 1, /*fua=*/true).is_ok());
  EXPECT_EQ(persisted(2).data_end, Z(2) + 16);  // FUA: durable on completion
  zb->set_write_cache_enabled(false);  // writethrough
  ASSERT_TRUE(write_at(*zb, Z(2) + 16, 8 * kSector).is_ok());
  EXPECT_EQ(persisted(2).data_end, Z(2) + 24);
  ASSERT_TRUE(zone_op(*zb, Op::kZoneFinish, Z(2)).is_ok());
  EXPECT_EQ(persisted(2).condition, ZoneCondition::kFull);  // management: durable at once
}

TEST_P(ZonedBackendTest, WritethroughCacheModePersistsEveryWrite) {
  Disk d{GetParam()};
  auto zb = d.open(",cache=writethrough");
  uint64_t at;
  ASSERT_TRUE(append(*zb, 9, 8 * kSector, 3, &at).is_ok());
  ZoneMetadata m = ZoneMetadata::open(d.path + ".zones", zb->zones().geometry(), true, false);
  EXPECT_EQ(m.loaded()[9].data_end, Z(9) + 8);
}

TEST_P(ZonedBackendTest, GeometryMismatchOnReopenIsAnError) {
  Disk d{GetParam()};
  d.open().reset();
  try {
    d.open("", ",zone_size=512K");
    FAIL() << "no error";
  } catch (const BlockError& e) {
    EXPECT_EQ(std::string(e.what()),
              "vmm: -drive: zone metadata " + d.path +
                  ".zones: geometry mismatch: zone_size is 1M in the file but 512K with these options (fix "
                  "the -drive options, or delete the file to reformat, which empties every zone)");
  }
}

TEST_P(ZonedBackendTest, BadZoneOptionsNameTheFile) {
  Disk d{GetParam()};
  try {
    d.open("", ",zone_size=3M");
    FAIL() << "no error";
  } catch (const BlockError& e) {
    EXPECT_EQ(std::string(e.what()),
              "vmm: -drive file=" + d.path + ": zone_size=3M is not a power of two multiple of 512 bytes");
  }
  EXPECT_FALSE(std::filesystem::exists(d.path + ".zones"));
}

TEST_P(ZonedBackendTest, ReadOnlyDrive) {
  Disk d{GetParam()};
  auto zb = d.open(",readonly=on");
  EXPECT_FALSE(std::filesystem::exists(d.path + ".zones"));
  EXPECT_EQ(write_at(*zb, Z(2), 8 * kSector), code(StatusCode::kReadOnly));
  EXPECT_EQ(zone_op(*zb, Op::kZoneReset, Z(2)), code(StatusCode::kReadOnly));
  uint64_t at;
  EXPECT_EQ(append(*zb, 2, 8 * kSector, 1, &at), code(StatusCode::kReadOnly));
  std::vector<uint8_t> v;
  EXPECT_TRUE(read_at(*zb, Z(2), 8 * kSector, &v).is_ok());
  ZSlot flush;
  flush.req.op = Op::kFlush;
  EXPECT_TRUE(run(*zb, flush).is_ok());
}

TEST_P(ZonedBackendTest, HostileRequestsGetErrorsNotCrashes) {
  Disk d{GetParam()};
  auto zb = d.open();
  const uint64_t huge = ~uint64_t{0} & ~uint64_t{511};
  ZSlot s;
  for (Op op : {Op::kRead, Op::kWrite, Op::kZoneAppend}) {
    s.io(op, huge, 8 * kSector);
    EXPECT_FALSE(run(*zb, s).is_ok());
    s.io(op, huge - 8 * kSector, 8 * kSector);  // ends exactly at 2^64: wraps
    EXPECT_FALSE(run(*zb, s).is_ok());
    s.io(op, (Z(15) + 2040) * kSector, 16 * kSector);  // past the end of the disk
    EXPECT_FALSE(run(*zb, s).is_ok());
    s.io(op, Z(2) * kSector + 100, 8 * kSector);  // not sector aligned
    EXPECT_EQ(run(*zb, s), code(StatusCode::kInvalid));
  }
  s.io(Op::kWrite, Z(2) * kSector, 8 * kSector);
  s.req.length = 16 * kSector;  // iovecs do not match the length
  EXPECT_EQ(run(*zb, s), code(StatusCode::kInvalid));
  EXPECT_EQ(report_one(*zb, Z(2)).write_pointer, Z(2));  // nothing reserved
  for (Op op : {Op::kZoneOpen, Op::kZoneClose, Op::kZoneFinish, Op::kZoneReset, Op::kZoneReport}) {
    s.zone_op(op, huge);
    EXPECT_FALSE(run(*zb, s).is_ok());
    s.zone_op(op, Z(16) * kSector);
    EXPECT_FALSE(run(*zb, s).is_ok());
  }
  s.zone_op(Op::kZoneOpen, Z(2) * kSector);
  s.req.length = 4096;  // zone management carries no data
  EXPECT_EQ(run(*zb, s), code(StatusCode::kInvalid));
  ZSlot wz;
  wz.zone_op(Op::kWriteZeroes, Z(15) * kSector);
  wz.req.length = huge;
  EXPECT_FALSE(run(*zb, wz).is_ok());
  EXPECT_EQ(zb->zones().active_zones(), 0u);
}

TEST_P(ZonedBackendTest, DoubleSubmissionIsALogicError) {
  Disk d{GetParam()};
  auto zb = d.open();
  ZSlot a;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector);
  zb->submit(a.req);
  EXPECT_THROW(zb->submit(a.req), std::logic_error);
  ASSERT_TRUE(pump_until(*zb, [&] { return a.completions > 0; }));
}

TEST_P(ZonedBackendTest, PlainBackendRejectsZoneRequestsAsUnsupported) {
  Disk d{GetParam()};
  auto b = Backend::open(parse_drive_options("file=" + d.path + ",aio=threads"));
  for (Op op : {Op::kZoneReport, Op::kZoneOpen, Op::kZoneClose, Op::kZoneFinish, Op::kZoneReset,
                Op::kZoneResetAll, Op::kZoneAppend}) {
    block::testing::Slot s;
    s.req.op = op;
    b->submit(s.req);
    ASSERT_EQ(s.completions, 1);
    EXPECT_EQ(s.status, code(StatusCode::kUnsupported));
  }
}

INSTANTIATE_TEST_SUITE_P(Aio, ZonedBackendTest, ::testing::Values("threads", "io_uring"));

}  // namespace
}  // namespace block::zoned::testing
