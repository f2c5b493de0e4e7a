#pragma once
// A host zoned block device for pass-through (file=/dev/nullb0 with zoned=on): the zone
// report and zone commands of the Linux zoned block device API, behind an interface so the
// logic above it can be tested without such a device.
//
// Pass-through keeps ZonedBackend's own zone table (write pointers reserved at submission,
// zone append emulated as a write at the tracked write pointer, advanced only when the write
// succeeds); the table is loaded from the device at open, zone commands go to the device
// before the table changes, and after a failed write or command the zone is re-read from the
// device. Nothing is persisted by us: the device keeps its own write pointers.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "block/request.h"
#include "block/status.h"
#include "block/unique_fd.h"
#include "block/zoned/zone_geometry.h"

namespace block::zoned {

enum class ZoneCommand : uint8_t { kOpen, kClose, kFinish, kReset };

struct ZoneDeviceLimits {
  uint64_t zone_sectors = 0;
  uint32_t nr_zones = 0;
  uint32_t max_open_zones = 0;    // 0 = no limit
  uint32_t max_active_zones = 0;  // 0 = no limit
};

class ZoneDevice {
 public:
  virtual ~ZoneDevice() = default;
  virtual ZoneDeviceLimits limits() const = 0;
  // Records for the zones from the one containing `sector`, at most out.size(); *filled says
  // how many.
  virtual Status report(uint64_t sector, std::span<ZoneReport> out, size_t* filled) = 0;
  // `sectors` covers whole zones starting at `sector`.
  virtual Status manage(ZoneCommand command, uint64_t sector, uint64_t sectors) = 0;
};

// The real thing: BLKREPORTZONE, BLKOPENZONE, BLKCLOSEZONE, BLKFINISHZONE, BLKRESETZONE on
// its own descriptor, limits from BLKGETZONESZ/BLKGETNRZONES and sysfs. Calls are synchronous
// (on the I/O thread).
class HostZoneDevice final : public ZoneDevice {
 public:
  // Throws BlockError ("vmm: -drive file=PATH: ..."), also for host-aware devices.
  static std::unique_ptr<HostZoneDevice> open(const std::string& path);
  HostZoneDevice() = default;  // use open()

  ZoneDeviceLimits limits() const override { return limits_; }
  Status report(uint64_t sector, std::span<ZoneReport> out, size_t* filled) override;
  Status manage(ZoneCommand command, uint64_t sector, uint64_t sectors) override;

 private:
  UniqueFd fd_;
  ZoneDeviceLimits limits_;
  std::vector<uint64_t> buffer_;  // blk_zone_report + descriptors, 8-byte aligned
};

// True if `path` is a block device whose queue is zoned (sysfs queue/zoned != none).
bool is_host_zoned_device(const std::string& path);

// The geometry of a device's zones (all of them are reported into *zones): leading
// conventional zones, then sequential zones of equal capacity (the last may be smaller).
// Throws BlockError naming `name` for layouts the guest cannot be given.
ZoneGeometry device_geometry(ZoneDevice& device, uint64_t disk_bytes, uint32_t write_granularity,
                             const std::string& name, std::vector<ZoneReport>* zones);

}  // namespace block::zoned
