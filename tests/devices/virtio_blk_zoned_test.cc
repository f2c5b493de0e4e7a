// Zoned virtio-blk (VIRTIO_BLK_F_ZONED, host-managed) over a real block::zoned::ZonedBackend
// on a temp file, driven like a guest driver: BAR 0 register writes, split rings in a real
// vmm::GuestMemory. One test per rule of the spec (device-types/blk, zoned parts), then
// hostile input.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/drive_options.h"
#include "block/zoned/zoned_backend.h"
#include "devices/virtio/virtio_blk.h"
#include "holding_disk.h"
#include "tests/block/zoned/zoned_test_util.h"
#include "virtio_test_util.h"

namespace devices::virtio {
namespace {

using namespace blk;
using testing::Buf;
using testing::FakeHooks;
using testing::FakeMsi;
using testing::HoldingDisk;
using testing::TempDir;
using testing::TestDriver;
using testing::TestRam;

// 40 MiB image, 1 MiB zones (2048 sectors) with 768 KiB (1536 sectors) capacity; zones 0-1
// conventional, 2-39 sequential; max open 3, max active 4. 40 zones > the device's 16-zone
// report round, so full reports take several rounds.
constexpr uint64_t kZoneSectors = 2048;
constexpr uint64_t kZoneCap = 1536;
constexpr uint32_t kZones = 40;
constexpr uint64_t kDiskBytes = uint64_t{kZones} * kZoneSectors * 512;
constexpr uint64_t Z(uint32_t zone) { return zone * kZoneSectors; }

constexpr uint64_t kBase = bit(feature::kVersion1) | bit(kSizeMax) | bit(kSegMax) | bit(kBlkSize) |
                           bit(kTopology) | bit(kFlush) | bit(kConfigWce) | bit(kMq);
constexpr uint64_t kZonedFeatures = kBase | bit(kZoned);

constexpr uint8_t kTypeConv = 1, kTypeSwr = 2;
constexpr uint8_t kNotWp = 0, kEmpty = 1, kIOpen = 2, kEOpen = 3, kClosed = 4, kFull = 14;
constexpr uint8_t kPoison = 0xAA;

struct Desc {
  uint64_t cap, start, wp;
  uint8_t type, state;
  bool reserved_zero;
};

struct ReportResult {
  uint8_t status = 0xEE;
  uint32_t used = 0;
  uint64_t nr_zones = 0;
  bool header_reserved_zero = false;
  std::vector<Desc> zones;
  std::vector<uint8_t> raw;  // the whole reply buffer as the guest sees it
};

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

class VirtioBlkZonedTest : public ::testing::Test {
 protected:
  struct Setup {
    std::string zone_options = ",zone_size=1M,zone_capacity=768K,conventional_zones=2,max_open_zones=3,"
                               "max_active_zones=4";
    VirtioBlkOptions options{.serial = "zoned-0"};
    bool read_only = false;
  };

