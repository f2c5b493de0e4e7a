// Write pointer handling with requests in flight, on a memory driver whose completions the
// test orders (and fails): reservation at submission, delivery in write-pointer order, the
// failure policy, zone management waiting for writes, and flush snapshots.
#include <memory>

#include <gtest/gtest.h>

#include "block/zoned/zoned_backend.h"
#include "tests/block/test_util.h"
#include "tests/block/zoned/zoned_test_util.h"

namespace block::zoned::testing {
namespace {

using block::testing::TempDir;

constexpr uint64_t kZoneSectors = 128;  // 64 KiB zones, 48 KiB writable, 10 zones
constexpr uint64_t Z(uint32_t zone) { return zone * kZoneSectors; }

struct Rig {
  ManualDriver* drv = nullptr;
  std::unique_ptr<ZonedBackend> zb;
  int order = 0;

  explicit Rig(const std::string& metadata_path = "", const std::string& extra = "") {
    auto driver = std::make_unique<ManualDriver>(10 * 64 * 1024);
    drv = driver.get();
    auto inner = std::make_unique<Backend>(std::move(driver), BackendPolicy{}, 10 * 64 * 1024);
    ZonedOptions o = parse_drive_options(
                         "file=x,zoned=on,zone_size=64K,zone_capacity=48K,conventional_zones=2,"
                         "max_open_zones=2,max_active_zones=3,max_append_sectors=16" +
                         extra)
                         .zoned;
    zb = std::make_unique<ZonedBackend>(std::move(inner), o, metadata_path, "mem");
  }
  ~Rig() {
    drv->immediate = true;
    drv->finish_all();
  }
  void submit(ZSlot& s) {
    s.counter = &order;
    zb->submit(s.req);
  }
  void complete(size_t i, bool ok = true) {
    drv->finish(i, ok);
    zb->process_completions();
  }
};

TEST(ZonedInflightTest, AppendsInFlightGetDisjointSectorsAndCompleteInOrder) {
  Rig r;
  ZSlot a, b, c;
  a.io(Op::kZoneAppend, Z(2) * kSector, 8 * kSector, 0xa1);
  b.io(Op::kZoneAppend, Z(2) * kSector, 16 * kSector, 0xb2);
  c.io(Op::kZoneAppend, Z(2) * kSector, 8 * kSector, 0xc3);
  r.submit(a);
  r.submit(b);
  r.submit(c);
  ASSERT_EQ(r.drv->pending.size(), 3u);
  EXPECT_EQ(r.zb->zones().zone(2).write_pointer, Z(2) + 32);  // reserved at submission
  r.complete(2);  // c's data lands first
  r.complete(1);  // then b's
  EXPECT_EQ(c.completions + b.completions, 0);  // a is still in flight: nothing delivered
  EXPECT_EQ(r.zb->zones().zone(2).data_end, Z(2));
  r.complete(0);
  ASSERT_EQ(a.completions + b.completions + c.completions, 3);
  EXPECT_EQ(a.append_sector, Z(2));
  EXPECT_EQ(b.append_sector, Z(2) + 8);
  EXPECT_EQ(c.append_sector, Z(2) + 24);
  EXPECT_LT(a.order, b.order);
  EXPECT_LT(b.order, c.order);
  EXPECT_EQ(r.zb->zones().zone(2).data_end, Z(2) + 32);
  EXPECT_EQ(r.drv->disk[(Z(2) + 8) * kSector], 0xb2);
  EXPECT_EQ(r.drv->disk[(Z(2) + 24) * kSector], 0xc3);
  EXPECT_EQ(a.bytes, 8 * kSector);
}

TEST(ZonedInflightTest, WriteAtTheNewWritePointerIsAcceptedWhileEarlierOnesFly) {
  Rig r;
  ZSlot a, b;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  b.io(Op::kWrite, (Z(2) + 8) * kSector, 8 * kSector, 2);
  r.submit(a);
  r.submit(b);
  EXPECT_EQ(r.drv->pending.size(), 2u);
  EXPECT_EQ(report_one(*r.zb, Z(2)).write_pointer, Z(2) + 16);
  r.drv->finish_all();
  r.zb->process_completions();
  EXPECT_TRUE(a.status.is_ok());
  EXPECT_TRUE(b.status.is_ok());
}

TEST(ZonedInflightTest, FailedLastWriteRollsTheWritePointerBack) {
  Rig r;
  ZSlot a, b;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  b.io(Op::kWrite, (Z(2) + 8) * kSector, 8 * kSector, 2);
  r.submit(a);
  r.submit(b);
  r.complete(0);
  r.complete(0, false);
  EXPECT_TRUE(a.status.is_ok());
  EXPECT_EQ(b.status, Status::from_errno(EIO));
  EXPECT_EQ(r.zb->zones().zone(2).write_pointer, Z(2) + 8);
  // The guest retries at the write pointer it reads back.
  ZSlot c;
  c.io(Op::kWrite, (Z(2) + 8) * kSector, 8 * kSector, 3);
  r.submit(c);
  r.complete(0);
  EXPECT_TRUE(c.status.is_ok());
  EXPECT_EQ(r.zb->zones().zone(2).data_end, Z(2) + 16);
}

TEST(ZonedInflightTest, FailedWriteFailsTheWritesAfterItAndNewOnesUntilSettled) {
  Rig r;
  ZSlot a, b, c, d;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  b.io(Op::kZoneAppend, Z(2) * kSector, 8 * kSector, 2);
  c.io(Op::kZoneAppend, Z(2) * kSector, 8 * kSector, 3);
  r.submit(a);
  r.submit(b);
  r.submit(c);
  r.complete(2);         // c done
  r.complete(1, false);  // b fails while a is in flight
  d.io(Op::kWrite, (Z(2) + 24) * kSector, 8 * kSector, 4);
  r.submit(d);
  EXPECT_EQ(d.status, Status::from_errno(EIO));  // zone is recovering
  EXPECT_EQ(a.completions + b.completions + c.completions, 0);
  r.complete(0);  // a done: b failed, c discarded
  EXPECT_TRUE(a.status.is_ok());
  EXPECT_EQ(b.status, Status::from_errno(EIO));
  EXPECT_EQ(c.status, Status::from_errno(EIO));
  EXPECT_EQ(r.zb->zones().zone(2).write_pointer, Z(2) + 8);
  EXPECT_EQ(r.zb->zones().zone(2).data_end, Z(2) + 8);
  ZSlot e;
  e.io(Op::kZoneAppend, Z(2) * kSector, 8 * kSector, 5);
  r.submit(e);
  r.complete(0);
  EXPECT_TRUE(e.status.is_ok());
  EXPECT_EQ(e.append_sector, Z(2) + 8);
}

TEST(ZonedInflightTest, ResetWaitsForInFlightWritesAndLaterWritesWaitBehindIt) {
  Rig r;
  ZSlot a, reset, b, other;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  reset.zone_op(Op::kZoneReset, Z(2) * kSector);
  b.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 2);
  other.io(Op::kRead, Z(0) * kSector, 8 * kSector);
  r.submit(a);
  r.submit(reset);
  r.submit(b);
  r.submit(other);  // reads are not held
  EXPECT_EQ(reset.completions, 0);
  EXPECT_EQ(b.completions, 0);
  EXPECT_EQ(r.zb->in_flight(), 2u + 2u);  // a, read in the driver; reset, b held
  r.complete(1);  // the read
  EXPECT_EQ(other.completions, 1);
  r.complete(0);  // a: reset runs, then b at the zone start
  EXPECT_TRUE(a.status.is_ok());
  EXPECT_TRUE(reset.status.is_ok());
  EXPECT_LT(a.order, reset.order);
  ASSERT_EQ(r.drv->pending.size(), 1u);
  r.complete(0);
  EXPECT_TRUE(b.status.is_ok());
  EXPECT_EQ(r.zb->zones().zone(2).data_end, Z(2) + 8);
  EXPECT_EQ(r.drv->disk[Z(2) * kSector], 2);
}

TEST(ZonedInflightTest, ResetAllWaitsForEveryZone) {
  Rig r;
  ZSlot a, all;
  a.io(Op::kWrite, Z(5) * kSector, 8 * kSector, 1);
  all.zone_op(Op::kZoneResetAll, 0);
  r.submit(a);
  r.submit(all);
  EXPECT_EQ(all.completions, 0);
  r.complete(0);
  EXPECT_TRUE(all.status.is_ok());
  EXPECT_EQ(r.zb->zones().zone(5).condition, ZoneCondition::kEmpty);
}

TEST(ZonedInflightTest, FlushPersistsOnlyWritePointersItCovers) {
  TempDir dir;
  std::string meta = dir.file("m.zones");
  Rig r(meta);
  ZSlot a, flush, b;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  r.submit(a);
  r.complete(0);
  flush.req.op = Op::kFlush;
  r.submit(flush);
  b.io(Op::kWrite, (Z(2) + 8) * kSector, 8 * kSector, 2);
  r.submit(b);
  // Complete b's data before the flush: the flush must not persist b's write pointer.
  ASSERT_EQ(r.drv->pending.size(), 2u);
  r.complete(1);
  EXPECT_TRUE(b.status.is_ok());
  r.complete(0);
  EXPECT_TRUE(flush.status.is_ok());
  const ZoneGeometry& g = r.zb->zones().geometry();
  ZoneMetadata m = ZoneMetadata::open(meta, g, true, false);
  EXPECT_EQ(m.loaded()[2].condition, ZoneCondition::kClosed);
  EXPECT_EQ(m.loaded()[2].data_end, Z(2) + 8);
  // A second flush covers b.
  ZSlot flush2;
  flush2.req.op = Op::kFlush;
  r.submit(flush2);
  r.complete(0);
  EXPECT_EQ(ZoneMetadata::open(meta, g, true, false).loaded()[2].data_end, Z(2) + 16);
}

TEST(ZonedInflightTest, FailedFlushPersistsNothing) {
  TempDir dir;
  std::string meta = dir.file("m.zones");
  Rig r(meta);
  ZSlot a, flush;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  r.submit(a);
  r.complete(0);
  flush.req.op = Op::kFlush;
  r.submit(flush);
  r.complete(0, false);
  EXPECT_FALSE(flush.status.is_ok());
  const ZoneGeometry& g = r.zb->zones().geometry();
  EXPECT_EQ(ZoneMetadata::open(meta, g, true, false).loaded()[2].data_end, Z(2));
  ZSlot retry;
  retry.req.op = Op::kFlush;
  r.submit(retry);
  r.complete(0);
  EXPECT_TRUE(retry.status.is_ok());
  EXPECT_EQ(ZoneMetadata::open(meta, g, true, false).loaded()[2].data_end, Z(2) + 8);
}

TEST(ZonedInflightTest, FuaWriteAboveUnflushedDataFlushesBeforeCompleting) {
  TempDir dir;
  std::string meta = dir.file("m.zones");
  Rig r(meta);
  ZSlot a, b;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  r.submit(a);
  r.complete(0);
  b.io(Op::kWrite, (Z(2) + 8) * kSector, 8 * kSector, 2);
  b.req.fua = true;
  r.submit(b);
  r.complete(0);  // data
  EXPECT_EQ(b.completions, 0);
  ASSERT_EQ(r.drv->pending.size(), 1u);  // the flush for the earlier write
  r.complete(0);
  EXPECT_TRUE(b.status.is_ok());
  EXPECT_EQ(ZoneMetadata::open(meta, r.zb->zones().geometry(), true, false).loaded()[2].data_end, Z(2) + 16);
}

TEST(ZonedInflightTest, FuaWriteContinuingDurableDataPersistsWithoutAFlush) {
  TempDir dir;
  std::string meta = dir.file("m.zones");
  Rig r(meta);
  ZSlot a;
  a.io(Op::kZoneAppend, Z(3) * kSector, 8 * kSector, 1);
  a.req.fua = true;
  r.submit(a);
  r.complete(0);
  EXPECT_TRUE(a.status.is_ok());
  EXPECT_TRUE(r.drv->pending.empty());
  EXPECT_EQ(ZoneMetadata::open(meta, r.zb->zones().geometry(), true, false).loaded()[3].data_end, Z(3) + 8);
}

TEST(ZonedInflightTest, InjectionRefusedWhileWritesFly) {
  Rig r;
  ZSlot a;
  a.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 1);
  r.submit(a);
  EXPECT_EQ(r.zb->inject_condition(2, ZoneCondition::kOffline), Status::of(StatusCode::kInvalid));
  r.complete(0);
  EXPECT_TRUE(r.zb->inject_condition(2, ZoneCondition::kOffline).is_ok());
}

}  // namespace
}  // namespace block::zoned::testing
