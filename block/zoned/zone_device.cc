#include "block/zoned/zone_device.h"

#include <fcntl.h>
#include <linux/blkzoned.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "block/error.h"
#include "block/zoned/zone_geometry.h"

namespace block::zoned {
namespace {

constexpr size_t kReportBatch = 256;

std::string sysfs_queue(const struct stat& st, const std::string& name) {
  return "/sys/dev/block/" + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev)) +
         "/queue/" + name;
}

uint64_t read_sysfs_number(const std::string& file) {
  std::ifstream in(file);
  uint64_t v = 0;
  if (!(in >> v)) return 0;
  return v;
}

ZoneCondition condition_of(uint8_t cond) {
  switch (cond) {
    case BLK_ZONE_COND_NOT_WP:
      return ZoneCondition::kNotWritePointer;
    case BLK_ZONE_COND_EMPTY:
      return ZoneCondition::kEmpty;
    case BLK_ZONE_COND_IMP_OPEN:
      return ZoneCondition::kImplicitOpen;
    case BLK_ZONE_COND_EXP_OPEN:
      return ZoneCondition::kExplicitOpen;
    case BLK_ZONE_COND_CLOSED:
      return ZoneCondition::kClosed;
    case BLK_ZONE_COND_READONLY:
      return ZoneCondition::kReadOnly;
    case BLK_ZONE_COND_FULL:
      return ZoneCondition::kFull;
    default:
      return ZoneCondition::kOffline;
  }
}

}  // namespace

bool is_host_zoned_device(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return false;
  std::ifstream sysfs(sysfs_queue(st, "zoned"));
  std::string model;
  sysfs >> model;
  return !model.empty() && model != "none";
}