  // The device over a test disk (e.g. a HoldingDisk), wired like open(); returns the disk.
  template <typename D>
  D* open_over(std::unique_ptr<D> disk) {
    return testing::attach_device(std::move(disk), ram_, msi_, hooks_, dev_, drv_);
  }
  void open(const Setup& s) {
    drv_.reset();
    dev_.reset();
    zb_.reset();
    path_ = dir_.file("zoned.img");
    if (!file_ready_) {
      int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kDiskBytes)), 0);
      std::vector<uint8_t> conv(4096, 0x5C);  // recognisable data in conventional zone 0
      ASSERT_EQ(::pwrite(fd, conv.data(), conv.size(), 0), static_cast<ssize_t>(conv.size()));
      ::close(fd);
      file_ready_ = true;
    }
    std::string opts = "file=" + path_ + ",zoned=on,aio=threads" + s.zone_options;
    if (s.read_only) opts += ",readonly=on";
    zb_ = block::zoned::ZonedBackend::open(block::parse_drive_options(opts));
    dev_ = std::make_unique<VirtioBlk>(ram_.memory, *zb_, s.options);
    dev_->set_msi_sender(&msi_);
    dev_->set_notify_hooks(&hooks_);
    drv_ = std::make_unique<TestDriver>(*dev_, ram_);
  }
  void open() { open(Setup{}); }
  // The device over a ZonedBackend on a memory driver the test finishes request by request
  // (out of order, some with EIO). `ready_inline`: the driver reports finished requests as
  // ready, so VirtioBlk reaps them inside its submission batch (process_ready_completions).
  block::zoned::testing::ManualDriver* open_manual(bool ready_inline) {
    drv_.reset();
    dev_.reset();
    zb_.reset();
    auto driver = std::make_unique<block::zoned::testing::ManualDriver>(kDiskBytes);
    auto* manual = driver.get();
    manual->report_ready = ready_inline;
    auto inner = std::make_unique<block::Backend>(std::move(driver), block::BackendPolicy{}, kDiskBytes);
    const auto zoned = block::parse_drive_options("file=mem,zoned=on" + Setup{}.zone_options).zoned;
    zb_ = std::make_unique<block::zoned::ZonedBackend>(std::move(inner), zoned, "", "mem");
    dev_ = std::make_unique<VirtioBlk>(ram_.memory, *zb_, Setup{}.options);
    dev_->set_msi_sender(&msi_);
    dev_->set_notify_hooks(&hooks_);
    drv_ = std::make_unique<TestDriver>(*dev_, ram_);
    return manual;
  }
  void up(uint64_t features = kZonedFeatures) { drv_->bring_up(features, 1, 64); }

  void pump() {
    dev_->process_queue(0);
    for (int i = 0; i < 2000; ++i) {
      auto kicks = std::move(hooks_.kicks);
      hooks_.kicks.clear();
      for (uint16_t q : kicks) dev_->process_queue(q);
      if (zb_->in_flight() == 0 && hooks_.kicks.empty()) return;
      pollfd p{zb_->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      zb_->process_completions();
    }
    FAIL() << "requests did not complete";
  }

  uint64_t header(uint32_t type, uint64_t sector) {
    uint64_t h = ram_.alloc(16);
    ram_.set<uint32_t>(h, type);
    ram_.set<uint32_t>(h + 4, 0);
    ram_.set<uint64_t>(h + 8, sector);
    return h;
  }
  uint64_t status_byte() {
    uint64_t st = ram_.alloc(1, 1);
    ram_.set<uint8_t>(st, 0xEE);
    return st;
  }
  uint32_t last_used_len() { return drv_->used_elem(0, static_cast<uint16_t>(drv_->used_idx(0) - 1)).second; }

  // A no-data request (zone management); returns the status byte.
  uint8_t cmd(uint32_t type, uint64_t sector) {
    uint64_t st = status_byte();
    drv_->submit(0, {{header(type, sector), 16, false}, {st, 1, true}});
    pump();
    return ram_.get<uint8_t>(st);
  }
  uint8_t write(uint64_t sector, uint32_t bytes, uint8_t fill) {
    uint64_t data = ram_.alloc(bytes, 512);
    std::memset(ram_.ptr(data, bytes), fill, bytes);
    uint64_t st = status_byte();
    drv_->submit(0, {{header(kTypeOut, sector), 16, false}, {data, bytes, false}, {st, 1, true}});
    pump();
    return ram_.get<uint8_t>(st);
  }
  uint8_t read(uint64_t sector, uint32_t bytes, std::vector<uint8_t>* out) {
    uint64_t data = ram_.alloc(bytes, 512);
    std::memset(ram_.ptr(data, bytes), kPoison, bytes);
    uint64_t st = status_byte();
    drv_->submit(0, {{header(kTypeIn, sector), 16, false}, {data, bytes, true}, {st, 1, true}});
    pump();
    out->assign(ram_.ptr(data, bytes), ram_.ptr(data, bytes) + bytes);
    return ram_.get<uint8_t>(st);
  }
  // ZONE_APPEND. The device-writable in-header is `in_len` bytes (9 in the spec, 16 from
  // Linux on x86-64): append_sector in its first 8 bytes, the status in its last byte. With
  // `split` != 0 it comes in two non-adjacent pieces of split and in_len - split bytes.
  // `padding_ok` reports whether the bytes between sector and status were left alone.
  uint8_t append(uint64_t sector, uint32_t bytes, uint8_t fill, uint64_t* at, uint32_t* used = nullptr,
                 uint32_t split = 0, uint32_t in_len = 9, bool* padding_ok = nullptr) {
    uint64_t data = bytes ? ram_.alloc(bytes, 512) : 0;
    if (bytes) std::memset(ram_.ptr(data, bytes), fill, bytes);
    uint64_t in = ram_.alloc(in_len + 64, 8);
    std::memset(ram_.ptr(in, in_len + 64), kPoison, in_len + 64);
    std::vector<Buf> b{{header(kTypeZoneAppend, sector), 16, false}};
    if (bytes) b.push_back({data, bytes, false});
    if (split == 0) {
      b.push_back({in, in_len, true});
    } else {
      b.push_back({in, split, true});
      b.push_back({in + split + 32, in_len - split, true});  // not adjacent to the first piece
    }
    drv_->submit(0, b);
    pump();
    std::vector<uint8_t> hdr(in_len);
    if (split == 0) {
      std::memcpy(hdr.data(), ram_.ptr(in, in_len), in_len);
    } else {
      std::memcpy(hdr.data(), ram_.ptr(in, split), split);
      std::memcpy(hdr.data() + split, ram_.ptr(in + split + 32, in_len - split), in_len - split);
    }
    *at = le64(hdr.data());
    if (used) *used = last_used_len();
    if (padding_ok) {
      *padding_ok = true;
      for (uint32_t i = 8; i + 1 < in_len; ++i) *padding_ok &= hdr[i] == kPoison;
    }
    return hdr[in_len - 1];
  }

  // ZONE_REPORT into a reply buffer made of separately allocated segments of the given sizes
  // (gaps between them, so descriptors really straddle segments); status byte apart.
  ReportResult report(uint64_t sector, const std::vector<uint32_t>& segments, bool indirect = false) {
    std::vector<Buf> b{{header(kTypeZoneReport, sector), 16, false}};
    for (uint32_t len : segments) {
      uint64_t at = ram_.alloc(len + 24, 8) + 8;  // unaligned, with a gap
      std::memset(ram_.ptr(at, len), kPoison, len);
      b.push_back({at, len, true});
    }
    uint64_t st = status_byte();
    b.push_back({st, 1, true});
    if (indirect) {
      drv_->publish(0, drv_->make_indirect(0, b));
    } else {
      drv_->submit(0, b);
    }
    pump();
    ReportResult r;
    r.status = ram_.get<uint8_t>(st);
    r.used = last_used_len();
    for (size_t i = 1; i + 1 < b.size(); ++i) {
      const uint8_t* p = ram_.ptr(b[i].address, b[i].length);
      r.raw.insert(r.raw.end(), p, p + b[i].length);
    }
    if (r.status != kStatusOk || r.raw.size() < 64) return r;
    r.nr_zones = le64(r.raw.data());
    r.header_reserved_zero = true;
    for (size_t i = 8; i < 64; ++i) r.header_reserved_zero &= r.raw[i] == 0;
    for (uint64_t z = 0; z < r.nr_zones && 64 + (z + 1) * 64 <= r.raw.size(); ++z) {
      const uint8_t* d = r.raw.data() + 64 + z * 64;
      Desc desc{le64(d), le64(d + 8), le64(d + 16), d[24], d[25], true};
      for (size_t i = 26; i < 64; ++i) desc.reserved_zero &= d[i] == 0;
      r.zones.push_back(desc);
    }
    return r;
  }
  ReportResult report(uint64_t sector, uint32_t descriptors = 64) {
    return report(sector, std::vector<uint32_t>{64 + descriptors * 64});
  }
  Desc zone(uint32_t z) {
    ReportResult r = report(Z(z), 1);
    EXPECT_EQ(r.status, kStatusOk);
    EXPECT_EQ(r.nr_zones, 1u);
    return r.zones.empty() ? Desc{} : r.zones[0];
  }

  uint64_t cfg(uint32_t off, size_t size) { return drv_->read(VirtioPciDevice::kDeviceConfigOffset + off, size); }
  bool needs_reset() { return dev_->status() & device_status::kNeedsReset; }

  TestRam ram_;
  TempDir dir_;
  std::string path_;
  bool file_ready_ = false;
  FakeMsi msi_;
  FakeHooks hooks_;
  std::unique_ptr<block::zoned::ZonedBackend> zb_;
  std::unique_ptr<VirtioBlk> dev_;
  std::unique_ptr<TestDriver> drv_;
};

// --- Feature negotiation and configuration ---

TEST_F(VirtioBlkZonedTest, OffersZonedButNotDiscardOrWriteZeroes) {
  open();
  drv_->enable_device();
  uint64_t f = drv_->device_features();
  EXPECT_TRUE(f & bit(kZoned));
  EXPECT_FALSE(f & bit(kDiscard));
  EXPECT_FALSE(f & bit(kWriteZeroes));
  EXPECT_FALSE(f & bit(kRo));
  EXPECT_TRUE(f & bit(kFlush));
  EXPECT_TRUE(f & bit(feature::kVersion1));
}

TEST_F(VirtioBlkZonedTest, HostManagedRefusesFeaturesOkWithoutZoned) {
  open();
  drv_->enable_device();
  EXPECT_FALSE(drv_->negotiate(kBase));
  EXPECT_FALSE(drv_->status() & device_status::kFeaturesOk);
  drv_->set_status(0);
  EXPECT_TRUE(drv_->negotiate(kZonedFeatures));
  // The driver must not negotiate DISCARD on a host-managed device; it is not even offered.
  drv_->set_status(0);
  EXPECT_FALSE(drv_->negotiate(kZonedFeatures | bit(kDiscard)));
}

