// One test per rule of the zoned state machine (virtio-blk zoned section), on the pure
// ZoneTable: conditions, write pointer checks, open/active resource accounting.
#include "block/zoned/zone_state.h"

#include <gtest/gtest.h>

#include "tests/block/zoned/zoned_test_util.h"

namespace block::zoned {
namespace {

// 10 zones of 64 sectors, 48 writable, the first 2 conventional; open 2, active 3.
ZoneGeometry geo(uint32_t max_open = 2, uint32_t max_active = 3) {
  ZoneGeometry g;
  g.zone_sectors = 64;
  g.capacity_sectors = 48;
  g.nr_zones = 10;
  g.disk_sectors = 640;
  g.conventional_zones = 2;
  g.max_open_zones = max_open;
  g.max_active_zones = max_active;
  g.max_append_sectors = 16;
  return g;
}

constexpr uint64_t Z(uint32_t zone) { return uint64_t{zone} * 64; }
Status S(StatusCode c) { return Status::of(c); }
const Status kOk = Status::ok();
const Status kInvalidCmd = S(StatusCode::kZoneInvalidCmd);

Status write(ZoneTable& t, uint64_t sector, uint64_t n) {
  uint64_t start;
  return t.reserve_write(sector, n, false, &start);
}

ZoneCondition cond(const ZoneTable& t, uint32_t zone) { return t.zone(zone).condition; }

TEST(ZoneStateTest, FreshTableReportsConventionalAndEmptyZones) {
  ZoneTable t(geo());
  ZoneReport c = t.report(1);
  EXPECT_EQ(c.type, ZoneType::kConventional);
  EXPECT_EQ(c.condition, ZoneCondition::kNotWritePointer);
  EXPECT_EQ(c.capacity, 64u);  // conventional: cap == len
  ZoneReport s = t.report(2);
  EXPECT_EQ(s.type, ZoneType::kSequentialWriteRequired);
  EXPECT_EQ(s.condition, ZoneCondition::kEmpty);
  EXPECT_EQ(s.start, Z(2));
  EXPECT_EQ(s.length, 64u);
  EXPECT_EQ(s.capacity, 48u);
  EXPECT_EQ(s.write_pointer, Z(2));
}

TEST(ZoneStateTest, WriteAtWritePointerImplicitlyOpens) {
  ZoneTable t(geo());
  EXPECT_EQ(write(t, Z(2), 8), kOk);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kImplicitOpen);
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 8);
  EXPECT_EQ(t.implicit_open_zones(), 1u);
  EXPECT_EQ(write(t, Z(2) + 8, 8), kOk);
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 16);
}

TEST(ZoneStateTest, WriteNotAtWritePointerIsUnalignedWp) {
  ZoneTable t(geo());
  EXPECT_EQ(write(t, Z(2) + 8, 8), S(StatusCode::kZoneUnalignedWp));
  EXPECT_EQ(cond(t, 2), ZoneCondition::kEmpty);
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  EXPECT_EQ(write(t, Z(2), 8), S(StatusCode::kZoneUnalignedWp));  // behind the WP
}

TEST(ZoneStateTest, WriteCrossingZoneBoundaryIsInvalid) {
  ZoneGeometry g = geo();
  g.capacity_sectors = 64;
  ZoneTable t(g);
  ASSERT_EQ(write(t, Z(2), 56), kOk);
  EXPECT_EQ(write(t, Z(2) + 56, 16), kInvalidCmd);
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 56);
}

TEST(ZoneStateTest, WritePastCapacityIsInvalid) {
  ZoneTable t(geo());
  EXPECT_EQ(write(t, Z(2), 56), kInvalidCmd);  // inside the zone, beyond its 48 sectors
  ASSERT_EQ(write(t, Z(2), 40), kOk);
  EXPECT_EQ(write(t, Z(2) + 40, 16), kInvalidCmd);
  EXPECT_EQ(write(t, Z(2) + 40, 8), kOk);
}

