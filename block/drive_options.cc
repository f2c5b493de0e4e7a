#include "block/drive_options.h"

#include <charconv>
#include <limits>
#include <set>
#include <vector>

#include "block/error.h"

namespace block {
namespace {

constexpr size_t kMaxSerial = 20;  // virtio-blk GET_ID and ATA IDENTIFY both carry 20 bytes
constexpr uint32_t kMaxQueues = 256;

[[noreturn]] void fail(const std::string& message) { throw BlockError("vmm: -drive: " + message); }

[[noreturn]] void bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  fail("invalid value '" + std::string(value) + "' for '" + std::string(key) + "' (expected " +
       std::string(expected) + ")");
}

struct Pair {
  std::string key;
  std::string value;
  bool has_value;
};

// Splits on single commas; ",," is an escaped comma.
std::vector<Pair> split(std::string_view text) {
  std::vector<std::string> items(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != ',') {
      items.back() += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == ',') {
      items.back() += ',';
      ++i;
    } else {
      items.emplace_back();
    }
  }
  std::vector<Pair> pairs;
  for (std::string& item : items) {
    if (item.empty()) fail("empty option (stray comma?)");
    size_t eq = item.find('=');
    if (eq == 0) fail("option without a name: '" + item + "'");
    if (eq == std::string::npos) {
      pairs.push_back({item, "", false});
    } else {
      pairs.push_back({item.substr(0, eq), item.substr(eq + 1), true});
    }
  }
  return pairs;
}

bool parse_bool(std::string_view key, std::string_view value) {
  if (value == "on" || value == "yes" || value == "true") return true;
  if (value == "off" || value == "no" || value == "false") return false;
  bad_value(key, value, "on or off");
}

uint32_t parse_u32(std::string_view key, std::string_view value, uint32_t min, uint32_t max) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < min || n > max) {
    bad_value(key, value, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return n;
}

}  // namespace

uint64_t parse_size(std::string_view option, std::string_view text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  std::string_view suffix(end, text.data() + text.size() - end);
  unsigned shift = 0;
  if (suffix == "K" || suffix == "k") {
    shift = 10;
  } else if (suffix == "M") {
    shift = 20;
  } else if (suffix == "G") {
    shift = 30;
  } else if (suffix == "T") {
    shift = 40;
  } else if (!suffix.empty()) {
    ec = std::errc::invalid_argument;
  }
  if (text.empty() || end == text.data() || ec != std::errc() ||
      n > (std::numeric_limits<uint64_t>::max() >> shift)) {
    bad_value(option, text, "a size in bytes, optionally with a K, M, G or T suffix");
  }
  return n << shift;
}

DriveOptions parse_drive_options(std::string_view value) {
  DriveOptions opts;
  std::set<std::string> seen;
  bool have_file = false;
  for (const Pair& p : split(value)) {
    const std::string& k = p.key;
    const std::string& v = p.value;
    if (!seen.insert(k).second) fail("option '" + k + "' given twice");
    // A bare boolean key means "on", as in QEMU ("readonly" == "readonly=on").
    bool boolean_key = k == "readonly" || k == "zoned";
    if (!p.has_value && !boolean_key) fail("option '" + k + "' needs a value (" + k + "=...)");

    if (k == "file") {
      if (v.empty()) fail("'file' must not be empty");
      opts.file = v;
      have_file = true;
    } else if (k == "if") {
      if (v == "virtio") {
        opts.interface = DriveInterface::kVirtio;
      } else if (v == "ide") {
        opts.interface = DriveInterface::kIde;
      } else if (v == "ahci") {
        opts.interface = DriveInterface::kAhci;
      } else {
        bad_value(k, v, "virtio, ide or ahci");
      }
    } else if (k == "format") {
      if (v != "raw") fail("format '" + v + "' is not supported (only format=raw)");
    } else if (k == "cache") {
      try {
        opts.cache = parse_cache_mode(v);
      } catch (const BlockError&) {
        bad_value(k, v, "writeback, none, writethrough, directsync or unsafe");
      }
    } else if (k == "aio") {
      if (v == "io_uring") {
        opts.aio = AioEngine::kIoUring;
      } else if (v == "threads") {
        opts.aio = AioEngine::kThreads;
      } else {
        bad_value(k, v, "io_uring or threads");
      }
    } else if (k == "readonly") {
      opts.read_only = p.has_value ? parse_bool(k, v) : true;
    } else if (k == "discard") {
      if (v == "unmap" || v == "on") {
        opts.discard_unmap = true;
      } else if (v == "ignore" || v == "off") {
        opts.discard_unmap = false;
      } else {
        bad_value(k, v, "unmap or ignore");
      }
    } else if (k == "serial") {
      if (v.size() > kMaxSerial) {
        fail("'serial' is longer than " + std::to_string(kMaxSerial) + " characters");
      }
      opts.serial = v;
    } else if (k == "num-queues") {
      opts.num_queues = parse_u32(k, v, 1, kMaxQueues);
    } else if (k == "zoned") {
      opts.zoned.enabled = p.has_value ? parse_bool(k, v) : true;
    } else if (k == "zone_size") {
      opts.zoned.zone_size = parse_size(k, v);
    } else if (k == "zone_capacity") {
      opts.zoned.zone_capacity = parse_size(k, v);
    } else if (k == "conventional_zones") {
      opts.zoned.conventional_zones = parse_u32(k, v, 0, std::numeric_limits<uint32_t>::max());
      opts.zoned.conventional_zones_set = true;
    } else if (k == "max_open_zones") {
      opts.zoned.max_open_zones = parse_u32(k, v, 0, std::numeric_limits<uint32_t>::max());
      opts.zoned.max_open_zones_set = true;
    } else if (k == "max_active_zones") {
      opts.zoned.max_active_zones = parse_u32(k, v, 0, std::numeric_limits<uint32_t>::max());
      opts.zoned.max_active_zones_set = true;
    } else if (k == "max_append_sectors") {
      opts.zoned.max_append_sectors = parse_u32(k, v, 0, std::numeric_limits<uint32_t>::max());
    } else {
      fail("unknown option '" + k + "'");
    }
  }
  if (!have_file) fail("missing 'file=PATH'");
  const ZonedOptions& z = opts.zoned;
  if (z.zone_capacity != 0 && z.zone_size != 0 && z.zone_capacity > z.zone_size) {
    fail("'zone_capacity' is larger than 'zone_size'");
  }
  if (!z.enabled && (z.zone_size != 0 || z.zone_capacity != 0 || z.conventional_zones != 0 ||
                     z.max_open_zones != 0 || z.max_active_zones != 0 || z.max_append_sectors != 0)) {
    fail("zone options need 'zoned=on'");
  }
  return opts;
}

std::string_view to_string(DriveInterface interface) {
  switch (interface) {
    case DriveInterface::kVirtio:
      return "virtio";
    case DriveInterface::kIde:
      return "ide";
    case DriveInterface::kAhci:
      return "ahci";
  }
  return "?";
}

std::string_view to_string(AioEngine aio) {
  return aio == AioEngine::kIoUring ? "io_uring" : "threads";
}

}  // namespace block