TEST_F(VirtioBlkZonedTest, ConfigZonedFieldsLittleEndianAtSpecOffsets) {
  open();
  drv_->enable_device();
  ASSERT_TRUE(drv_->negotiate(kZonedFeatures));
  EXPECT_EQ(cfg(cfg::kCapacity, 8), uint64_t{kZones} * kZoneSectors);
  EXPECT_EQ(cfg(0x48, 4), kZoneSectors);        // zone_sectors
  EXPECT_EQ(cfg(0x4C, 4), 3u);                  // max_open_zones
  EXPECT_EQ(cfg(0x50, 4), 4u);                  // max_active_zones
  EXPECT_EQ(cfg(0x54, 4), kZoneCap);            // max_append_sectors: 1 MiB capped at the capacity
  EXPECT_EQ(cfg(0x58, 4), 512u);                // write_granularity, bytes
  EXPECT_EQ(cfg(0x5C, 1), kZonedModelHostManaged);
  for (uint32_t off = 0x5D; off < 0x60; ++off) EXPECT_EQ(cfg(off, 1), 0u) << off;  // unused2
  // Byte-wise reads give the same little-endian value.
  uint32_t zs = 0;
  for (uint32_t i = 0; i < 4; ++i) zs |= static_cast<uint32_t>(cfg(cfg::kZoneSectors + i, 1)) << (8 * i);
  EXPECT_EQ(zs, kZoneSectors);
  // No discard / write zeroes / secure erase limits.
  for (uint32_t off = cfg::kMaxDiscardSectors; off < cfg::kZoneSectors; ++off) EXPECT_EQ(cfg(off, 1), 0u) << off;
  EXPECT_EQ(cfg(cfg::kPhysicalBlockExp, 1), 0u);  // 512-byte write granularity
}

TEST_F(VirtioBlkZonedTest, MaxAppendSectorsNotAboveSegMaxTimesSizeMax) {
  Setup s;
  s.options.seg_max = 2;
  s.options.size_max = 64 * 1024;  // 2 * 64 KiB = 256 sectors < 1536
  open(s);
  drv_->enable_device();
  ASSERT_TRUE(drv_->negotiate(kZonedFeatures));
  EXPECT_EQ(cfg(cfg::kMaxAppendSectors, 4), 256u);
}

TEST_F(VirtioBlkZonedTest, ZoneRequestsWithoutZonedOnARegularDiskAreUnsupp) {
  // A regular disk never offers ZONED, so every zone request type is UNSUPP.
  std::string plain = dir_.file("plain.img");
  int fd = ::open(plain.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  ::close(fd);
  block::DriveOptions o;
  o.file = plain;
  o.aio = block::AioEngine::kThreads;
  auto backend = block::Backend::open(o);
  VirtioBlk dev(ram_.memory, *backend, VirtioBlkOptions{});
  FakeHooks hooks;
  dev.set_notify_hooks(&hooks);
  TestDriver drv(dev, ram_);
  drv.enable_device();
  EXPECT_FALSE(drv.device_features() & bit(kZoned));
  for (uint32_t off = cfg::kZoneSectors; off < cfg::kSize; ++off) {
    EXPECT_EQ(drv.read(VirtioPciDevice::kDeviceConfigOffset + off, 1), 0u) << off;
  }
  EXPECT_FALSE(drv.negotiate(kBase | bit(kZoned)));  // not offered
  drv.set_status(0);
  drv.bring_up(kBase, 1, 64);
  std::vector<uint64_t> statuses;
  for (uint32_t type : {kTypeZoneReport, kTypeZoneOpen, kTypeZoneClose, kTypeZoneFinish, kTypeZoneReset,
                        kTypeZoneResetAll}) {
    uint64_t st = status_byte();
    if (type == kTypeZoneReport) {
      uint64_t buf = ram_.alloc(4096);
      drv.submit(0, {{header(type, 0), 16, false}, {buf, 4096, true}, {st, 1, true}});
    } else {
      drv.submit(0, {{header(type, 0), 16, false}, {st, 1, true}});
    }
    statuses.push_back(st);
  }
  uint64_t data = ram_.alloc(512);
  uint64_t in = ram_.alloc(9);
  drv.submit(0, {{header(kTypeZoneAppend, 0), 16, false}, {data, 512, false}, {in, 9, true}});
  dev.process_queue(0);
  for (int i = 0; i < 100 && backend->in_flight() > 0; ++i) {
    pollfd p{backend->completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    backend->process_completions();
  }
  for (uint64_t st : statuses) EXPECT_EQ(ram_.get<uint8_t>(st), kStatusUnsupp);
  EXPECT_EQ(ram_.get<uint8_t>(in + 8), kStatusUnsupp);
  EXPECT_EQ(drv.used_idx(0), 7);
}

// --- ZONE_REPORT ---

TEST_F(VirtioBlkZonedTest, ReportWholeDiskFieldsAndUsedLength) {
  open();
  up();
  ReportResult r = report(0, 64);
  ASSERT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, kZones);  // fewer zones than room: only what exists
  EXPECT_TRUE(r.header_reserved_zero);
  ASSERT_EQ(r.zones.size(), kZones);
  for (uint32_t z = 0; z < kZones; ++z) {
    const Desc& d = r.zones[z];
    EXPECT_EQ(d.start, Z(z)) << z;
    EXPECT_TRUE(d.reserved_zero) << z;
    if (z < 2) {
      EXPECT_EQ(d.type, kTypeConv) << z;
      EXPECT_EQ(d.state, kNotWp) << z;
      EXPECT_EQ(d.cap, kZoneSectors) << z;  // conventional: cap == len
    } else {
      EXPECT_EQ(d.type, kTypeSwr) << z;
      EXPECT_EQ(d.state, kEmpty) << z;
      EXPECT_EQ(d.cap, kZoneCap) << z;
      EXPECT_EQ(d.wp, Z(z)) << z;
    }
  }
  EXPECT_EQ(r.used, 64u + kZones * 64 + 1);
  // Past the descriptors written, the buffer is untouched.
  for (size_t i = 64 + kZones * 64; i < r.raw.size(); ++i) ASSERT_EQ(r.raw[i], kPoison) << i;
}

TEST_F(VirtioBlkZonedTest, ReportIntoManySegmentsWithDescriptorsStraddlingThem) {
  open();
  up();
  ASSERT_EQ(write(Z(3), 4096, 1), kStatusOk);  // zone 3 implicitly open, wp + 8
  // 64 + 24 * 64 = 1600 bytes in 13 odd-sized pieces: header and descriptors cross segment
  // boundaries all over the place.
  std::vector<uint32_t> segs{7, 50, 64, 100, 1, 129, 200, 63, 65, 300, 333, 88, 200};
  uint32_t total = 0;
  for (uint32_t s : segs) total += s;
  ASSERT_EQ(total, 64u + 24 * 64);
  ReportResult r = report(0, segs);
  ASSERT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, 24u);  // the buffer's room, over two report rounds
  ASSERT_EQ(r.zones.size(), 24u);
  EXPECT_TRUE(r.header_reserved_zero);
  for (uint32_t z = 0; z < 24; ++z) {
    EXPECT_EQ(r.zones[z].start, Z(z)) << z;
    EXPECT_TRUE(r.zones[z].reserved_zero) << z;
  }
  EXPECT_EQ(r.zones[3].state, kIOpen);
  EXPECT_EQ(r.zones[3].wp, Z(3) + 8);
  EXPECT_EQ(r.used, total + 1);
}

TEST_F(VirtioBlkZonedTest, ReportThroughIndirectTableOfPageSizedSegments) {
  // Like Linux's vmalloc'ed report buffer: page-sized segments in an indirect table.
  open();
  up(kZonedFeatures | bit(feature::kIndirectDesc));
  ReportResult r = report(Z(1), std::vector<uint32_t>(3, 4096), true);  // room for 191
  ASSERT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, kZones - 1u);
  ASSERT_EQ(r.zones.size(), kZones - 1u);
  EXPECT_EQ(r.zones.front().start, Z(1));
  EXPECT_EQ(r.zones.back().start, Z(kZones - 1));
}