TEST(ZoneStateTest, CommitToCapacityMakesZoneFullAndReleasesResources) {
  ZoneTable t(geo());
  ASSERT_EQ(write(t, Z(2), 48), kOk);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kImplicitOpen);
  t.commit(2, Z(2) + 48);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kFull);
  EXPECT_EQ(t.active_zones(), 0u);
  EXPECT_EQ(t.report(2).write_pointer, Z(2) + 64);
}

TEST(ZoneStateTest, WritesToFullReadOnlyOfflineAreInvalid) {
  ZoneTable t(geo());
  ASSERT_EQ(t.finish(Z(2)), kOk);
  ASSERT_TRUE(t.inject(3, ZoneCondition::kReadOnly));
  ASSERT_TRUE(t.inject(4, ZoneCondition::kOffline));
  EXPECT_EQ(write(t, Z(2), 8), kInvalidCmd);
  EXPECT_EQ(write(t, Z(3), 8), kInvalidCmd);
  EXPECT_EQ(write(t, Z(4), 8), kInvalidCmd);
  uint64_t at;
  EXPECT_EQ(t.reserve_write(Z(2), 8, true, &at), kInvalidCmd);
}

TEST(ZoneStateTest, OpenLimitImplicitlyClosesLeastRecentlyUsedImplicitZone) {
  ZoneTable t(geo(2, 0));
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  ASSERT_EQ(write(t, Z(3), 8), kOk);
  ASSERT_EQ(write(t, Z(2) + 8, 8), kOk);  // zone 3 is now the least recently used
  ASSERT_EQ(write(t, Z(4), 8), kOk);
  EXPECT_EQ(cond(t, 3), ZoneCondition::kClosed);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kImplicitOpen);
  EXPECT_EQ(cond(t, 4), ZoneCondition::kImplicitOpen);
  EXPECT_EQ(t.open_zones(), 2u);
  // Writing to the closed zone re-opens it implicitly and closes another one.
  ASSERT_EQ(write(t, Z(3) + 8, 8), kOk);
  EXPECT_EQ(cond(t, 3), ZoneCondition::kImplicitOpen);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kClosed);
}

TEST(ZoneStateTest, OpenResourceWhenEveryOpenZoneIsExplicit) {
  ZoneTable t(geo(2, 0));
  ASSERT_EQ(t.open(Z(2)), kOk);
  ASSERT_EQ(t.open(Z(3)), kOk);
  EXPECT_EQ(write(t, Z(4), 8), S(StatusCode::kZoneOpenResource));
  EXPECT_EQ(cond(t, 4), ZoneCondition::kEmpty);
  EXPECT_EQ(t.open(Z(4)), S(StatusCode::kZoneOpenResource));
  // Writes to the explicitly open zones are fine.
  EXPECT_EQ(write(t, Z(2), 8), kOk);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kExplicitOpen);
}

TEST(ZoneStateTest, ActiveResourceWhenNoActiveSlotRemains) {
  ZoneTable t(geo(2, 3));
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  ASSERT_EQ(write(t, Z(3), 8), kOk);
  ASSERT_EQ(write(t, Z(4), 8), kOk);  // closes zone 2 implicitly: 2 open + 1 closed = 3 active
  EXPECT_EQ(t.active_zones(), 3u);
  EXPECT_EQ(write(t, Z(5), 8), S(StatusCode::kZoneActiveResource));
  EXPECT_EQ(t.open(Z(5)), S(StatusCode::kZoneActiveResource));
  // Re-opening an already active (closed) zone needs no active slot.
  EXPECT_EQ(write(t, Z(2) + 8, 8), kOk);
}

TEST(ZoneStateTest, BothLimitsExceededReportsActive) {
  ZoneTable t(geo(2, 2));
  ASSERT_EQ(t.open(Z(2)), kOk);
  ASSERT_EQ(t.open(Z(3)), kOk);
  EXPECT_EQ(write(t, Z(4), 8), S(StatusCode::kZoneActiveResource));
}

