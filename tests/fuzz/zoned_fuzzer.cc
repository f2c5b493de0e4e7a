// libFuzzer target: the zoned block layer (block/zoned). The input picks a small geometry
// (zone size, capacity, conventional zones, open/active limits, append limit, 512 or 4096
// byte granularity, a short last zone) over the null driver or a temp file with a real
// metadata sidecar, then runs sequences of writes, appends, reads, open/close/finish/reset,
// reset all, flushes, reports, discards and fault injection, several in flight at once.
// Oracle: the sanitizers, exactly one completion per request, append results inside the
// zone, and the ZoneTable invariants (zone_invariants.h) after every step.
//
// Input: 7 header bytes (see Geometry below), then ops until the input ends (see Op).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "block/backend.h"
#include "block/error.h"
#include "block/zoned/zone_metadata.h"
#include "block/zoned/zoned_backend.h"
#include "tests/fuzz/byte_reader.h"
#include "tests/fuzz/fuzz_disks.h"
#include "tests/fuzz/fuzz_ram.h"
#include "tests/fuzz/zone_invariants.h"

namespace kvmm::fuzz {
namespace {

using block::Op;
using block::Status;
constexpr uint64_t kSector = 512;
constexpr size_t kSlots = 8;
constexpr int kMaxOps = 128;

enum OpCode : uint8_t {
  kWrite,
  kAppend,
  kRead,
  kManage,     // open / close / finish / reset of one zone
  kResetAll,
  kFlush,
  kReport,
  kDiscard,    // discard / write zeroes
  kPump,
  kInject,     // READ-ONLY / OFFLINE
  kMalformed,  // misaligned offset or length, iovecs not matching the length
  kWriteCache,
  kOpCount,
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "zoned fuzzer: %s\n", what);
  std::abort();
}

// A device-side request slot with its own heap buffer (ASan sees every access to it).
struct Slot final : block::Completion {
  block::Request req;
  std::vector<uint8_t> buffer;
  iovec iov{};
  block::ZoneReport reports[4];
  bool in_flight = false;
  Status status;
  size_t bytes = 0;
  uint64_t zone_start = 0, zone_end = 0;  // appends: where the result must land

  Slot() { req.completion = this; }
  void complete(Status s, size_t n) override {
    if (!in_flight) fail("completion of a request that was not in flight (or twice)");
    in_flight = false;
    status = s;
    bytes = n;
    if (req.op == Op::kZoneAppend && s.is_ok() &&
        (req.append_sector < zone_start || req.append_sector + req.length / kSector > zone_end)) {
      std::fprintf(stderr, "append of %llu sectors to zone [%llu, %llu) landed at %llu\n",
                   static_cast<unsigned long long>(req.length / kSector), static_cast<unsigned long long>(zone_start),
                   static_cast<unsigned long long>(zone_end), static_cast<unsigned long long>(req.append_sector));
      fail("append result outside its zone");
    }
    if ((req.op == Op::kRead || req.op == Op::kWrite) && s.is_ok() && n != req.length) {
      fail("successful transfer reports a short length");
    }
    if (req.op == Op::kZoneReport && s.is_ok() && req.zones_reported > req.zone_report.size()) {
      fail("report filled more records than it had room for");
    }
  }
  void prepare(Op op, uint64_t offset, uint64_t length) {
    req.op = op;
    req.offset = offset;
    req.length = length;
    req.fua = false;
    req.unmap = false;
    req.zone_report = {};
    if (op == Op::kRead || op == Op::kWrite || op == Op::kZoneAppend) {
      buffer.assign(length, 0x5A);
      iov = {buffer.data(), length};
      req.iov = {&iov, length == 0 ? 0u : 1u};
    } else {
      req.iov = {};
    }
  }
};

class Harness {
 public:
  Harness(block::zoned::ZonedBackend& backend, bool slow) : zb_(backend), slow_(slow) {}
  ~Harness() { drain(); }

  void run(ByteReader& in) {
    for (int i = 0; i < kMaxOps && !in.empty(); ++i) {
      step(in);
      check_zone_invariants(zb_.zones());
    }
    drain();
    check_zone_invariants(zb_.zones());
  }

 private:
  const block::zoned::ZoneGeometry& g() const { return zb_.zones().geometry(); }

  Slot* pick_slot(ByteReader& in) {
    Slot& s = slots_[in.u8() % kSlots];
    return s.in_flight ? nullptr : &s;
  }
  uint32_t pick_zone(ByteReader& in) { return in.u8() % g().nr_zones; }