TEST_F(VirtioBlkZonedTest, ReportNrZonesCountsOnlyFullyWrittenDescriptors) {
  open();
  up();
  // Room for 5 descriptors and 63 bytes: a 6th would not fit entirely.
  ReportResult r = report(Z(2), std::vector<uint32_t>{64 + 5 * 64 + 63});
  ASSERT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, 5u);
  for (size_t i = 64 + 5 * 64; i < r.raw.size(); ++i) ASSERT_EQ(r.raw[i], kPoison) << i;
  EXPECT_EQ(r.used, 64u + 5 * 64 + 1);
  // Near the end of the disk: fewer zones than room.
  r = report(Z(kZones - 2), 10);
  ASSERT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, 2u);
}

TEST_F(VirtioBlkZonedTest, ReportBufferMaySharePageWithStatusByte) {
  // One writable descriptor holding the reply and, as its last byte, the status.
  open();
  up();
  uint32_t len = 64 + 3 * 64 + 1;
  uint64_t buf = ram_.alloc(len);
  std::memset(ram_.ptr(buf, len), kPoison, len);
  drv_->submit(0, {{header(kTypeZoneReport, Z(2)), 16, false}, {buf, len, true}});
  pump();
  EXPECT_EQ(ram_.get<uint8_t>(buf + len - 1), kStatusOk);
  EXPECT_EQ(le64(ram_.ptr(buf, 8)), 3u);
  EXPECT_EQ(le64(ram_.ptr(buf + 64 + 2 * 64 + 8, 8)), Z(4));
  EXPECT_EQ(last_used_len(), len);
}

TEST_F(VirtioBlkZonedTest, ReportFromASectorInsideAZoneStartsWithThatZone) {
  open();
  up();
  ReportResult r = report(Z(5) + 777, 3);
  ASSERT_EQ(r.status, kStatusOk);
  ASSERT_EQ(r.nr_zones, 3u);
  EXPECT_EQ(r.zones[0].start, Z(5));
  EXPECT_EQ(r.zones[2].start, Z(7));
  r = report(uint64_t{kZones} * kZoneSectors - 1, 3);  // last sector of the disk
  ASSERT_EQ(r.status, kStatusOk);
  ASSERT_EQ(r.nr_zones, 1u);
  EXPECT_EQ(r.zones[0].start, Z(kZones - 1));
}

TEST_F(VirtioBlkZonedTest, ReportBufferTooSmallIsInvalidCmd) {
  open();
  up();
  EXPECT_EQ(report(0, std::vector<uint32_t>{64 + 63}).status, kStatusZoneInvalidCmd);
  EXPECT_EQ(report(0, std::vector<uint32_t>{64}).status, kStatusZoneInvalidCmd);
  EXPECT_EQ(last_used_len(), 1u);
  ReportResult r = report(0, std::vector<uint32_t>{64 + 64});
  EXPECT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, 1u);
}

TEST_F(VirtioBlkZonedTest, ReportStartBeyondCapacityIsInvalidCmd) {
  open();
  up();
  EXPECT_EQ(report(uint64_t{kZones} * kZoneSectors, 4).status, kStatusZoneInvalidCmd);
  EXPECT_EQ(report(std::numeric_limits<uint64_t>::max(), 4).status, kStatusZoneInvalidCmd);
  EXPECT_EQ(report(std::numeric_limits<uint64_t>::max() / 512 + 1, 4).status, kStatusZoneInvalidCmd);
}

// --- Zone management ---

TEST_F(VirtioBlkZonedTest, OpenMakesExplicitlyOpenAndIsIdempotent) {
  open();
  up();
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(4)), kStatusOk);
  EXPECT_EQ(zone(4).state, kEOpen);
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(4)), kStatusOk);
  EXPECT_EQ(zone(4).state, kEOpen);
  EXPECT_EQ(last_used_len(), 64u + 64 + 1);
}

TEST_F(VirtioBlkZonedTest, CloseGivesEmptyAtZoneStartElseClosed) {
  open();
  up();
  ASSERT_EQ(cmd(kTypeZoneOpen, Z(4)), kStatusOk);
  EXPECT_EQ(cmd(kTypeZoneClose, Z(4)), kStatusOk);
  EXPECT_EQ(zone(4).state, kEmpty);  // EOPEN with wp == start -> EMPTY
  ASSERT_EQ(write(Z(4), 1024, 7), kStatusOk);
  EXPECT_EQ(zone(4).state, kIOpen);
  EXPECT_EQ(cmd(kTypeZoneClose, Z(4)), kStatusOk);
  Desc d = zone(4);
  EXPECT_EQ(d.state, kClosed);
  EXPECT_EQ(d.wp, Z(4) + 2);
  EXPECT_EQ(cmd(kTypeZoneClose, Z(4)), kStatusOk);  // CLOSED stays CLOSED
  EXPECT_EQ(zone(4).state, kClosed);
}

TEST_F(VirtioBlkZonedTest, CloseOfAnEmptyZoneIsInvalid) {
  open();
  up();
  // The spec has no EMPTY -> CLOSED transition: "If the transition to this state can not be
  // performed, the request MUST be completed with VIRTIO_BLK_S_ZONE_INVALID_CMD".
  EXPECT_EQ(cmd(kTypeZoneClose, Z(5)), kStatusZoneInvalidCmd);
  EXPECT_EQ(zone(5).state, kEmpty);
}

TEST_F(VirtioBlkZonedTest, OpenOfAFullZoneIsInvalid) {
  open();
  up();
  ASSERT_EQ(cmd(kTypeZoneFinish, Z(5)), kStatusOk);
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(5)), kStatusZoneInvalidCmd);  // no FULL -> EOPEN transition
  EXPECT_EQ(zone(5).state, kFull);
}

TEST_F(VirtioBlkZonedTest, FinishGivesFullAndIsIdempotent) {
  open();
  up();
  ASSERT_EQ(write(Z(6), 512, 1), kStatusOk);
  EXPECT_EQ(cmd(kTypeZoneFinish, Z(6)), kStatusOk);
  EXPECT_EQ(zone(6).state, kFull);
  EXPECT_EQ(cmd(kTypeZoneFinish, Z(6)), kStatusOk);
  EXPECT_EQ(zone(6).state, kFull);
  EXPECT_EQ(cmd(kTypeZoneFinish, Z(7)), kStatusOk);  // EMPTY -> FULL too
  EXPECT_EQ(zone(7).state, kFull);
  // A FULL zone takes no writes.
  EXPECT_EQ(write(Z(6) + kZoneCap, 512, 1), kStatusZoneInvalidCmd);
}