TEST(ZoneStateTest, ExplicitOpenTransitionsAndCounting) {
  ZoneTable t(geo(3, 0));
  EXPECT_EQ(t.open(Z(2)), kOk);  // EMPTY -> EOPEN
  EXPECT_EQ(cond(t, 2), ZoneCondition::kExplicitOpen);
  EXPECT_EQ(t.explicit_open_zones(), 1u);
  EXPECT_EQ(t.open(Z(2)), kOk);  // idempotent
  EXPECT_EQ(t.explicit_open_zones(), 1u);
  ASSERT_EQ(write(t, Z(3), 8), kOk);
  EXPECT_EQ(t.open(Z(3)), kOk);  // IOPEN -> EOPEN, still one open zone each
  EXPECT_EQ(t.explicit_open_zones(), 2u);
  EXPECT_EQ(t.implicit_open_zones(), 0u);
  ASSERT_EQ(t.close(Z(3)), kOk);
  EXPECT_EQ(cond(t, 3), ZoneCondition::kClosed);
  EXPECT_EQ(t.open(Z(3)), kOk);  // CLOSED -> EOPEN
  EXPECT_EQ(cond(t, 3), ZoneCondition::kExplicitOpen);
  EXPECT_EQ(t.open_zones(), 2u);
}

TEST(ZoneStateTest, ExplicitOpenMayImplicitlyCloseAnImplicitZone) {
  ZoneTable t(geo(2, 0));
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  ASSERT_EQ(write(t, Z(3), 8), kOk);
  EXPECT_EQ(t.open(Z(4)), kOk);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kClosed);
  EXPECT_EQ(t.open_zones(), 2u);
}

TEST(ZoneStateTest, OpenOnFullIsInvalid) {
  ZoneTable t(geo());
  ASSERT_EQ(t.finish(Z(2)), kOk);
  EXPECT_EQ(t.open(Z(2)), kInvalidCmd);
}

TEST(ZoneStateTest, CloseTransitions) {
  ZoneTable t(geo(3, 0));
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  EXPECT_EQ(t.close(Z(2)), kOk);  // IOPEN with data -> CLOSED
  EXPECT_EQ(cond(t, 2), ZoneCondition::kClosed);
  EXPECT_EQ(t.close(Z(2)), kOk);  // idempotent
  EXPECT_EQ(cond(t, 2), ZoneCondition::kClosed);
  ASSERT_EQ(t.open(Z(3)), kOk);
  EXPECT_EQ(t.close(Z(3)), kOk);  // EOPEN at the zone start -> EMPTY
  EXPECT_EQ(cond(t, 3), ZoneCondition::kEmpty);
  EXPECT_EQ(t.active_zones(), 1u);
  EXPECT_EQ(t.close(Z(4)), kInvalidCmd);  // EMPTY: no EMPTY -> CLOSED transition in the spec
  EXPECT_EQ(cond(t, 4), ZoneCondition::kEmpty);
  ASSERT_EQ(t.finish(Z(5)), kOk);
  EXPECT_EQ(t.close(Z(5)), kInvalidCmd);
}

TEST(ZoneStateTest, FinishMakesFullFromEveryWritableCondition) {
  ZoneTable t(geo(3, 0));
  ASSERT_EQ(write(t, Z(3), 8), kOk);                         // IOPEN
  ASSERT_EQ(t.open(Z(4)), kOk);                              // EOPEN
  ASSERT_EQ(write(t, Z(5), 8), kOk);
  ASSERT_EQ(t.close(Z(5)), kOk);                             // CLOSED
  for (uint32_t z : {2u, 3u, 4u, 5u}) {
    EXPECT_EQ(t.finish(Z(z)), kOk) << z;
    EXPECT_EQ(cond(t, z), ZoneCondition::kFull) << z;
    EXPECT_EQ(t.report(z).write_pointer, Z(z) + 64) << z;
  }
  EXPECT_EQ(t.active_zones(), 0u);
  EXPECT_EQ(t.zone(3).data_end, Z(3));  // nothing committed: reads stay zero
  EXPECT_EQ(t.finish(Z(2)), kOk);       // FULL stays FULL
}

