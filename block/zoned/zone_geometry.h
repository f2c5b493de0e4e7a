#pragma once
// The zone layout of an emulated zoned drive: equal power-of-two zones over the disk (the
// last one may be smaller), the first `conventional_zones` of them conventional, the rest
// sequential-write-required. Also the limits a device advertises (virtio-blk zoned config).
#include <bit>
#include <cstdint>
#include <string>

#include "block/drive_options.h"

namespace block::zoned {

constexpr uint64_t kSectorSize = 512;

struct ZoneGeometry {
  uint64_t disk_sectors = 0;      // addressable capacity, all zones together
  uint64_t zone_sectors = 0;      // power of two
  uint64_t capacity_sectors = 0;  // writable sectors of a sequential zone (<= zone_sectors)
  uint32_t nr_zones = 0;
  uint32_t conventional_zones = 0;  // zones [0, conventional_zones) are conventional
  uint32_t max_open_zones = 0;      // 0 = no limit
  uint32_t max_active_zones = 0;    // 0 = no limit
  uint32_t max_append_sectors = 0;  // never 0 (Linux refuses such a disk)
  uint32_t write_granularity = 512;  // bytes: offsets/lengths of sequential writes

  uint32_t zone_of(uint64_t sector) const {
    return static_cast<uint32_t>(sector >> std::countr_zero(zone_sectors));
  }
  uint64_t zone_start(uint32_t zone) const { return uint64_t{zone} * zone_sectors; }
  uint64_t zone_length(uint32_t zone) const {
    uint64_t start = zone_start(zone);
    return disk_sectors - start < zone_sectors ? disk_sectors - start : zone_sectors;
  }
  // Conventional zones are writable over their whole length (Linux requires cap == len).
  uint64_t zone_capacity(uint32_t zone) const {
    uint64_t len = zone_length(zone);
    if (is_conventional(zone)) return len;
    return capacity_sectors < len ? capacity_sectors : len;
  }
  bool is_conventional(uint32_t zone) const { return zone < conventional_zones; }
  uint32_t sequential_zones() const { return nr_zones - conventional_zones; }
  uint64_t granularity_sectors() const { return write_granularity / kSectorSize; }

  friend bool operator==(const ZoneGeometry&, const ZoneGeometry&) = default;
};

// Defaults (see docs/zoned-format.md):
constexpr uint32_t kDefaultMaxOpenZones = 8;
constexpr uint32_t kDefaultMaxActiveZones = 12;
constexpr uint64_t kDefaultMaxAppendBytes = 1 << 20;

// Applies the defaults to what the user left unset and validates the result against a disk of
// `disk_bytes`. `write_granularity` is the physical block size in bytes (512 or 4096).
// Throws BlockError with one line naming the file and the -drive option at fault, e.g.
//   vmm: -drive file=disk.img: zone_size=3M is not a power of two
ZoneGeometry resolve_geometry(const ZonedOptions& options, uint64_t disk_bytes,
                              uint32_t write_granularity, const std::string& file);

}  // namespace block::zoned