TEST_F(VirtioBlkZonedTest, ResetGivesEmptyWithWritePointerAtStart) {
  open();
  up();
  ASSERT_EQ(write(Z(8), 8192, 3), kStatusOk);
  EXPECT_EQ(cmd(kTypeZoneReset, Z(8)), kStatusOk);
  Desc d = zone(8);
  EXPECT_EQ(d.state, kEmpty);
  EXPECT_EQ(d.wp, Z(8));
  EXPECT_EQ(cmd(kTypeZoneReset, Z(8)), kStatusOk);  // EMPTY stays EMPTY
  std::vector<uint8_t> back;
  ASSERT_EQ(read(Z(8), 4096, &back), kStatusOk);  // unwritten again: device fill (zeroes)
  EXPECT_EQ(back, std::vector<uint8_t>(4096, 0));
  ASSERT_EQ(write(Z(8), 512, 4), kStatusOk);      // writable from the start again
}

TEST_F(VirtioBlkZonedTest, ResetAllEmptiesSequentialZonesAndLeavesConventionalAlone) {
  open();
  up();
  ASSERT_EQ(write(0, 512, 0x11), kStatusOk);  // conventional zone 0
  ASSERT_EQ(write(Z(2), 4096, 1), kStatusOk);  // IOPEN
  ASSERT_EQ(write(Z(3), 4096, 1), kStatusOk);
  ASSERT_EQ(cmd(kTypeZoneClose, Z(3)), kStatusOk);  // CLOSED
  ASSERT_EQ(cmd(kTypeZoneOpen, Z(4)), kStatusOk);   // EOPEN
  ASSERT_EQ(cmd(kTypeZoneFinish, Z(5)), kStatusOk);  // FULL
  EXPECT_EQ(cmd(kTypeZoneResetAll, 0), kStatusOk);
  ReportResult r = report(0, kZones);
  ASSERT_EQ(r.nr_zones, kZones);
  EXPECT_EQ(r.zones[0].state, kNotWp);
  for (uint32_t z = 2; z < kZones; ++z) {
    EXPECT_EQ(r.zones[z].state, kEmpty) << z;
    EXPECT_EQ(r.zones[z].wp, Z(z)) << z;
  }
  std::vector<uint8_t> back;
  ASSERT_EQ(read(0, 512, &back), kStatusOk);
  EXPECT_EQ(back, std::vector<uint8_t>(512, 0x11));
}

TEST_F(VirtioBlkZonedTest, ZoneCommandsOnConventionalZoneOrNotAtZoneStartAreInvalidCmd) {
  open();
  up();
  for (uint32_t type : {kTypeZoneOpen, kTypeZoneClose, kTypeZoneFinish, kTypeZoneReset}) {
    EXPECT_EQ(cmd(type, Z(0)), kStatusZoneInvalidCmd) << type;
    EXPECT_EQ(cmd(type, Z(1)), kStatusZoneInvalidCmd) << type;
    EXPECT_EQ(cmd(type, Z(3) + 8), kStatusZoneInvalidCmd) << type;
    EXPECT_EQ(cmd(type, uint64_t{kZones} * kZoneSectors), kStatusZoneInvalidCmd) << type;
    EXPECT_EQ(cmd(type, std::numeric_limits<uint64_t>::max()), kStatusZoneInvalidCmd) << type;
    EXPECT_EQ(last_used_len(), 1u);
  }
}

// --- Writes and ZONE_APPEND ---

TEST_F(VirtioBlkZonedTest, AppendReturnsFirstSectorWrittenAndUsedLengthOfInHeader) {
  open();
  up();
  uint64_t at = 0;
  uint32_t used = 0;
  ASSERT_EQ(append(Z(9), 4096, 0x21, &at, &used), kStatusOk);
  EXPECT_EQ(at, Z(9));
  EXPECT_EQ(used, 9u);
  ASSERT_EQ(append(Z(9), 1024, 0x22, &at, &used), kStatusOk);
  EXPECT_EQ(at, Z(9) + 8);
  Desc d = zone(9);
  EXPECT_EQ(d.state, kIOpen);
  EXPECT_EQ(d.wp, Z(9) + 10);
  std::vector<uint8_t> back;
  ASSERT_EQ(read(Z(9) + 8, 1024, &back), kStatusOk);
  EXPECT_EQ(back, std::vector<uint8_t>(1024, 0x22));
  // A regular write continues at the write pointer after the appends.
  EXPECT_EQ(write(Z(9) + 10, 512, 1), kStatusOk);
}

TEST_F(VirtioBlkZonedTest, AppendSectorMayStraddleDescriptors) {
  open();
  up();
  uint64_t at = 0;
  uint64_t expected = Z(10);
  for (uint32_t split : {1u, 5u, 8u}) {
    ASSERT_EQ(append(Z(10), 512, 1, &at, nullptr, split), kStatusOk) << split;
    EXPECT_EQ(at, expected++) << split;
  }
  ASSERT_EQ(append(Z(10), 512, 1, &at, nullptr, 3, 16), kStatusOk);
  EXPECT_EQ(at, Z(10) + 3);
}

TEST_F(VirtioBlkZonedTest, AppendWithLinuxSixteenByteInHeader) {
  // Linux's in-header is struct { le64 sector; u8 status; } without packing: 16 bytes on
  // x86-64, 12 on i386; it reads the status from the last byte and the sector from the first 8.
  open();
  up();
  uint64_t at = 0;
  uint32_t used = 0;
  bool padding_ok = false;
  ASSERT_EQ(append(Z(19), 4096, 1, &at, &used, 0, 16, &padding_ok), kStatusOk);
  EXPECT_EQ(at, Z(19));
  EXPECT_EQ(used, 16u);
  EXPECT_TRUE(padding_ok);  // bytes 8..14 untouched
  ASSERT_EQ(append(Z(19), 512, 1, &at, &used, 0, 12, &padding_ok), kStatusOk);
  EXPECT_EQ(at, Z(19) + 8);
  EXPECT_EQ(used, 12u);
  EXPECT_TRUE(padding_ok);
  EXPECT_EQ(append(Z(19) + 8, 512, 1, &at, &used, 0, 16), kStatusZoneInvalidCmd);
  EXPECT_EQ(used, 1u);
  EXPECT_EQ(zone(19).wp, Z(19) + 9);
}

TEST_F(VirtioBlkZonedTest, AppendNotAtZoneStartIsInvalidCmd) {
  open();
  up();
  uint64_t at = 0;
  uint32_t used = 0;
  EXPECT_EQ(append(Z(11) + 8, 512, 1, &at, &used), kStatusZoneInvalidCmd);
  EXPECT_EQ(used, 1u);
  EXPECT_EQ(append(Z(0), 512, 1, &at), kStatusZoneInvalidCmd);  // conventional zone
  EXPECT_EQ(zone(11).state, kEmpty);
}

TEST_F(VirtioBlkZonedTest, AppendLargerThanMaxAppendOrEmptyIsInvalidCmd) {
  open();
  up();
  uint64_t at = 0;
  EXPECT_EQ(append(Z(12), (kZoneCap + 8) * 512, 1, &at), kStatusZoneInvalidCmd);
  EXPECT_EQ(append(Z(12), 0, 1, &at), kStatusZoneInvalidCmd);
  EXPECT_EQ(append(Z(12), 100, 1, &at), kStatusZoneInvalidCmd);  // not whole sectors
  EXPECT_EQ(zone(12).state, kEmpty);
}