TEST(ZoneStateTest, ResetMakesEmptyFromEveryCondition) {
  ZoneTable t(geo(3, 0));
  ASSERT_EQ(write(t, Z(3), 8), kOk);
  t.commit(3, Z(3) + 8);
  ASSERT_EQ(t.open(Z(4)), kOk);
  ASSERT_EQ(t.finish(Z(5)), kOk);
  for (uint32_t z : {2u, 3u, 4u, 5u}) {
    EXPECT_EQ(t.reset(Z(z)), kOk) << z;
    EXPECT_EQ(cond(t, z), ZoneCondition::kEmpty) << z;
    EXPECT_EQ(t.zone(z).write_pointer, Z(z)) << z;
    EXPECT_EQ(t.zone(z).data_end, Z(z)) << z;
  }
  EXPECT_EQ(t.active_zones(), 0u);
}

TEST(ZoneStateTest, ResetAllResetsOpenClosedFullAndLeavesTheRest) {
  ZoneTable t(geo(3, 0));
  ASSERT_EQ(write(t, Z(2), 8), kOk);  // IOPEN
  ASSERT_EQ(t.open(Z(3)), kOk);       // EOPEN
  ASSERT_EQ(write(t, Z(4), 8), kOk);
  ASSERT_EQ(t.close(Z(4)), kOk);      // CLOSED
  ASSERT_EQ(t.finish(Z(5)), kOk);     // FULL
  ASSERT_TRUE(t.inject(6, ZoneCondition::kReadOnly));
  ASSERT_TRUE(t.inject(7, ZoneCondition::kOffline));
  t.reset_all();
  for (uint32_t z : {2u, 3u, 4u, 5u, 8u, 9u}) EXPECT_EQ(cond(t, z), ZoneCondition::kEmpty) << z;
  EXPECT_EQ(cond(t, 0), ZoneCondition::kNotWritePointer);
  EXPECT_EQ(cond(t, 6), ZoneCondition::kReadOnly);
  EXPECT_EQ(cond(t, 7), ZoneCondition::kOffline);
  EXPECT_EQ(t.active_zones(), 0u);
}

TEST(ZoneStateTest, ZoneOperationsOnConventionalZonesAreInvalid) {
  ZoneTable t(geo());
  EXPECT_EQ(t.open(Z(0)), kInvalidCmd);
  EXPECT_EQ(t.close(Z(1)), kInvalidCmd);
  EXPECT_EQ(t.finish(Z(0)), kInvalidCmd);
  EXPECT_EQ(t.reset(Z(1)), kInvalidCmd);
  uint64_t at;
  EXPECT_EQ(t.reserve_write(Z(0), 8, true, &at), kInvalidCmd);
}

TEST(ZoneStateTest, ZoneOperationsNeedTheZoneStart) {
  ZoneTable t(geo());
  EXPECT_EQ(t.open(Z(2) + 8), kInvalidCmd);
  EXPECT_EQ(t.close(Z(2) + 1), kInvalidCmd);
  EXPECT_EQ(t.finish(Z(2) + 63), kInvalidCmd);
  EXPECT_EQ(t.reset(Z(3) - 1), kInvalidCmd);
  EXPECT_EQ(t.reset(Z(10)), kInvalidCmd);  // past the end
}

TEST(ZoneStateTest, AppendWritesAtTheWritePointerAndReturnsIt) {
  ZoneTable t(geo());
  uint64_t a = 0, b = 0;
  ASSERT_EQ(t.reserve_write(Z(2), 8, true, &a), kOk);
  ASSERT_EQ(t.reserve_write(Z(2), 16, true, &b), kOk);
  EXPECT_EQ(a, Z(2));
  EXPECT_EQ(b, Z(2) + 8);  // disjoint
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 24);
  EXPECT_EQ(cond(t, 2), ZoneCondition::kImplicitOpen);
}