std::unique_ptr<HostZoneDevice> HostZoneDevice::open(const std::string& path) {
  auto fail = [&](const std::string& why) -> void {
    throw BlockError("vmm: -drive file=" + path + ": " + why);
  };
  auto dev = std::make_unique<HostZoneDevice>();
  dev->fd_.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!dev->fd_.valid()) fail(std::string("cannot open for zone commands: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(dev->fd_.get(), &st) != 0 || !S_ISBLK(st.st_mode)) fail("not a block device");
  std::ifstream model_file(sysfs_queue(st, "zoned"));
  std::string model;
  model_file >> model;
  if (model != "host-managed") fail("zoned model '" + model + "' is not supported for pass-through (host-managed only)");
  uint32_t zone_sectors = 0, nr_zones = 0;
  if (::ioctl(dev->fd_.get(), BLKGETZONESZ, &zone_sectors) != 0 || zone_sectors == 0) {
    fail("BLKGETZONESZ failed: not a zoned block device?");
  }
  if (::ioctl(dev->fd_.get(), BLKGETNRZONES, &nr_zones) != 0 || nr_zones == 0) fail("BLKGETNRZONES failed");
  dev->limits_.zone_sectors = zone_sectors;
  dev->limits_.nr_zones = nr_zones;
  dev->limits_.max_open_zones = static_cast<uint32_t>(read_sysfs_number(sysfs_queue(st, "max_open_zones")));
  dev->limits_.max_active_zones = static_cast<uint32_t>(read_sysfs_number(sysfs_queue(st, "max_active_zones")));
  return dev;
}

Status HostZoneDevice::report(uint64_t sector, std::span<ZoneReport> out, size_t* filled) {
  *filled = 0;
  while (*filled < out.size()) {
    size_t batch = std::min(kReportBatch, out.size() - *filled);
    size_t bytes = sizeof(blk_zone_report) + batch * sizeof(blk_zone);
    buffer_.assign((bytes + 7) / 8, 0);
    auto* rep = reinterpret_cast<blk_zone_report*>(buffer_.data());
    rep->sector = sector;
    rep->nr_zones = static_cast<uint32_t>(batch);
    if (::ioctl(fd_.get(), BLKREPORTZONE, rep) != 0) return Status::from_errno(errno);
    if (rep->nr_zones == 0) break;
    bool capacity = (rep->flags & BLK_ZONE_REP_CAPACITY) != 0;
    for (uint32_t i = 0; i < rep->nr_zones && *filled < out.size(); ++i) {
      const blk_zone& z = rep->zones[i];
      ZoneReport& r = out[(*filled)++];
      r.start = z.start;
      r.length = z.len;
      r.capacity = capacity ? z.capacity : z.len;
      r.write_pointer = z.wp;
      r.type = z.type == BLK_ZONE_TYPE_CONVENTIONAL ? ZoneType::kConventional : ZoneType::kSequentialWriteRequired;
      r.condition = condition_of(z.cond);
      sector = z.start + z.len;
    }
  }
  return Status::ok();
}

Status HostZoneDevice::manage(ZoneCommand command, uint64_t sector, uint64_t sectors) {
  blk_zone_range range{sector, sectors};
  unsigned long request = BLKRESETZONE;
  switch (command) {
    case ZoneCommand::kOpen:
      request = BLKOPENZONE;
      break;
    case ZoneCommand::kClose:
      request = BLKCLOSEZONE;
      break;
    case ZoneCommand::kFinish:
      request = BLKFINISHZONE;
      break;
    case ZoneCommand::kReset:
      request = BLKRESETZONE;
      break;
  }
  if (::ioctl(fd_.get(), request, &range) != 0) return Status::from_errno(errno);
  return Status::ok();
}

ZoneGeometry device_geometry(ZoneDevice& device, uint64_t disk_bytes, uint32_t write_granularity,
                             const std::string& name, std::vector<ZoneReport>* zones) {
  auto fail = [&](const std::string& why) -> void {
    throw BlockError("vmm: -drive file=" + name + ": " + why);
  };
  ZoneDeviceLimits lim = device.limits();
  ZoneGeometry g;
  g.write_granularity = write_granularity < kSectorSize ? static_cast<uint32_t>(kSectorSize) : write_granularity;
  g.zone_sectors = lim.zone_sectors;
  g.disk_sectors = disk_bytes / kSectorSize;
  if (g.zone_sectors == 0 || (g.zone_sectors & (g.zone_sectors - 1)) != 0) fail("zone size is not a power of two");
  uint64_t expected = (g.disk_sectors + g.zone_sectors - 1) / g.zone_sectors;
  if (lim.nr_zones != expected) fail("zone count does not match the device size");
  g.nr_zones = lim.nr_zones;
  zones->assign(g.nr_zones, ZoneReport{});
  size_t filled = 0;
  if (Status s = device.report(0, *zones, &filled); !s.is_ok()) fail("zone report failed: " + to_string(s));
  if (filled != g.nr_zones) fail("zone report returned " + std::to_string(filled) + " zones");
  bool seen_sequential = false;
  for (uint32_t z = 0; z < g.nr_zones; ++z) {
    const ZoneReport& r = (*zones)[z];
    if (r.start != g.zone_start(z)) fail("zone " + std::to_string(z) + " does not start where expected");
    if (r.type == ZoneType::kConventional) {
      if (seen_sequential) fail("conventional zones after sequential zones are not supported");
      ++g.conventional_zones;
      continue;
    }
    bool last = z + 1 == g.nr_zones;
    if (!seen_sequential) g.capacity_sectors = r.capacity;
    seen_sequential = true;
    if (!last && r.capacity != g.capacity_sectors) fail("sequential zones have different capacities");
  }
  if (!seen_sequential) fail("the device has no sequential zone");
  g.max_open_zones = lim.max_open_zones;
  g.max_active_zones = lim.max_active_zones;
  uint64_t granule = g.write_granularity / kSectorSize;
  uint64_t append = std::min<uint64_t>(kDefaultMaxAppendBytes / kSectorSize, g.capacity_sectors);
  g.max_append_sectors = static_cast<uint32_t>(append / granule * granule);
  return g;
}

}  // namespace block::zoned