TEST_F(VirtioBlkZonedTest, AppendPastZoneCapacityIsInvalidCmd) {
  open();
  up();
  uint64_t at = 0;
  ASSERT_EQ(append(Z(13), (kZoneCap - 8) * 512, 1, &at), kStatusOk);
  EXPECT_EQ(append(Z(13), 16 * 512, 1, &at), kStatusZoneInvalidCmd);
  ASSERT_EQ(append(Z(13), 8 * 512, 1, &at), kStatusOk);
  EXPECT_EQ(at, Z(13) + kZoneCap - 8);
  EXPECT_EQ(zone(13).state, kFull);
}

TEST_F(VirtioBlkZonedTest, WriteNotAtWritePointerIsUnalignedWp) {
  open();
  up();
  EXPECT_EQ(write(Z(14) + 8, 512, 1), kStatusZoneUnalignedWp);
  ASSERT_EQ(write(Z(14), 4096, 1), kStatusOk);
  EXPECT_EQ(write(Z(14), 512, 1), kStatusZoneUnalignedWp);  // behind the write pointer
  EXPECT_EQ(write(Z(14) + 16, 512, 1), kStatusZoneUnalignedWp);
  EXPECT_EQ(write(Z(14) + 8, 512, 1), kStatusOk);
  EXPECT_EQ(zone(14).wp, Z(14) + 9);
}

TEST_F(VirtioBlkZonedTest, WriteCrossingZoneOrPastCapacityIsInvalidCmd) {
  open();
  up();
  ASSERT_EQ(write(Z(15), (kZoneCap - 4) * 512, 1), kStatusOk);
  EXPECT_EQ(write(Z(15) + kZoneCap - 4, 8 * 512, 1), kStatusZoneInvalidCmd);  // past capacity
  std::vector<uint8_t> back;
  EXPECT_EQ(read(Z(16) - 4, 8 * 512, &back), kStatusZoneInvalidCmd);  // reads cross zones neither
  // Conventional zones behave like a regular disk.
  EXPECT_EQ(write(100, 4096, 9), kStatusOk);
  EXPECT_EQ(write(8, 4096, 9), kStatusOk);
}

TEST_F(VirtioBlkZonedTest, ReadAboveWritePointerReturnsFillNotStaleData) {
  open();
  up();
  ASSERT_EQ(write(Z(17), 512, 0x33), kStatusOk);
  std::vector<uint8_t> back;
  ASSERT_EQ(read(Z(17), 1024, &back), kStatusOk);
  EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + 512), std::vector<uint8_t>(512, 0x33));
  EXPECT_EQ(std::vector<uint8_t>(back.begin() + 512, back.end()), std::vector<uint8_t>(512, 0));
}

TEST_F(VirtioBlkZonedTest, OpenResourceExceededIsStatus5) {
  open();
  up();
  // max_open 3: three explicitly open zones leave no room (explicit opens are never closed
  // implicitly).
  for (uint32_t z : {20u, 21u, 22u}) ASSERT_EQ(cmd(kTypeZoneOpen, Z(z)), kStatusOk);
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(23)), kStatusZoneOpenResource);
  EXPECT_EQ(write(Z(23), 512, 1), kStatusZoneOpenResource);
  uint64_t at = 0;
  EXPECT_EQ(append(Z(23), 512, 1, &at), kStatusZoneOpenResource);
  EXPECT_EQ(zone(23).state, kEmpty);
  // Closing one makes room.
  ASSERT_EQ(cmd(kTypeZoneClose, Z(20)), kStatusOk);
  EXPECT_EQ(write(Z(23), 512, 1), kStatusOk);
}

TEST_F(VirtioBlkZonedTest, ActiveResourceExceededIsStatus6) {
  open();
  up();
  // max_active 4: four CLOSED zones hold every active resource.
  for (uint32_t z : {24u, 25u, 26u, 27u}) {
    ASSERT_EQ(write(Z(z), 512, 1), kStatusOk);
    ASSERT_EQ(cmd(kTypeZoneClose, Z(z)), kStatusOk);
  }
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(28)), kStatusZoneActiveResource);
  EXPECT_EQ(write(Z(28), 512, 1), kStatusZoneActiveResource);
  uint64_t at = 0;
  EXPECT_EQ(append(Z(28), 512, 1, &at), kStatusZoneActiveResource);
  // A CLOSED zone may still be reopened (it is already active).
  EXPECT_EQ(write(Z(24) + 1, 512, 1), kStatusOk);
  // Finishing one frees an active resource.
  ASSERT_EQ(cmd(kTypeZoneFinish, Z(25)), kStatusOk);
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(28)), kStatusOk);
}

TEST_F(VirtioBlkZonedTest, FlushAndGetIdStillWork) {
  open();
  up();
  ASSERT_EQ(write(Z(29), 4096, 1), kStatusOk);
  EXPECT_EQ(cmd(kTypeFlush, 0), kStatusOk);
  uint64_t id = ram_.alloc(20);
  uint64_t st = status_byte();
  drv_->submit(0, {{header(kTypeGetId, 0), 16, false}, {id, 20, true}, {st, 1, true}});
  pump();
  EXPECT_EQ(ram_.get<uint8_t>(st), kStatusOk);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ram_.ptr(id, 7)), 7), "zoned-0");
  // DISCARD / WRITE_ZEROES are not negotiated: UNSUPP.
  EXPECT_EQ(cmd(kTypeDiscard, 0), kStatusUnsupp);
  EXPECT_EQ(cmd(kTypeWriteZeroes, 0), kStatusUnsupp);
}

TEST_F(VirtioBlkZonedTest, ReadOnlyZonedDrive) {
  Setup s;
  s.read_only = true;
  open(s);
  drv_->enable_device();
  uint64_t f = drv_->device_features();
  EXPECT_TRUE(f & bit(kRo));
  EXPECT_TRUE(f & bit(kZoned));
  drv_->set_status(0);
  up(kZonedFeatures | bit(kRo));
  EXPECT_EQ(write(Z(2), 512, 1), kStatusIoErr);
  uint64_t at = 0;
  EXPECT_EQ(append(Z(2), 512, 1, &at), kStatusIoErr);
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(2)), kStatusIoErr);
  EXPECT_EQ(cmd(kTypeZoneResetAll, 0), kStatusIoErr);
  EXPECT_EQ(report(0, 4).status, kStatusOk);
}

// A BlkDisk over the zoned backend that holds ZONE_REPORT requests until release(): the
// device must also cope with reports completing later, outside submit(), round by round, and
// with bus mastering switched off meanwhile.
std::unique_ptr<HoldingDisk> deferred_report_disk(block::zoned::ZonedBackend& zb) {
  return std::make_unique<HoldingDisk>(make_blk_disk(zb),
                                       [](const block::Request& r) { return r.op == block::Op::kZoneReport; });
}