TEST(ZoneStateTest, AppendNotAtZoneStartOrTooLargeIsInvalid) {
  ZoneTable t(geo());
  uint64_t at;
  EXPECT_EQ(t.reserve_write(Z(2) + 8, 8, true, &at), kInvalidCmd);
  EXPECT_EQ(t.reserve_write(Z(2), 24, true, &at), kInvalidCmd);  // max_append_sectors 16
  ASSERT_EQ(t.reserve_write(Z(2), 16, true, &at), kOk);
  ASSERT_EQ(t.reserve_write(Z(2), 16, true, &at), kOk);
  EXPECT_EQ(t.reserve_write(Z(2), 16, true, &at), kOk);
  EXPECT_EQ(t.reserve_write(Z(2), 8, true, &at), kInvalidCmd);  // capacity exhausted
}

TEST(ZoneStateTest, ReadOnlyAndOfflineZonesRejectManagement) {
  ZoneTable t(geo());
  ASSERT_TRUE(t.inject(2, ZoneCondition::kReadOnly));
  ASSERT_TRUE(t.inject(3, ZoneCondition::kOffline));
  for (uint32_t z : {2u, 3u}) {
    EXPECT_EQ(t.open(Z(z)), kInvalidCmd);
    EXPECT_EQ(t.close(Z(z)), kInvalidCmd);
    EXPECT_EQ(t.finish(Z(z)), kInvalidCmd);
    EXPECT_EQ(t.reset(Z(z)), kInvalidCmd);
    EXPECT_EQ(t.report(z).write_pointer, ~uint64_t{0});
  }
  EXPECT_EQ(t.check_read(Z(2), 8), kOk);           // read-only zones stay readable
  EXPECT_EQ(t.check_read(Z(3), 8), kInvalidCmd);   // offline zones do not
  EXPECT_FALSE(t.inject(0, ZoneCondition::kOffline));  // conventional
  EXPECT_FALSE(t.inject(2, ZoneCondition::kFull));     // only RO/OFFLINE
}

TEST(ZoneStateTest, InjectingReleasesResources) {
  ZoneTable t(geo());
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  ASSERT_TRUE(t.inject(2, ZoneCondition::kOffline));
  EXPECT_EQ(t.active_zones(), 0u);
}

TEST(ZoneStateTest, ReadsMayNotCrossIntoOrOutOfSequentialZones) {
  ZoneTable t(geo());
  EXPECT_EQ(t.check_read(Z(0) + 32, 64), kOk);  // conventional -> conventional
  EXPECT_EQ(t.check_read(Z(1) + 32, 64), kInvalidCmd);  // conventional -> sequential
  EXPECT_EQ(t.check_read(Z(2) + 32, 64), kInvalidCmd);  // sequential -> sequential
  EXPECT_EQ(t.check_read(Z(2) + 56, 8), kOk);           // beyond capacity, inside the zone
  EXPECT_EQ(t.check_conventional(Z(0), 128), kOk);
  EXPECT_EQ(t.check_conventional(Z(1), 72), kInvalidCmd);
}

TEST(ZoneStateTest, RestoreBringsOpenZonesBackClosed) {
  ZoneTable t(geo());
  EXPECT_TRUE(t.restore(2, ZoneCondition::kImplicitOpen, Z(2) + 8));
  EXPECT_TRUE(t.restore(3, ZoneCondition::kExplicitOpen, Z(3)));
  EXPECT_TRUE(t.restore(4, ZoneCondition::kClosed, Z(4) + 48));
  EXPECT_TRUE(t.restore(5, ZoneCondition::kFull, Z(5) + 8));
  EXPECT_EQ(cond(t, 2), ZoneCondition::kClosed);
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 8);
  EXPECT_EQ(cond(t, 3), ZoneCondition::kEmpty);
  EXPECT_EQ(cond(t, 4), ZoneCondition::kFull);
  EXPECT_EQ(cond(t, 5), ZoneCondition::kFull);
  EXPECT_EQ(t.zone(5).data_end, Z(5) + 8);
  EXPECT_EQ(t.active_zones(), 1u);
  EXPECT_FALSE(t.restore(6, ZoneCondition::kClosed, Z(6) + 49));  // beyond capacity
  EXPECT_FALSE(t.restore(6, ZoneCondition::kClosed, Z(5)));       // before the zone
  EXPECT_FALSE(t.restore(0, ZoneCondition::kClosed, 0));          // conventional
  EXPECT_FALSE(t.restore(6, ZoneCondition::kNotWritePointer, Z(6)));
}

