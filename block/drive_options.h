#pragma once
// The QEMU-style `-drive` value: key=value pairs separated by commas, where a doubled comma
// ",," is a literal comma (so file names may contain commas).
#include <cstdint>
#include <string>
#include <string_view>

#include "block/cache_mode.h"

namespace block {

enum class DriveInterface { kVirtio, kIde, kAhci };
enum class AioEngine { kIoUring, kThreads };

// Zoned emulation (block/zoned/): what the user asked for. Unset values get the defaults
// chosen by block::zoned::resolve_geometry (see docs/zoned-format.md).
struct ZonedOptions {
  bool enabled = false;
  uint64_t zone_size = 0;      // bytes; 0 = default for the file size
  uint64_t zone_capacity = 0;  // bytes; 0 = zone_size
  uint32_t conventional_zones = 0;
  uint32_t max_open_zones = 0;    // 0 = no limit (when given explicitly)
  uint32_t max_active_zones = 0;  // 0 = no limit (when given explicitly)
  uint32_t max_append_sectors = 0;  // 0 = default
  // Whether the value above was given: an explicit 0 differs from "use the default".
  bool conventional_zones_set = false;
  bool max_open_zones_set = false;
  bool max_active_zones_set = false;
};

struct DriveOptions {
  std::string file;
  DriveInterface interface = DriveInterface::kVirtio;
  CacheMode cache;  // writeback
  AioEngine aio = AioEngine::kIoUring;
  bool read_only = false;
  bool discard_unmap = false;  // discard=ignore (QEMU's default)
  std::string serial;
  uint32_t num_queues = 1;
  ZonedOptions zoned;
};

// Throws BlockError with one line naming the offending option, e.g.
//   vmm: -drive: invalid value 'fast' for 'cache' (expected writeback, none, ...)
DriveOptions parse_drive_options(std::string_view value);

// "4096", "64K", "1M", "2G", "1T" (binary multiples). Throws BlockError naming `option`.
uint64_t parse_size(std::string_view option, std::string_view text);

std::string_view to_string(DriveInterface interface);
std::string_view to_string(AioEngine aio);

}  // namespace block
