#include "block/zoned/zone_geometry.h"

#include <algorithm>

#include "block/error.h"

namespace block::zoned {
namespace {

constexpr uint64_t kMiB = 1 << 20;

[[noreturn]] void fail(const std::string& file, const std::string& reason) {
  throw BlockError("vmm: -drive file=" + file + ": " + reason);
}

std::string size_text(uint64_t bytes) {
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "M";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + "K";
  return std::to_string(bytes);
}

// 64 MiB zones on large disks, smaller ones on small disks so there are enough zones to play
// with (at least 16 when the disk allows zones of 1 MiB or more).
uint64_t default_zone_bytes(uint64_t disk_bytes) {
  uint64_t zone = disk_bytes >= (8ull << 30) ? 64 * kMiB : disk_bytes >= (2ull << 30) ? 32 * kMiB : 16 * kMiB;
  while (zone > kMiB && disk_bytes / zone < 16) zone /= 2;
  return zone;
}

}  // namespace

ZoneGeometry resolve_geometry(const ZonedOptions& options, uint64_t disk_bytes,
                              uint32_t write_granularity, const std::string& file) {
  ZoneGeometry g;
  if (write_granularity < kSectorSize || !std::has_single_bit(write_granularity)) {
    write_granularity = kSectorSize;
  }
  g.write_granularity = write_granularity;
  // The disk ends on a whole write granule (a trailing partial 4K block is not addressable).
  g.disk_sectors = disk_bytes / write_granularity * (write_granularity / kSectorSize);

  uint64_t zone_bytes = options.zone_size != 0 ? options.zone_size : default_zone_bytes(disk_bytes);
  if (zone_bytes % kSectorSize != 0 || !std::has_single_bit(zone_bytes / kSectorSize)) {
    fail(file, "zone_size=" + size_text(zone_bytes) + " is not a power of two multiple of 512 bytes");
  }
  if (zone_bytes < write_granularity || zone_bytes > (uint64_t{1} << 41)) {
    fail(file, "zone_size=" + size_text(zone_bytes) + " is out of range (" +
                   std::to_string(write_granularity) + " bytes to 2T)");
  }
  uint64_t cap_bytes = options.zone_capacity != 0 ? options.zone_capacity : zone_bytes;
  if (cap_bytes > zone_bytes) {
    fail(file, "zone_capacity=" + size_text(cap_bytes) + " is larger than zone_size=" + size_text(zone_bytes));
  }
  if (cap_bytes % write_granularity != 0) {
    fail(file, "zone_capacity=" + size_text(cap_bytes) + " is not a multiple of the write granularity (" +
                   std::to_string(write_granularity) + " bytes)");
  }
  g.zone_sectors = zone_bytes / kSectorSize;
  g.capacity_sectors = cap_bytes / kSectorSize;
  if (g.disk_sectors < g.zone_sectors) {
    fail(file, "file too small for zoned=on: " + std::to_string(disk_bytes) +
                   " bytes is less than one zone (zone_size=" + size_text(zone_bytes) + ")");
  }
  uint64_t zones = (g.disk_sectors + g.zone_sectors - 1) / g.zone_sectors;
  if (zones > UINT32_MAX / 2) fail(file, "zone_size=" + size_text(zone_bytes) + " gives too many zones");
  g.nr_zones = static_cast<uint32_t>(zones);

  if (options.conventional_zones_set) {
    g.conventional_zones = options.conventional_zones;
  } else {
    // zonefs-tests needs >= 2 (the first holds the super block); 4 on larger disks.
    g.conventional_zones = g.nr_zones >= 16 ? 4 : std::min<uint32_t>(2, g.nr_zones - 1);
  }
  if (g.conventional_zones >= g.nr_zones) {
    fail(file, "conventional_zones=" + std::to_string(g.conventional_zones) +
                   " leaves no sequential zone (the disk has " + std::to_string(g.nr_zones) +
                   " zones of zone_size=" + size_text(zone_bytes) + ")");
  }

  g.max_active_zones = options.max_active_zones_set ? options.max_active_zones : kDefaultMaxActiveZones;
  if (options.max_open_zones_set) {
    g.max_open_zones = options.max_open_zones;
  } else {
    g.max_open_zones = kDefaultMaxOpenZones;
    if (g.max_active_zones != 0) g.max_open_zones = std::min(g.max_open_zones, g.max_active_zones);
  }
  if (g.max_active_zones != 0 && g.max_open_zones > g.max_active_zones) {
    fail(file, "max_open_zones=" + std::to_string(g.max_open_zones) + " exceeds max_active_zones=" +
                   std::to_string(g.max_active_zones) + "");
  }

  uint64_t granule = write_granularity / kSectorSize;
  if (options.max_append_sectors != 0) {
    if (options.max_append_sectors % granule != 0) {
      fail(file, "max_append_sectors=" + std::to_string(options.max_append_sectors) +
                     " is not a multiple of the write granularity (" + std::to_string(granule) +
                     " sectors)");
    }
    g.max_append_sectors = options.max_append_sectors;
  } else {
    g.max_append_sectors = static_cast<uint32_t>(std::min(kDefaultMaxAppendBytes / kSectorSize, g.capacity_sectors));
  }
  if (g.max_append_sectors > g.capacity_sectors) g.max_append_sectors = static_cast<uint32_t>(g.capacity_sectors);
  return g;
}

}  // namespace block::zoned