TEST_F(VirtioBlkZonedTest, ReportCompletingAsynchronouslyAcrossRoundsAndBusMasterOff) {
  open();
  HoldingDisk* disk = open_over(deferred_report_disk(*zb_));
  up();
  ASSERT_EQ(write(Z(30), 4096, 1), kStatusOk);

  uint64_t buf = ram_.alloc(64 + 64 * 64);
  std::memset(ram_.ptr(buf, 64 + 64 * 64), kPoison, 64 + 64 * 64);
  uint64_t st = status_byte();
  drv_->submit(0, {{header(kTypeZoneReport, 0), 16, false}, {buf, 64 + 64 * 64, true}, {st, 1, true}});
  dev_->process_queue(0);
  ASSERT_EQ(disk->held(), 1u);
  uint16_t used_before = drv_->used_idx(0);
  // Round 1 completes while bus mastering is off: nothing may reach guest memory.
  drv_->set_command(pci::cmd::kMemorySpace);
  EXPECT_EQ(disk->release(), 1u);
  EXPECT_EQ(disk->held(), 0u);
  EXPECT_EQ(ram_.get<uint8_t>(buf), kPoison);
  EXPECT_EQ(ram_.get<uint8_t>(buf + 64), kPoison);
  EXPECT_EQ(ram_.get<uint8_t>(st), 0xEE);
  EXPECT_EQ(dev_->stats().parked, 1u);
  // Back on: the parked round is consumed, the next round goes out (held again).
  drv_->set_command(pci::cmd::kMemorySpace | pci::cmd::kBusMaster);
  for (uint16_t q : std::exchange(hooks_.kicks, {})) dev_->process_queue(q);
  int rounds = 1;
  while (disk->held() > 0) {
    EXPECT_EQ(ram_.get<uint8_t>(st), 0xEE);  // not finished between rounds
    rounds += static_cast<int>(disk->release());
  }
  EXPECT_EQ(rounds, 3);  // 40 zones in rounds of 16
  ASSERT_EQ(ram_.get<uint8_t>(st), kStatusOk);
  ASSERT_EQ(drv_->used_idx(0), used_before + 1);
  EXPECT_EQ(drv_->used_elem(0, used_before).second, 64u + kZones * 64 + 1);
  EXPECT_EQ(le64(ram_.ptr(buf, 8)), kZones);
  for (uint32_t z = 0; z < kZones; ++z) EXPECT_EQ(le64(ram_.ptr(buf + 64 + 64 * z + 8, 8)), Z(z)) << z;
  EXPECT_EQ(ram_.get<uint8_t>(buf + 64 + 64 * 30 + 25), kIOpen);
  EXPECT_EQ(le64(ram_.ptr(buf + 64 + 64 * 30 + 16, 8)), Z(30) + 8);
}

TEST_F(VirtioBlkZonedTest, ReportHeldAcrossDeviceResetIsDropped) {
  open();
  HoldingDisk* disk = open_over(deferred_report_disk(*zb_));
  up();
  uint64_t buf = ram_.alloc(64 + 64 * 64);
  std::memset(ram_.ptr(buf, 64 + 64 * 64), kPoison, 64 + 64 * 64);
  uint64_t st = status_byte();
  drv_->submit(0, {{header(kTypeZoneReport, 0), 16, false}, {buf, 64 + 64 * 64, true}, {st, 1, true}});
  dev_->process_queue(0);
  ASSERT_EQ(disk->held(), 1u);
  drv_->set_status(0);  // the driver resets the device with the report outstanding
  EXPECT_EQ(disk->release(), 1u);
  EXPECT_EQ(disk->held(), 0u);  // no further round
  EXPECT_EQ(ram_.get<uint8_t>(buf), kPoison);
  EXPECT_EQ(ram_.get<uint8_t>(st), 0xEE);
  EXPECT_EQ(dev_->stats().dropped_on_reset, 1u);
  EXPECT_EQ(dev_->in_flight(), 0u);
}

// --- Hostile input ---

TEST_F(VirtioBlkZonedTest, HugeSectorsAreErrorsNotCrashes) {
  open();
  up();
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(write(kMax, 512, 1), kStatusIoErr);
  EXPECT_EQ(write(kMax / 512, 512, 1), kStatusIoErr);
  std::vector<uint8_t> back;
  EXPECT_EQ(read(kMax - 1, 512, &back), kStatusIoErr);
  uint64_t at = 0;
  EXPECT_EQ(append(kMax, 512, 1, &at), kStatusZoneInvalidCmd);
  EXPECT_EQ(append(kMax / 512, 512, 1, &at), kStatusZoneInvalidCmd);
  EXPECT_EQ(cmd(kTypeZoneResetAll, kMax), kStatusOk);  // sector unused for RESET_ALL
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkZonedTest, MalformedZoneRequestsAreIoErr) {
  open();
  up();
  // Zone management with data.
  uint64_t data = ram_.alloc(512);
  uint64_t st = status_byte();
  drv_->submit(0, {{header(kTypeZoneOpen, Z(2)), 16, false}, {data, 512, false}, {st, 1, true}});
  uint64_t st2 = status_byte();
  drv_->submit(0, {{header(kTypeZoneReset, Z(2)), 16, false}, {data, 512, true}, {st2, 1, true}});
  // Append whose device-writable part has no room for append_sector + status.
  uint64_t in = ram_.alloc(16);
  drv_->submit(0, {{header(kTypeZoneAppend, Z(2)), 16, false}, {data, 512, false}, {in, 1, true}});
  uint64_t in2 = ram_.alloc(32);
  drv_->submit(0, {{header(kTypeZoneAppend, Z(2)), 16, false}, {data, 512, false}, {in2, 8, true}});
  // Report with driver-readable data.
  uint64_t buf = ram_.alloc(256);
  uint64_t st3 = status_byte();
  drv_->submit(0, {{header(kTypeZoneReport, 0), 16, false}, {data, 512, false}, {buf, 256, true}, {st3, 1, true}});
  pump();
  EXPECT_EQ(ram_.get<uint8_t>(st), kStatusIoErr);
  EXPECT_EQ(ram_.get<uint8_t>(st2), kStatusIoErr);
  EXPECT_EQ(ram_.get<uint8_t>(in), kStatusIoErr);
  EXPECT_EQ(ram_.get<uint8_t>(in2 + 7), kStatusIoErr);
  EXPECT_EQ(ram_.get<uint8_t>(st3), kStatusIoErr);
  EXPECT_EQ(drv_->used_idx(0), 5);
  EXPECT_FALSE(needs_reset());
  EXPECT_EQ(zone(2).state, kEmpty);
}

TEST_F(VirtioBlkZonedTest, ReportBufferOutsideRamIsIoErr) {
  open();
  up();
  uint64_t st = status_byte();
  drv_->submit(0, {{header(kTypeZoneReport, 0), 16, false},
                   {testing::kRamSize - 64, 4096, true},
                   {st, 1, true}});
  uint64_t st2 = status_byte();
  uint64_t buf = ram_.alloc(128);
  drv_->submit(0, {{header(kTypeZoneReport, 0), 16, false},
                   {buf, 128, true},
                   {0x4'0000'0000, 4096, true},
                   {st2, 1, true}});
  pump();
  EXPECT_EQ(ram_.get<uint8_t>(st), kStatusIoErr);
  EXPECT_EQ(ram_.get<uint8_t>(st2), kStatusIoErr);
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkZonedTest, ReportWithMoreSegmentsThanSegMaxIsIoErr) {
  Setup s;
  s.options.seg_max = 4;
  open(s);
  up();
  EXPECT_EQ(report(0, std::vector<uint32_t>(5, 64)).status, kStatusIoErr);
  ReportResult r = report(0, std::vector<uint32_t>(4, 64));
  EXPECT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, 3u);
}