  // Sectors: a zone start, a zone's write pointer, near the end, or anything.
  uint64_t pick_sector(ByteReader& in) {
    uint8_t mode = in.u8();
    uint32_t zone = pick_zone(in);
    switch (mode % 5) {
      case 0:
        return g().zone_start(zone);
      case 1:
      case 2:
        return zb_.zones().zone(zone).write_pointer;
      case 3:
        return g().disk_sectors - in.u8() % 4;
      default:
        return in.u32() % (g().disk_sectors + 64);
    }
  }
  uint64_t pick_sectors(ByteReader& in) {
    uint8_t v = in.u8();
    if (v & 0x80) return in.u16() % 512;  // crosses zones and the end; bounded buffers keep it fast
    uint64_t granule = g().granularity_sectors();
    return (v % 17) * granule;
  }

  // An append that succeeds must land inside the zone containing `sector` (none past the end).
  void expect_append_in(Slot& s, uint64_t sector) {
    s.zone_start = s.zone_end = 0;
    if (sector >= g().disk_sectors) return;
    uint32_t zone = g().zone_of(sector);
    s.zone_start = g().zone_start(zone);
    s.zone_end = s.zone_start + g().zone_capacity(zone);
  }

  void submit(Slot& s) {
    s.in_flight = true;
    zb_.submit(s.req);
  }

  void pump(int wait_ms) {
    if (slow_ && zb_.in_flight() > 0) wait_readable(zb_.completion_fd(), wait_ms);
    zb_.process_completions();
  }

  void drain() {
    for (int i = 0; i < 400 && zb_.in_flight() > 0; ++i) pump(slow_ ? 50 : 0);
    for (const Slot& s : slots_) {
      if (s.in_flight) fail("request never completed");
    }
  }

  void step(ByteReader& in) {
    uint8_t code = in.u8() % kOpCount;
    switch (code) {
      case kWrite:
      case kRead: {
        Slot* s = pick_slot(in);
        uint64_t sector = pick_sector(in);
        uint64_t sectors = pick_sectors(in);
        if (s == nullptr) break;
        s->prepare(code == kWrite ? Op::kWrite : Op::kRead, sector * kSector, sectors * kSector);
        s->req.fua = in.flag();
        submit(*s);
        break;
      }
      case kAppend: {
        Slot* s = pick_slot(in);
        uint32_t zone = pick_zone(in);
        uint64_t sectors = pick_sectors(in);
        if (s == nullptr) break;
        s->prepare(Op::kZoneAppend, g().zone_start(zone) * kSector, sectors * kSector);
        expect_append_in(*s, g().zone_start(zone));
        submit(*s);
        break;
      }
      case kManage: {
        static constexpr Op kOps[] = {Op::kZoneOpen, Op::kZoneClose, Op::kZoneFinish, Op::kZoneReset};
        Slot* s = pick_slot(in);
        Op op = kOps[in.u8() % 4];
        uint64_t sector = pick_sector(in);
        if (s == nullptr) break;
        s->prepare(op, sector * kSector, in.flag() ? kSector : 0);
        submit(*s);
        break;
      }
      case kResetAll: {
        Slot* s = pick_slot(in);
        bool odd = in.flag();
        if (s == nullptr) break;
        s->prepare(Op::kZoneResetAll, odd ? g().zone_start(1) * kSector : 0, 0);
        submit(*s);
        break;
      }
      case kFlush: {
        Slot* s = pick_slot(in);
        if (s == nullptr) break;
        s->prepare(Op::kFlush, 0, 0);
        submit(*s);
        break;
      }
      case kReport: {
        Slot* s = pick_slot(in);
        uint64_t sector = pick_sector(in);
        size_t records = in.u8() % 5;
        if (s == nullptr) break;
        s->prepare(Op::kZoneReport, sector * kSector, 0);
        s->req.zone_report = {s->reports, records};
        submit(*s);
        break;
      }
      case kDiscard: {
        Slot* s = pick_slot(in);
        bool zeroes = in.flag();
        uint64_t sector = pick_sector(in);
        uint64_t sectors = pick_sectors(in);
        if (s == nullptr) break;
        s->prepare(zeroes ? Op::kWriteZeroes : Op::kDiscard, sector * kSector, sectors * kSector);
        s->req.unmap = in.flag();
        submit(*s);
        break;
      }
      case kPump:
        pump(in.u8() % 4);
        break;
      case kInject: {
        uint32_t zone = pick_zone(in);
        (void)zb_.inject_condition(zone, in.flag() ? block::ZoneCondition::kReadOnly : block::ZoneCondition::kOffline);
        break;
      }
      case kMalformed: {
        Slot* s = pick_slot(in);
        static constexpr Op kOps[] = {Op::kWrite, Op::kRead, Op::kZoneAppend, Op::kZoneReset};
        Op op = kOps[in.u8() % 4];
        uint64_t offset = pick_sector(in) * kSector + in.u8() % 3 * 100;
        uint64_t length = pick_sectors(in) * kSector + in.u8() % 2 * 7;
        if (s == nullptr) break;
        s->prepare(op, offset, length);
        expect_append_in(*s, offset / kSector);
        if (op != Op::kZoneReset && in.flag()) s->iov.iov_len /= 2;  // iovecs shorter than length
        submit(*s);
        break;
      }
      case kWriteCache:
        zb_.set_write_cache_enabled(in.flag());
        break;
      default:
        break;
    }
  }

