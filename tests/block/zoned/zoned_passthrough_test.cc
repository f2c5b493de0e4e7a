// Pass-through to a host zoned device, with a fake device (the host has no zoned devices):
// the zone table comes from the device report, zone commands reach the device only when the
// state changes, device failures and failed writes re-read the zone from the device, and
// unsupported layouts are refused with clear errors.
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "block/error.h"
#include "block/zoned/zone_device.h"
#include "block/zoned/zoned_backend.h"
#include "tests/block/zoned/zoned_test_util.h"

namespace block::zoned::testing {
namespace {

constexpr uint64_t kZoneSectors = 128;
constexpr uint64_t kCap = 96;
constexpr uint32_t kZones = 8;
constexpr uint64_t Z(uint32_t zone) { return zone * kZoneSectors; }

struct Command {
  ZoneCommand command;
  uint64_t sector;
  uint64_t sectors;
};

class FakeZoneDevice final : public ZoneDevice {
 public:
  FakeZoneDevice() {
    for (uint32_t z = 0; z < kZones; ++z) {
      ZoneReport r;
      r.start = Z(z);
      r.length = kZoneSectors;
      r.capacity = z < 2 ? kZoneSectors : kCap;
      r.type = z < 2 ? ZoneType::kConventional : ZoneType::kSequentialWriteRequired;
      r.condition = z < 2 ? ZoneCondition::kNotWritePointer : ZoneCondition::kEmpty;
      r.write_pointer = Z(z);
      zones.push_back(r);
    }
  }
  ZoneDeviceLimits limits() const override { return {kZoneSectors, kZones, 3, 4}; }
  Status report(uint64_t sector, std::span<ZoneReport> out, size_t* filled) override {
    *filled = 0;
    for (uint32_t z = static_cast<uint32_t>(sector / kZoneSectors); z < kZones && *filled < out.size(); ++z) {
      out[(*filled)++] = zones[z];
    }
    return Status::ok();
  }
  Status manage(ZoneCommand command, uint64_t sector, uint64_t sectors) override {
    log.push_back({command, sector, sectors});
    if (fail_next) {
      fail_next = false;
      return Status::from_errno(EIO);
    }
    ZoneReport& r = zones[sector / kZoneSectors];
    switch (command) {
      case ZoneCommand::kOpen:
        r.condition = ZoneCondition::kExplicitOpen;
        break;
      case ZoneCommand::kClose:
        r.condition = r.write_pointer == r.start ? ZoneCondition::kEmpty : ZoneCondition::kClosed;
        break;
      case ZoneCommand::kFinish:
        r.condition = ZoneCondition::kFull;
        r.write_pointer = r.start + r.length;
        break;
      case ZoneCommand::kReset:
        r.condition = ZoneCondition::kEmpty;
        r.write_pointer = r.start;
        break;
    }
    return Status::ok();
  }

  std::vector<ZoneReport> zones;
  std::vector<Command> log;
  bool fail_next = false;
};

struct Rig {
  ManualDriver* drv = nullptr;
  FakeZoneDevice* dev = nullptr;
  std::unique_ptr<ZonedBackend> zb;