TEST_F(VirtioBlkZonedTest, ZoneRequestWithoutStatusByteSetsNeedsReset) {
  open();
  up();
  uint64_t buf = ram_.alloc(4096);
  // The last descriptor is driver-readable: no status byte to write.
  drv_->submit(0, {{header(kTypeZoneReport, 0), 16, false}, {buf, 4096, false}});
  pump();
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(drv_->used_idx(0), 0);
  // Recoverable by a reset.
  drv_->set_status(0);
  up();
  EXPECT_EQ(cmd(kTypeZoneOpen, Z(2)), kStatusOk);
}

TEST_F(VirtioBlkZonedTest, AppendWithoutStatusByteInRamSetsNeedsReset) {
  open();
  up();
  uint64_t data = ram_.alloc(512);
  drv_->submit(0, {{header(kTypeZoneAppend, Z(2)), 16, false}, {data, 512, false}, {0x4'0000'0000, 9, true}});
  pump();
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(zb_->zones().zone(2).condition, block::ZoneCondition::kEmpty);  // nothing written
}

TEST_F(VirtioBlkZonedTest, RandomZoneRequestsNeverCrash) {
  open();
  up(kZonedFeatures | bit(feature::kIndirectDesc));
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  const uint32_t types[] = {kTypeIn,        kTypeOut,         kTypeFlush,       kTypeZoneAppend,
                            kTypeZoneReport, kTypeZoneOpen,   kTypeZoneClose,   kTypeZoneFinish,
                            kTypeZoneReset,  kTypeZoneResetAll, 17,              25};
  for (int round = 0; round < 300 && !needs_reset(); ++round) {
    uint32_t type = types[next() % std::size(types)];
    uint64_t sector;
    switch (next() % 4) {
      case 0: sector = Z(static_cast<uint32_t>(next() % (kZones + 2))); break;
      case 1: sector = next() % (uint64_t{kZones} * kZoneSectors); break;
      case 2: sector = next(); break;
      default: sector = Z(2 + static_cast<uint32_t>(next() % 8)) + next() % 64; break;
    }
    std::vector<Buf> b{{header(type, sector), 16, false}};
    uint32_t nseg = static_cast<uint32_t>(next() % 4);
    bool writable = next() % 2;
    for (uint32_t i = 0; i < nseg; ++i) {
      uint32_t len = static_cast<uint32_t>(1 + next() % 2048);
      if (next() % 2) len = (len + 511) & ~511u;
      b.push_back({ram_.alloc(len, 8), len, writable});
    }
    uint64_t st = status_byte();
    b.push_back({st, static_cast<uint32_t>(1 + next() % 9), true});
    if (next() % 2) {
      drv_->publish(0, drv_->make_indirect(0, b));
    } else {
      drv_->submit(0, b);
    }
    pump();
  }
  EXPECT_FALSE(needs_reset());  // every chain had a usable status byte
  EXPECT_EQ(drv_->used_idx(0), 300 % 65536);
  // The device still works and the zone table is consistent with the report.
  ReportResult r = report(0, kZones);
  ASSERT_EQ(r.status, kStatusOk);
  EXPECT_EQ(r.nr_zones, kZones);
}

// Completions reaped inside the submission batch (the inline io_uring reaping that session 6
// took out after zoned boots hung) against completions reaped only from the eventfd: with the
// backend finishing a mixed zoned batch out of order, every request is published exactly once,
// and nothing the device writes for a request changes once it is in the used ring (its
// device-writable buffers are poisoned at publication and must stay poisoned).
TEST_F(VirtioBlkZonedTest, OutOfOrderCompletionsNeverWriteAPublishedRequest) {
  constexpr uint8_t kAfter = 0x5A;
  for (bool ready_inline : {false, true}) {
    for (unsigned seed = 1; seed <= 12; ++seed) {
      SCOPED_TRACE(::testing::Message() << "ready_inline=" << ready_inline << " seed=" << seed);
      auto* manual = open_manual(ready_inline);
      up();
      std::mt19937 rng(seed);
      struct Sent {
        std::vector<Buf> writable;
      };
      std::map<uint16_t, Sent> sent;
      auto send = [&](uint32_t type, uint64_t sector, uint32_t bytes, bool device_writes_data, uint32_t in_len = 1) {
        std::vector<Buf> b{{header(type, sector), 16, false}};
        Sent rec;
        if (bytes > 0) {
          uint64_t data = ram_.alloc(bytes, 512);
          std::memset(ram_.ptr(data, bytes), 0x11, bytes);
          b.push_back({data, bytes, device_writes_data});
          if (device_writes_data) rec.writable.push_back(b.back());
        }
        uint64_t in = ram_.alloc(in_len, 8);
        std::memset(ram_.ptr(in, in_len), 0xEE, in_len);
        b.push_back({in, in_len, true});
        rec.writable.push_back(b.back());
        sent[drv_->submit(0, b)] = rec;
      };
      send(kTypeOut, Z(2), 8192, false);
      send(kTypeOut, Z(2) + 16, 4096, false);
      send(kTypeZoneAppend, Z(3), 4096, false, 16);
      send(kTypeZoneAppend, Z(3), 8192, false, 16);
      send(kTypeIn, Z(2), 16384, true);  // partly above the write pointer
      send(kTypeZoneReport, 0, 64 + 64 * 64, true);
      send(kTypeFlush, 0, 0, false);
      send(kTypeZoneOpen, Z(5), 0, false);
      send(kTypeIn, 0, 4096, true);  // conventional zone
      send(kTypeOut, Z(6), 4096, false);
      send(kTypeZoneReset, Z(6), 0, false);

      std::map<uint16_t, int> published;
      uint16_t seen = drv_->used_idx(0);
      auto collect = [&] {
        for (; seen != drv_->used_idx(0); ++seen) {
          const uint16_t id = static_cast<uint16_t>(drv_->used_elem(0, seen).first);
          ++published[id];
          for (const Buf& b : sent[id].writable) std::memset(ram_.ptr(b.address, b.length), kAfter, b.length);
        }
      };
      for (int step = 0; step < 5000 && (published.size() < sent.size() || zb_->in_flight() > 0); ++step) {
        dev_->process_queue(0);
        for (uint16_t q : std::exchange(hooks_.kicks, {})) dev_->process_queue(q);
        collect();
        if (!manual->pending.empty()) {
          manual->finish(rng() % manual->pending.size(), rng() % 8 != 0);
        }
        // Inline: the eventfd path, the poller, or nothing (the next process_queue() reaps
        // inside its batch).
        const unsigned how = ready_inline ? rng() % 3 : 0;
        if (how == 0) dev_->process_completions();
        if (how == 1) dev_->poll();
        collect();
      }
      EXPECT_EQ(zb_->in_flight(), 0u);
      EXPECT_FALSE(needs_reset());
      ASSERT_EQ(published.size(), sent.size());
      for (const auto& [id, times] : published) EXPECT_EQ(times, 1) << "head " << id;
      for (const auto& [id, rec] : sent) {
        for (const Buf& b : rec.writable) {
          const uint8_t* p = ram_.ptr(b.address, b.length);
          EXPECT_EQ(std::count(p, p + b.length, kAfter), static_cast<long>(b.length))
              << "head " << id << ": written after it was published";
        }
      }
      manual->immediate = true;  // the final flush at teardown
    }
  }
}

}  // namespace
}  // namespace devices::virtio
