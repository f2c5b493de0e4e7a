// libFuzzer target: the command-line parsers: `-drive` values (block::parse_drive_options,
// block::parse_size, and the zone geometry a zoned -drive resolves to), QEMU key=value
// splitting (vmm::split_key_values), -m sizes and whole VMM command lines
// (vmm::parse_command_line). Oracle: only the documented exception types escape, error
// messages name what they are about, and what parses satisfies the documented limits
// (split_key_values also round-trips through a re-join).
//
// Input: u8 mode, then mode-specific bytes and the text (see below; make_seeds.py writes them).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>
#include <vector>

#include "block/drive_options.h"
#include "block/error.h"
#include "block/zoned/zone_geometry.h"
#include "tests/fuzz/byte_reader.h"
#include "vmm/command_line.h"
#include "vmm/key_value.h"

namespace kvmm::fuzz {
namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "drive_options fuzzer: %s\n", what.c_str());
  std::abort();
}

void expect(bool ok, const char* rule) {
  if (!ok) fail(rule);
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

void check_drive(const block::DriveOptions& d) {
  expect(!d.file.empty(), "parsed -drive without a file");
  expect(d.serial.size() <= 20, "serial longer than 20 bytes accepted");
  expect(d.num_queues >= 1 && d.num_queues <= 256, "num-queues outside 1..256 accepted");
  const block::ZonedOptions& z = d.zoned;
  if (!z.enabled) {
    expect(z.zone_size == 0 && z.zone_capacity == 0 && z.max_append_sectors == 0,
           "zone options accepted without zoned=on");
  }
  if (z.zone_size != 0 && z.zone_capacity != 0) expect(z.zone_capacity <= z.zone_size, "zone_capacity > zone_size");
}

// A zoned -drive: the geometry it resolves to on a disk of `disk_bytes` (what ZonedBackend::open
// does after opening the file) is either refused with the file's name or self-consistent.
void check_geometry(const block::DriveOptions& d, uint64_t disk_bytes, uint32_t granularity) {
  block::zoned::ZoneGeometry g;
  try {
    g = block::zoned::resolve_geometry(d.zoned, disk_bytes, granularity, d.file);
  } catch (const block::BlockError& e) {
    expect(starts_with(e.what(), ("vmm: -drive file=" + d.file + ": ").c_str()), "geometry error without the file");
    return;
  }
  expect(g.zone_sectors != 0 && (g.zone_sectors & (g.zone_sectors - 1)) == 0, "zone size not a power of two");
  expect(g.capacity_sectors != 0 && g.capacity_sectors <= g.zone_sectors, "zone capacity outside (0, zone size]");
  expect(g.nr_zones >= 1 && g.conventional_zones < g.nr_zones, "no sequential zone");
  expect(uint64_t{g.nr_zones - 1} * g.zone_sectors < g.disk_sectors, "a zone starts past the end of the disk");
  expect(uint64_t{g.nr_zones} * g.zone_sectors >= g.disk_sectors, "zones do not cover the disk");
  expect(g.max_append_sectors != 0 && g.max_append_sectors <= g.capacity_sectors, "max_append_sectors out of range");
  expect(g.max_active_zones == 0 || g.max_open_zones <= g.max_active_zones, "more open than active zones allowed");
  uint64_t granule = g.write_granularity / 512;
  expect(granule != 0 && g.capacity_sectors % granule == 0 && g.max_append_sectors % granule == 0,
         "capacity or append limit not a multiple of the write granularity");
}

std::string join(const std::vector<vmm::KeyValue>& kvs) {
  auto escape = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == ',' ? std::string(",,") : std::string(1, c);
    return out;
  };
  std::string text;
  for (const vmm::KeyValue& kv : kvs) {
    if (!text.empty()) text += ',';
    text += escape(kv.key) + "=" + escape(kv.value);
  }
  return text;
}

void drive(ByteReader& in, bool geometry) {
  uint64_t disk_bytes = in.u64() % (uint64_t{1} << 34);
  uint32_t granularity = (in.u8() & 1) ? 4096 : 512;
  std::string text = in.rest();
  block::DriveOptions d;
  try {
    d = block::parse_drive_options(text);
  } catch (const block::BlockError& e) {
    expect(starts_with(e.what(), "vmm: -drive: "), "-drive error not naming -drive");
    return;
  }
  check_drive(d);
  if (geometry && d.zoned.enabled) check_geometry(d, disk_bytes, granularity);
}

void size(ByteReader& in) {
  std::string text = in.rest();
  try {
    (void)block::parse_size("zone_size", text);
  } catch (const block::BlockError& e) {
    expect(starts_with(e.what(), "vmm: -drive: invalid value '"), "size error not naming the value");
  }
}

void key_values(ByteReader& in) {
  bool implied = in.flag();
  std::string text = in.rest();
  std::vector<vmm::KeyValue> kvs;
  try {
    kvs = vmm::split_key_values(text, implied ? "file" : "");
  } catch (const std::invalid_argument&) {
    return;
  }
  expect(!kvs.empty(), "no pairs from a non-empty string");
  std::vector<vmm::KeyValue> again;
  try {
    again = vmm::split_key_values(join(kvs));
  } catch (const std::invalid_argument&) {
    fail("re-joined pairs do not parse");
  }
  expect(again == kvs, "key=value pairs do not survive a re-join");
}

void memory(ByteReader& in) {
  std::string text = in.rest();
  try {
    uint64_t bytes = vmm::parse_memory_size(text);
    expect(bytes <= (uint64_t{1} << 40), "-m above 1 TiB accepted");
  } catch (const std::invalid_argument&) {
  }
}

void command_line(ByteReader& in) {
  // Arguments separated by NUL bytes; "@K" stands for a readable file (the kernel).
  std::vector<std::string> args(1);
  for (char c : in.rest()) {
    if (c == '\0') {
      args.emplace_back();
    } else {
      args.back() += c;
    }
  }
  for (std::string& a : args) {
    if (a == "@K") a = "/proc/self/exe";
  }
  try {
    vmm::Options o = vmm::parse_command_line(args);
    if (o.show_help) return;
    expect(!o.kernel_path.empty(), "no kernel but no error");
    expect(o.vcpus >= 1 && o.vcpus <= 64, "-smp outside 1..64 accepted");
    expect(o.memory_bytes >= (32ull << 20) && o.memory_bytes <= (1ull << 40), "-m outside 32M..1T accepted");
    for (const block::DriveOptions& d : o.drives) check_drive(d);
  } catch (const vmm::UsageError& e) {
    expect(std::string(e.what()).size() > 0, "empty usage error");
  }
}

}  // namespace
}  // namespace kvmm::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvmm::fuzz;
  ByteReader in(data, size);
  uint8_t mode = in.u8();
  try {
    switch (mode % 6) {
      case 0:
        drive(in, false);
        break;
      case 1:
        drive(in, true);
        break;
      case 2:
        kvmm::fuzz::size(in);
        break;
      case 3:
        key_values(in);
        break;
      case 4:
        memory(in);
        break;
      default:
        command_line(in);
        break;
    }
  } catch (const std::exception& e) {
    fail(std::string("unexpected ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