  explicit Rig(std::unique_ptr<FakeZoneDevice> device = std::make_unique<FakeZoneDevice>()) {
    auto driver = std::make_unique<ManualDriver>(kZones * kZoneSectors * kSector);
    drv = driver.get();
    dev = device.get();
    auto inner = std::make_unique<Backend>(std::move(driver), BackendPolicy{}, kZones * kZoneSectors * kSector);
    zb = std::make_unique<ZonedBackend>(std::move(inner), std::move(device), "/dev/fake");
  }
  ~Rig() {
    if (drv) {
      drv->immediate = true;
      drv->finish_all();
    }
  }
  Status sync(ZSlot& s) {
    zb->submit(s.req);
    while (s.completions == 0 && !drv->pending.empty()) {
      drv->finish(0);
      zb->process_completions();
    }
    return s.status;
  }
  Status op(Op op, uint32_t zone) {
    ZSlot s;
    s.zone_op(op, Z(zone) * kSector);
    return sync(s);
  }
};

TEST(ZonedPassthroughTest, GeometryAndStateComeFromTheDevice) {
  auto dev = std::make_unique<FakeZoneDevice>();
  dev->zones[2].condition = ZoneCondition::kImplicitOpen;
  dev->zones[2].write_pointer = Z(2) + 8;
  dev->zones[3].condition = ZoneCondition::kFull;
  dev->zones[4].condition = ZoneCondition::kOffline;
  dev->zones[5].condition = ZoneCondition::kExplicitOpen;
  Rig r(std::move(dev));
  EXPECT_TRUE(r.zb->pass_through());
  ZonedConfig c = r.zb->zoned_config();
  EXPECT_EQ(c.zone_sectors, kZoneSectors);
  EXPECT_EQ(c.nr_zones, kZones);
  EXPECT_EQ(c.max_open_zones, 3u);
  EXPECT_EQ(c.max_active_zones, 4u);
  EXPECT_EQ(c.max_append_sectors, kCap);
  EXPECT_EQ(r.zb->zones().geometry().conventional_zones, 2u);
  EXPECT_EQ(report_one(*r.zb, Z(2)).condition, ZoneCondition::kClosed);
  EXPECT_EQ(report_one(*r.zb, Z(2)).write_pointer, Z(2) + 8);
  EXPECT_EQ(report_one(*r.zb, Z(3)).condition, ZoneCondition::kFull);
  EXPECT_EQ(report_one(*r.zb, Z(4)).condition, ZoneCondition::kOffline);
  EXPECT_EQ(report_one(*r.zb, Z(5)).condition, ZoneCondition::kEmpty);
  // The open zones were closed on the device as well.
  ASSERT_EQ(r.dev->log.size(), 2u);
  EXPECT_EQ(r.dev->log[0].command, ZoneCommand::kClose);
  EXPECT_EQ(r.dev->log[0].sector, Z(2));
  EXPECT_EQ(r.dev->log[1].sector, Z(5));
  EXPECT_EQ(r.zb->inject_condition(6, ZoneCondition::kOffline), code(StatusCode::kUnsupported));
}

TEST(ZonedPassthroughTest, ZoneCommandsReachTheDeviceOnlyWhenStateChanges) {
  Rig r;
  EXPECT_TRUE(r.op(Op::kZoneReset, 2).is_ok());  // EMPTY: nothing to do
  EXPECT_EQ(r.op(Op::kZoneClose, 2), code(StatusCode::kZoneInvalidCmd));  // EMPTY cannot close
  EXPECT_TRUE(r.dev->log.empty());
  EXPECT_TRUE(r.op(Op::kZoneOpen, 2).is_ok());
  EXPECT_TRUE(r.op(Op::kZoneOpen, 2).is_ok());  // already open
  EXPECT_TRUE(r.op(Op::kZoneFinish, 2).is_ok());
  EXPECT_TRUE(r.op(Op::kZoneReset, 2).is_ok());
  ASSERT_EQ(r.dev->log.size(), 3u);
  EXPECT_EQ(r.dev->log[0].command, ZoneCommand::kOpen);
  EXPECT_EQ(r.dev->log[1].command, ZoneCommand::kFinish);
  EXPECT_EQ(r.dev->log[2].command, ZoneCommand::kReset);
  EXPECT_EQ(r.dev->log[2].sector, Z(2));
  EXPECT_EQ(r.dev->log[2].sectors, kZoneSectors);
  EXPECT_EQ(r.op(Op::kZoneOpen, 0), code(StatusCode::kZoneInvalidCmd));  // conventional
  EXPECT_EQ(r.dev->log.size(), 3u);
}

TEST(ZonedPassthroughTest, ResetAllResetsEachNonEmptyZoneOnTheDevice) {
  Rig r;
  ASSERT_TRUE(r.op(Op::kZoneFinish, 3).is_ok());
  ASSERT_TRUE(r.op(Op::kZoneOpen, 6).is_ok());
  r.dev->log.clear();
  ZSlot s;
  s.zone_op(Op::kZoneResetAll, 0);
  ASSERT_TRUE(r.sync(s).is_ok());
  ASSERT_EQ(r.dev->log.size(), 2u);
  EXPECT_EQ(r.dev->log[0].sector, Z(3));
  EXPECT_EQ(r.dev->log[1].sector, Z(6));
}

TEST(ZonedPassthroughTest, FailedDeviceCommandReReadsTheZone) {
  Rig r;
  r.dev->zones[2].condition = ZoneCondition::kClosed;  // what the device really has
  r.dev->zones[2].write_pointer = Z(2) + 16;
  r.dev->fail_next = true;
  EXPECT_EQ(r.op(Op::kZoneFinish, 2), Status::from_errno(EIO));
  EXPECT_EQ(report_one(*r.zb, Z(2)).condition, ZoneCondition::kClosed);
  EXPECT_EQ(report_one(*r.zb, Z(2)).write_pointer, Z(2) + 16);
}

TEST(ZonedPassthroughTest, FailedWriteTakesTheWritePointerFromTheDevice) {
  Rig r;
  ZSlot w;
  w.io(Op::kWrite, Z(2) * kSector, 16 * kSector, 7);
  r.zb->submit(w.req);
  r.dev->zones[2].write_pointer = Z(2) + 8;  // the device wrote half of it
  r.dev->zones[2].condition = ZoneCondition::kImplicitOpen;
  r.drv->finish(0, false);
  r.zb->process_completions();
  EXPECT_EQ(w.status, Status::from_errno(EIO));
  EXPECT_EQ(report_one(*r.zb, Z(2)).write_pointer, Z(2) + 8);
  EXPECT_EQ(r.zb->zones().zone(2).data_end, Z(2) + 8);
}

TEST(ZonedPassthroughTest, AppendIsEmulatedAtTheTrackedWritePointer) {
  Rig r;
  ZSlot a, b;
  a.io(Op::kZoneAppend, Z(4) * kSector, 8 * kSector, 1);
  b.io(Op::kZoneAppend, Z(4) * kSector, 8 * kSector, 2);
  r.zb->submit(a.req);
  r.zb->submit(b.req);
  // One write per zone on the device: the second waits for the first (a device rejects a write
  // that overtakes another to the same zone).
  ASSERT_EQ(r.drv->pending.size(), 1u);
  EXPECT_EQ(r.drv->pending[0]->offset, Z(4) * kSector);
  r.drv->finish(0);
  r.zb->process_completions();
  EXPECT_EQ(a.append_sector, Z(4));
  ASSERT_EQ(r.drv->pending.size(), 1u);
  EXPECT_EQ(r.drv->pending[0]->offset, (Z(4) + 8) * kSector);  // a plain write at the WP
  r.drv->finish(0);
  r.zb->process_completions();
  EXPECT_EQ(b.append_sector, Z(4) + 8);
  EXPECT_EQ(r.drv->disk[(Z(4) + 8) * kSector], 2);
}

TEST(ZonedPassthroughTest, WritesQueuedBehindAFailedWriteFailWithoutReachingTheDevice) {
  Rig r;
  ZSlot a, b, c;
  a.io(Op::kZoneAppend, Z(3) * kSector, 8 * kSector, 1);
  b.io(Op::kZoneAppend, Z(3) * kSector, 8 * kSector, 2);
  c.io(Op::kWrite, Z(2) * kSector, 8 * kSector, 3);  // another zone: not held up
  r.zb->submit(a.req);
  r.zb->submit(b.req);
  r.zb->submit(c.req);
  ASSERT_EQ(r.drv->pending.size(), 2u);
  EXPECT_EQ(r.drv->pending[1]->offset, Z(2) * kSector);
  r.drv->finish(0, false);  // the device refuses a's write; it wrote nothing
  r.zb->process_completions();
  EXPECT_EQ(a.status, Status::from_errno(EIO));
  EXPECT_EQ(b.status, Status::from_errno(EIO));
  ASSERT_EQ(r.drv->pending.size(), 1u);  // only c: b never reached the device
  EXPECT_EQ(report_one(*r.zb, Z(3)).write_pointer, Z(3));
  r.drv->finish(0);
  r.zb->process_completions();
  EXPECT_TRUE(c.status.is_ok());
  ZSlot d;  // the zone takes writes again, at the device's write pointer
  d.io(Op::kZoneAppend, Z(3) * kSector, 8 * kSector, 4);
  EXPECT_TRUE(r.sync(d).is_ok());
  EXPECT_EQ(d.append_sector, Z(3));
}

std::string error_of(std::unique_ptr<FakeZoneDevice> dev) {
  try {
    Rig r(std::move(dev));
    r.drv = nullptr;
  } catch (const BlockError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ZonedPassthroughTest, UnsupportedLayoutsAreRefused) {
  auto dev = std::make_unique<FakeZoneDevice>();
  dev->zones[5].type = ZoneType::kConventional;
  EXPECT_EQ(error_of(std::move(dev)),
            "vmm: -drive file=/dev/fake: conventional zones after sequential zones are not supported");
  dev = std::make_unique<FakeZoneDevice>();
  dev->zones[4].capacity = 64;
  EXPECT_EQ(error_of(std::move(dev)), "vmm: -drive file=/dev/fake: sequential zones have different capacities");
  dev = std::make_unique<FakeZoneDevice>();
  for (auto& z : dev->zones) z.type = ZoneType::kConventional;
  EXPECT_EQ(error_of(std::move(dev)), "vmm: -drive file=/dev/fake: the device has no sequential zone");
}

TEST(ZonedPassthroughTest, RegularFilesAreNotHostZonedDevices) {
  EXPECT_FALSE(is_host_zoned_device("/dev/null"));
  EXPECT_FALSE(is_host_zoned_device("/nonexistent"));
}

}  // namespace
}  // namespace block::zoned::testing