TEST(ZoneStateTest, RollBackMovesTheWritePointerBackButNotBelowData) {
  ZoneTable t(geo());
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  ASSERT_EQ(write(t, Z(2) + 8, 8), kOk);
  t.commit(2, Z(2) + 8);
  t.roll_back(2, Z(2) + 8);
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 8);
  t.roll_back(2, Z(2));  // below data_end: clamped
  EXPECT_EQ(t.zone(2).write_pointer, Z(2) + 8);
}

TEST(ZoneStateTest, RollBackOfAClosedZoneToItsStartMakesItEmpty) {
  ZoneTable t(geo());
  ASSERT_EQ(write(t, Z(2), 8), kOk);
  ASSERT_EQ(t.close(Z(2)), kOk);  // write still in flight: the zone has a write pointer
  EXPECT_EQ(cond(t, 2), ZoneCondition::kClosed);
  t.roll_back(2, Z(2));  // ... and it failed
  EXPECT_EQ(cond(t, 2), ZoneCondition::kEmpty);
  EXPECT_EQ(t.active_zones(), 0u);
}

TEST(ZoneStateTest, HostileRangesAreRejected) {
  ZoneTable t(geo());
  uint64_t at;
  const uint64_t huge = ~uint64_t{0};
  EXPECT_EQ(t.reserve_write(huge, 8, false, &at), S(StatusCode::kOutOfRange));
  EXPECT_EQ(t.reserve_write(Z(2), huge, false, &at), S(StatusCode::kOutOfRange));
  EXPECT_EQ(t.reserve_write(Z(9) + 8, huge - 4, false, &at), S(StatusCode::kOutOfRange));  // wraps
  EXPECT_EQ(t.reserve_write(Z(2), 0, false, &at), S(StatusCode::kOutOfRange));
  EXPECT_EQ(t.reserve_write(640, 8, true, &at), S(StatusCode::kOutOfRange));
  EXPECT_EQ(t.check_read(huge - 1, 2), S(StatusCode::kOutOfRange));
  EXPECT_EQ(t.check_read(630, 16), S(StatusCode::kOutOfRange));
  EXPECT_EQ(t.open(huge), kInvalidCmd);
  EXPECT_FALSE(t.sequential_zone_at(huge).has_value());
  EXPECT_FALSE(t.restore(12345, ZoneCondition::kClosed, 0));
  EXPECT_FALSE(t.inject(12345, ZoneCondition::kOffline));
}

TEST(ZoneStateTest, SmallerLastZoneHasSmallerCapacity) {
  ZoneGeometry g = geo();
  g.disk_sectors = 640 - 32;  // last zone: 32 sectors
  ZoneTable t(g);
  EXPECT_EQ(t.report(9).length, 32u);
  EXPECT_EQ(t.report(9).capacity, 32u);
  uint64_t at;
  EXPECT_EQ(t.reserve_write(Z(9), 40, false, &at), S(StatusCode::kOutOfRange));  // past the disk
  EXPECT_EQ(t.reserve_write(Z(9), 32, false, &at), kOk);
}

TEST(ZoneStateTest, WriteLengthMustBeAMultipleOfTheGranularity) {
  ZoneGeometry g = geo();
  g.write_granularity = 4096;
  ZoneTable t(g);
  EXPECT_EQ(write(t, Z(2), 4), kInvalidCmd);
  EXPECT_EQ(write(t, Z(2), 8), kOk);
}

}  // namespace
}  // namespace block::zoned