  block::zoned::ZonedBackend& zb_;
  bool slow_;
  Slot slots_[kSlots];
};

struct Geometry {
  block::ZonedOptions options;
  uint64_t disk_bytes = 0;
  uint32_t granularity = 512;
  bool read_only = false;
  bool file = false;
  block::CacheMode cache;
  uint64_t fail_mask = 0;
};

// Header: u8 zone size, u8 capacity, u8 conventional zones, u8 max open, u8 max active,
// u8 zone count, u8 flags (bit 0: 4K granularity, 1: read-only, 2: temp file + sidecar,
// 3: short last zone, 4: write cache off, 5: unsafe, 6: explicit max_append_sectors (u8
// follows), 7: a u32 follows whose bit i fails the i-th request with EIO, see CheckingDriver).
Geometry read_geometry(ByteReader& in) {
  Geometry geo;
  block::ZonedOptions& o = geo.options;
  uint8_t zone_sel = in.u8(), cap_sel = in.u8(), conv = in.u8(), open = in.u8(), active = in.u8();
  uint8_t zones = in.u8(), flags = in.u8();
  geo.granularity = (flags & 1) ? 4096 : 512;
  uint64_t zone_bytes = uint64_t{4096} << (zone_sel % 5);  // 4 KiB .. 64 KiB
  o.enabled = true;
  o.zone_size = zone_bytes;
  o.zone_capacity = cap_sel == 0 ? 0 : zone_bytes - (cap_sel % (zone_bytes / geo.granularity)) * geo.granularity;
  o.conventional_zones = conv % 4;
  o.conventional_zones_set = true;
  o.max_open_zones = open % 5;
  o.max_open_zones_set = true;
  o.max_active_zones = active % 6;
  o.max_active_zones_set = true;
  if (flags & 0x40) o.max_append_sectors = static_cast<uint32_t>(in.u8()) * (geo.granularity / 512);
  if (flags & 0x80) geo.fail_mask = in.u32();
  geo.disk_bytes = (4 + zones % 13) * zone_bytes + ((flags & 8) ? zone_bytes / 2 : 0);
  geo.read_only = flags & 2;
  geo.file = flags & 4;
  geo.cache.writeback = !(flags & 0x10);
  geo.cache.no_flush = flags & 0x20;
  return geo;
}

}  // namespace
}  // namespace kvmm::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvmm::fuzz;
  static FuzzRam ram;  // CheckingDriver wants guest RAM; the buffers here live on the heap
  ByteReader in(data, size);
  Geometry geo = read_geometry(in);
  block::BackendPolicy policy{geo.cache, geo.read_only, false};
  std::unique_ptr<TempImage> image;
  std::unique_ptr<block::zoned::ZonedBackend> zoned;
  try {
    std::unique_ptr<block::Backend> inner;
    std::string sidecar;
    if (geo.file) {
      image = std::make_unique<TempImage>(geo.disk_bytes);
      inner = file_backend(ram.memory, *image, policy, geo.fail_mask);
      sidecar = block::zoned::metadata_path_for(image->path());
    } else {
      inner = null_backend(ram.memory, geo.disk_bytes, policy, geo.fail_mask, geo.granularity);
    }
    zoned = std::make_unique<block::zoned::ZonedBackend>(std::move(inner), geo.options, sidecar, "fuzz.img");
  } catch (const block::BlockError&) {
    return 0;  // a geometry the option checks refuse: nothing to run
  }
  Harness harness(*zoned, geo.file);
  harness.run(in);
  return 0;
}
