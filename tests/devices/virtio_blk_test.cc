// virtio-blk over the modern virtio-pci transport, driven like a guest driver would: BAR 0
// register writes, split rings in a real vmm::GuestMemory, data in a real temp file through a
// real block::Backend (aio=threads). One test per spec rule, then hostile input.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/drive_options.h"
#include "block/null_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "holding_disk.h"
#include "virtio_test_util.h"

namespace devices::virtio {
namespace {

using namespace blk;
using testing::Buf;
using testing::FakeHooks;
using testing::FakeLine;
using testing::FakeMsi;
using testing::HoldingDisk;
using testing::TempDir;
using testing::TestDriver;
using testing::TestRam;

constexpr uint64_t kDiskSize = 1 << 20;
constexpr uint64_t kBase = bit(feature::kVersion1) | bit(kSizeMax) | bit(kSegMax) | bit(kBlkSize) |
                           bit(kTopology) | bit(kFlush) | bit(kConfigWce) | bit(kDiscard) |
                           bit(kWriteZeroes) | bit(kMq);
constexpr uint32_t kConfigVectorData = 0x100;  // TestDriver: vector v sends data 0x100 + v
constexpr uint32_t kQueue0Data = 0x101;

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 9));
  return v;
}

struct Req {
  uint64_t header;
  uint64_t data;
  uint32_t data_len;
  uint64_t status;
};

class VirtioBlkTest : public ::testing::Test {
 protected:
  struct Setup {
    bool read_only = false;
    bool discard = false;
    bool writeback = true;
    VirtioBlkOptions options{.serial = "serial-0123456789abcdefXYZ"};
  };

  void open(const Setup& s) {
    drv_.reset();
    dev_.reset();  // drains, then releases the image lock
    backend_.reset();
    path_ = dir_.file("disk.img");
    if (!file_ready_) {
      int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      auto bytes = pattern(kDiskSize, 1);
      ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
      ::close(fd);
      file_ready_ = true;
    }
    block::DriveOptions o;
    o.file = path_;
    o.aio = block::AioEngine::kThreads;
    o.read_only = s.read_only;
    o.discard_unmap = s.discard;
    o.cache.writeback = s.writeback;
    backend_ = block::Backend::open(o);
    dev_ = std::make_unique<VirtioBlk>(ram_.memory, *backend_, s.options);
    dev_->set_msi_sender(&msi_);
    dev_->set_notify_hooks(&hooks_);
    drv_ = std::make_unique<TestDriver>(*dev_, ram_);
  }
  void open() { open(Setup{}); }
  // The device over a test disk (e.g. a HoldingDisk), wired like open(); returns the disk.
  template <typename D>
  D* open_over(std::unique_ptr<D> disk) {
    return testing::attach_device(std::move(disk), ram_, msi_, hooks_, dev_, drv_);
  }
  // The device over a NullDriver backend (completes synchronously, no file).
  void open_null() {
    drv_.reset();
    dev_.reset();
    backend_ = std::make_unique<block::Backend>(std::make_unique<block::NullDriver>(),
                                                block::BackendPolicy{}, kDiskSize);
    dev_ = std::make_unique<VirtioBlk>(ram_.memory, *backend_, VirtioBlkOptions{});
    dev_->set_msi_sender(&msi_);
    dev_->set_notify_hooks(&hooks_);
    drv_ = std::make_unique<TestDriver>(*dev_, ram_);
  }

  // The I/O thread: runs kicked queues and block completions until nothing is left.
  void pump(uint16_t queue = 0) {
    dev_->process_queue(queue);
    for (int i = 0; i < 2000; ++i) {
      auto kicks = std::move(hooks_.kicks);
      hooks_.kicks.clear();
      for (uint16_t q : kicks) dev_->process_queue(q);
      if (backend_->in_flight() == 0 && hooks_.kicks.empty()) return;
      pollfd p{backend_->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      backend_->process_completions();
    }
    FAIL() << "requests did not complete";
  }
  void wait_backend() {
    for (int i = 0; i < 2000 && backend_->in_flight() > 0; ++i) {
      pollfd p{backend_->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      backend_->process_completions();
    }
  }

  Req make(uint32_t type, uint64_t sector, uint32_t data_len) {
    Req r{ram_.alloc(16), data_len ? ram_.alloc(data_len, 512) : 0, data_len, ram_.alloc(1, 1)};
    ram_.set<uint32_t>(r.header, type);
    ram_.set<uint32_t>(r.header + 4, 0);
    ram_.set<uint64_t>(r.header + 8, sector);
    ram_.set<uint8_t>(r.status, 0xEE);
    return r;
  }
  std::vector<Buf> bufs(const Req& r, bool data_writable) {
    std::vector<Buf> b{{r.header, 16, false}};
    if (r.data_len) b.push_back({r.data, r.data_len, data_writable});
    b.push_back({r.status, 1, true});
    return b;
  }
  uint8_t status_of(const Req& r) { return ram_.get<uint8_t>(r.status); }

  std::vector<uint8_t> file_bytes(uint64_t offset, size_t n) {
    std::vector<uint8_t> out(n);
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(::pread(fd, out.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    ::close(fd);
    return out;
  }
  uint8_t cfg8(uint32_t off) { return static_cast<uint8_t>(drv_->read(VirtioPciDevice::kDeviceConfigOffset + off, 1)); }
  uint32_t cfg32(uint32_t off) { return static_cast<uint32_t>(drv_->read(VirtioPciDevice::kDeviceConfigOffset + off, 4)); }
  bool needs_reset() { return dev_->status() & device_status::kNeedsReset; }

  // A request with a chosen type and extra readable payload (discard/write-zeroes segments).
  Req segments_request(uint32_t type, const std::vector<std::array<uint64_t, 3>>& segs) {
    Req r = make(type, 0, static_cast<uint32_t>(16 * segs.size()));
    for (size_t i = 0; i < segs.size(); ++i) {
      ram_.set<uint64_t>(r.data + 16 * i, segs[i][0]);
      ram_.set<uint32_t>(r.data + 16 * i + 8, static_cast<uint32_t>(segs[i][1]));
      ram_.set<uint32_t>(r.data + 16 * i + 12, static_cast<uint32_t>(segs[i][2]));
    }
    return r;
  }

  TestRam ram_;
  TempDir dir_;
  std::string path_;
  bool file_ready_ = false;
  FakeMsi msi_;
  FakeHooks hooks_;
  std::unique_ptr<block::Backend> backend_;
  std::unique_ptr<VirtioBlk> dev_;
  std::unique_ptr<TestDriver> drv_;
};

// --- PCI identity and transport ---

TEST_F(VirtioBlkTest, PciIdentityAndVirtioCapabilities) {
  open();
  EXPECT_EQ(drv_->cfg_read(pci::reg::kVendorId, 2), 0x1AF4u);
  EXPECT_EQ(drv_->cfg_read(pci::reg::kDeviceId, 2), 0x1042u);
  EXPECT_EQ(drv_->cfg_read(pci::reg::kRevision, 1), 1u);
  EXPECT_GE(drv_->cfg_read(pci::reg::kSubsystemId, 2), 0x40u);
  // BAR 0: 32-bit memory, 32 KiB.
  drv_->cfg_write(pci::reg::kBar0, 0xFFFFFFFF, 4);
  EXPECT_EQ(drv_->cfg_read(pci::reg::kBar0, 4), static_cast<uint32_t>(~(VirtioPciDevice::kBarSize - 1)));
  std::map<uint8_t, std::pair<uint32_t, uint32_t>> caps;  // cfg_type -> offset, length
  bool msix = false;
  uint32_t multiplier = 0;
  for (uint32_t at = drv_->cfg_read(pci::reg::kCapabilityPointer, 1); at != 0; at = drv_->cfg_read(at + 1, 1)) {
    uint32_t id = drv_->cfg_read(at, 1);
    if (id == pci::cap_id::kMsix) msix = true;
    if (id != pci::cap_id::kVendor) continue;
    auto type = static_cast<uint8_t>(drv_->cfg_read(at + 3, 1));
    EXPECT_EQ(drv_->cfg_read(at + 4, 1), 0u);  // BAR 0
    caps[type] = {drv_->cfg_read(at + 8, 4), drv_->cfg_read(at + 12, 4)};
    if (type == pci_cap::kNotify) multiplier = drv_->cfg_read(at + 16, 4);
  }
  EXPECT_TRUE(msix);
  ASSERT_EQ(caps.size(), 5u);
  EXPECT_EQ(caps[pci_cap::kCommon].first, VirtioPciDevice::kCommonOffset);
  EXPECT_GE(caps[pci_cap::kCommon].second, 0x38u);
  EXPECT_EQ(caps[pci_cap::kNotify].first, VirtioPciDevice::kNotifyOffset);
  EXPECT_EQ(multiplier, VirtioPciDevice::kNotifyOffMultiplier);
  EXPECT_EQ(caps[pci_cap::kIsr].first, VirtioPciDevice::kIsrOffset);
  EXPECT_EQ(caps[pci_cap::kDevice].first, VirtioPciDevice::kDeviceConfigOffset);
  EXPECT_EQ(caps[pci_cap::kDevice].second, cfg::kSize);
  EXPECT_TRUE(caps.count(pci_cap::kPciCfg));
}

TEST_F(VirtioBlkTest, FeaturesOkRefusedWithoutVersion1) {
  open();
  drv_->enable_device();
  EXPECT_FALSE(drv_->negotiate(kBase & ~bit(feature::kVersion1)));
  EXPECT_FALSE(drv_->status() & device_status::kFeaturesOk);
}

TEST_F(VirtioBlkTest, FeaturesOkRefusedForFeaturesNotOffered) {
  open();
  drv_->enable_device();
  uint64_t offered = drv_->device_features();
  EXPECT_TRUE(offered & bit(feature::kVersion1));
  EXPECT_TRUE(offered & bit(feature::kIndirectDesc));
  EXPECT_TRUE(offered & bit(feature::kEventIdx));
  EXPECT_FALSE(offered & bit(feature::kAccessPlatform));
  EXPECT_FALSE(offered & bit(feature::kRingPacked));
  EXPECT_FALSE(offered & bit(kRo));
  EXPECT_FALSE(drv_->negotiate(kBase | bit(feature::kAccessPlatform)));
  drv_->set_status(0);
  EXPECT_TRUE(drv_->negotiate(kBase));
  EXPECT_EQ(dev_->driver_features(), kBase);
  // Features are frozen once FEATURES_OK is set.
  drv_->write(0x08, 0, 4);
  drv_->write(0x0C, 0, 4);
  EXPECT_EQ(dev_->driver_features(), kBase);
}

TEST_F(VirtioBlkTest, ConfigSpaceLayout) {
  Setup s;
  s.options.num_queues = 2;
  s.options.seg_max = 64;
  open(s);
  drv_->enable_device();
  ASSERT_TRUE(drv_->negotiate(kBase));
  EXPECT_EQ(drv_->read(VirtioPciDevice::kDeviceConfigOffset + cfg::kCapacity, 8), kDiskSize / 512);
  EXPECT_EQ(cfg32(cfg::kSegMax), 64u);
  EXPECT_EQ(cfg32(cfg::kBlkSize), 512u);
  EXPECT_EQ(cfg8(cfg::kWriteback), 1);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kDeviceConfigOffset + cfg::kNumQueues, 2), 2u);
  EXPECT_EQ(drv_->read(0x12, 2), 2u);  // common cfg num_queues
  EXPECT_GT(cfg32(cfg::kMaxDiscardSectors), 0u);
  EXPECT_GT(cfg32(cfg::kMaxDiscardSeg), 0u);
  EXPECT_GT(cfg32(cfg::kMaxWriteZeroesSectors), 0u);
  EXPECT_GT(cfg32(cfg::kMaxWriteZeroesSeg), 0u);
  for (uint32_t off = 0x3C; off < cfg::kSize; ++off) EXPECT_EQ(cfg8(off), 0) << off;  // secure erase, zoned
}

TEST_F(VirtioBlkTest, ResetClearsQueueState) {
  open();
  drv_->bring_up(kBase);
  drv_->write(0x16, 0, 2);
  EXPECT_EQ(drv_->read(0x1C, 2), 1u);
  EXPECT_NE(drv_->read(0x20, 8), 0u);
  drv_->set_status(0);
  EXPECT_EQ(drv_->status(), 0);
  EXPECT_EQ(dev_->driver_features(), 0u);
  drv_->write(0x16, 0, 2);
  EXPECT_EQ(drv_->read(0x1C, 2), 0u);  // queue_enable
  EXPECT_EQ(drv_->read(0x20, 8), 0u);  // queue_desc
  EXPECT_EQ(drv_->read(0x28, 8), 0u);
  EXPECT_EQ(drv_->read(0x30, 8), 0u);
  EXPECT_EQ(drv_->read(0x18, 2), 256u);           // queue_size back to the maximum
  EXPECT_EQ(drv_->read(0x1A, 2), kNoVector);      // queue_msix_vector
  EXPECT_EQ(drv_->read(0x10, 2), kNoVector);      // config_msix_vector
  // A request published before the reset is not processed after it.
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), 0xEE);
}

TEST_F(VirtioBlkTest, QueueRegistersFrozenWhileEnabled) {
  open();
  drv_->bring_up(kBase);
  drv_->write(0x16, 0, 2);
  uint64_t desc = drv_->read(0x20, 8);
  drv_->write(0x20, 0x5000, 8);
  drv_->write(0x18, 4, 2);
  EXPECT_EQ(drv_->read(0x20, 8), desc);
  EXPECT_EQ(drv_->read(0x18, 2), 16u);
  drv_->write(0x16, 7, 2);  // no such queue
  EXPECT_EQ(drv_->read(0x18, 2), 0u);
}

// --- Requests ---

TEST_F(VirtioBlkTest, WriteThenReadRoundTrip) {
  open();
  drv_->bring_up(kBase);
  Req w = make(kTypeOut, 8, 4096);
  auto data = pattern(4096, 77);
  std::memcpy(ram_.ptr(w.data, 4096), data.data(), 4096);
  uint16_t head = drv_->submit(0, bufs(w, false));
  pump();
  EXPECT_EQ(status_of(w), kStatusOk);
  ASSERT_EQ(drv_->used_idx(0), 1);
  EXPECT_EQ(drv_->used_elem(0, 0), (std::pair<uint32_t, uint32_t>{head, 1}));
  EXPECT_EQ(file_bytes(8 * 512, 4096), data);
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);

  Req r = make(kTypeIn, 8, 4096);
  head = drv_->submit(0, bufs(r, true));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  ASSERT_EQ(drv_->used_idx(0), 2);
  EXPECT_EQ(drv_->used_elem(0, 1), (std::pair<uint32_t, uint32_t>{head, 4097}));
  EXPECT_EQ(std::vector<uint8_t>(ram_.ptr(r.data, 4096), ram_.ptr(r.data, 4096) + 4096), data);
  EXPECT_EQ(msi_.count(kQueue0Data), 2u);
}

TEST_F(VirtioBlkTest, ArbitraryFramingHeaderSplitAndStatusSharingDataBuffer) {
  open();
  drv_->bring_up(kBase);
  // Header in two pieces (10 + 6 bytes), data + status in one writable buffer.
  uint64_t h = ram_.alloc(16);
  ram_.set<uint32_t>(h, kTypeIn);
  ram_.set<uint32_t>(h + 4, 0);
  ram_.set<uint64_t>(h + 8, 2);
  uint64_t buf = ram_.alloc(1024 + 1, 512);
  drv_->submit(0, {{h, 10, false}, {h + 10, 6, false}, {buf, 1024 + 1, true}});
  pump();
  EXPECT_EQ(ram_.get<uint8_t>(buf + 1024), kStatusOk);
  EXPECT_EQ(drv_->used_elem(0, 0).second, 1025u);
  EXPECT_EQ(std::vector<uint8_t>(ram_.ptr(buf, 1024), ram_.ptr(buf, 1024) + 1024), file_bytes(1024, 1024));
}

TEST_F(VirtioBlkTest, IndirectDescriptors) {
  open();
  drv_->bring_up(kBase | bit(feature::kIndirectDesc));
  Req w = make(kTypeOut, 16, 1024);
  auto data = pattern(1024, 3);
  std::memcpy(ram_.ptr(w.data, 1024), data.data(), 1024);
  // Data split in two 512-byte descriptors inside the indirect table.
  uint16_t head = drv_->make_indirect(0, {{w.header, 16, false}, {w.data, 512, false}, {w.data + 512, 512, false},
                                          {w.status, 1, true}});
  drv_->publish(0, head);
  pump();
  EXPECT_EQ(status_of(w), kStatusOk);
  EXPECT_EQ(drv_->used_elem(0, 0), (std::pair<uint32_t, uint32_t>{head, 1}));
  EXPECT_EQ(file_bytes(16 * 512, 1024), data);
}

TEST_F(VirtioBlkTest, EventIdxSuppressesInterruptsAndPublishesAvailEvent) {
  open();
  drv_->bring_up(kBase | bit(feature::kEventIdx));
  drv_->set_used_event(0, 1);  // interrupt only once used idx moves past 1
  Req a = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(a, false));
  pump();
  EXPECT_EQ(status_of(a), kStatusOk);
  EXPECT_EQ(msi_.count(kQueue0Data), 0u);  // used idx 1: not past used_event
  EXPECT_EQ(drv_->avail_event(0), 1);      // device asks to be kicked at avail idx 1
  Req b = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(b, false));
  pump();
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);  // used idx 2 crosses used_event + 1
  EXPECT_EQ(drv_->avail_event(0), 2);
}

TEST_F(VirtioBlkTest, NoInterruptFlagSuppressesWithoutEventIdx) {
  open();
  drv_->bring_up(kBase);
  drv_->set_avail_flags(0, ring::kAvailNoInterrupt);
  Req a = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(a, false));
  pump();
  EXPECT_EQ(status_of(a), kStatusOk);
  EXPECT_EQ(msi_.count(kQueue0Data), 0u);
  drv_->set_avail_flags(0, 0);
  Req b = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(b, false));
  pump();
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
}

TEST_F(VirtioBlkTest, FlushSucceeds) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(drv_->used_elem(0, 0).second, 1u);
}

TEST_F(VirtioBlkTest, GetIdReturnsTwentyByteSerial) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeGetId, 0, 20);
  std::memset(ram_.ptr(r.data, 20), 0xCC, 20);
  drv_->submit(0, bufs(r, true));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram_.ptr(r.data, 20)), 20), "serial-0123456789abc");
  EXPECT_EQ(drv_->used_elem(0, 0).second, 21u);
  // A short serial is NUL-padded.
  Setup s;
  s.options.serial = "abc";
  dev_.reset();
  open(s);
  drv_->bring_up(kBase);
  Req r2 = make(kTypeGetId, 0, 20);
  std::memset(ram_.ptr(r2.data, 20), 0xCC, 20);
  drv_->submit(0, bufs(r2, true));
  pump();
  EXPECT_EQ(ram_.get<uint8_t>(r2.data + 2), 'c');
  EXPECT_EQ(ram_.get<uint8_t>(r2.data + 3), 0);
  EXPECT_EQ(ram_.get<uint8_t>(r2.data + 19), 0);
}

TEST_F(VirtioBlkTest, UnsupportedTypesGetUnsupp) {
  open();
  drv_->bring_up(kBase);
  for (uint32_t type : {kTypeGetLifetime, kTypeSecureErase, 15u, 16u, 24u, 5u, 0x80000000u, 99u}) {
    Req r = make(type, 0, 0);
    drv_->submit(0, bufs(r, false));
    pump();
    EXPECT_EQ(status_of(r), kStatusUnsupp) << type;
  }
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkTest, ReadOnlyDiskRejectsWritesEvenWithoutRoNegotiated) {
  Setup s;
  s.read_only = true;
  open(s);
  drv_->enable_device();
  EXPECT_TRUE(drv_->device_features() & bit(kRo));
  EXPECT_FALSE(drv_->device_features() & bit(kDiscard));
  drv_->set_status(0);
  drv_->bring_up(kBase & ~(bit(kDiscard) | bit(kWriteZeroes)));  // RO not acknowledged
  auto before = file_bytes(0, 512);
  Req w = make(kTypeOut, 0, 512);
  std::memset(ram_.ptr(w.data, 512), 0x5A, 512);
  drv_->submit(0, bufs(w, false));
  pump();
  EXPECT_EQ(status_of(w), kStatusIoErr);
  EXPECT_EQ(file_bytes(0, 512), before);
  // Flush on a read-only disk succeeds (firmware sends them).
  Req f = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(f, false));
  pump();
  EXPECT_EQ(status_of(f), kStatusOk);
  // Reads work.
  Req r = make(kTypeIn, 0, 512);
  drv_->submit(0, bufs(r, true));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
}

TEST_F(VirtioBlkTest, ConfigWceTogglesBackendWriteCache) {
  open();
  drv_->bring_up(kBase);
  EXPECT_TRUE(backend_->write_cache_enabled());
  drv_->write(VirtioPciDevice::kDeviceConfigOffset + cfg::kWriteback, 0, 1);
  EXPECT_FALSE(backend_->write_cache_enabled());
  EXPECT_EQ(cfg8(cfg::kWriteback), 0);
  drv_->write(VirtioPciDevice::kDeviceConfigOffset + cfg::kWriteback, 1, 1);
  EXPECT_TRUE(backend_->write_cache_enabled());
  // Other fields are read-only.
  drv_->write(VirtioPciDevice::kDeviceConfigOffset + cfg::kCapacity, 1, 8);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kDeviceConfigOffset + cfg::kCapacity, 8), kDiskSize / 512);
  // Reset restores the drive's configured mode.
  drv_->write(VirtioPciDevice::kDeviceConfigOffset + cfg::kWriteback, 0, 1);
  drv_->set_status(0);
  EXPECT_TRUE(backend_->write_cache_enabled());
}

TEST_F(VirtioBlkTest, WritebackNotWritableWithoutConfigWce) {
  open();
  drv_->bring_up(kBase & ~bit(kConfigWce));
  drv_->write(VirtioPciDevice::kDeviceConfigOffset + cfg::kWriteback, 0, 1);
  EXPECT_TRUE(backend_->write_cache_enabled());
}

TEST_F(VirtioBlkTest, WithoutFlushNegotiatedDiskIsWritethrough) {
  open();
  drv_->bring_up(kBase & ~(bit(kFlush) | bit(kConfigWce)));
  EXPECT_FALSE(backend_->write_cache_enabled());
  EXPECT_EQ(cfg8(cfg::kWriteback), 0);
}

TEST_F(VirtioBlkTest, ConfigWceWithoutFlushCannotEnableWriteback) {
  open();
  drv_->bring_up(kBase & ~bit(kFlush));
  EXPECT_EQ(cfg8(cfg::kWriteback), 0);  // spec: CONFIG_WCE without FLUSH starts at 0
  drv_->write(VirtioPciDevice::kDeviceConfigOffset + cfg::kWriteback, 1, 1);
  EXPECT_FALSE(backend_->write_cache_enabled());
}

uint64_t allocated_bytes(const std::string& path) {
  struct stat st{};
  ::stat(path.c_str(), &st);
  return uint64_t(st.st_blocks) * 512;
}

TEST_F(VirtioBlkTest, DiscardPunchesHoles) {
  Setup s;
  s.discard = true;
  open(s);
  drv_->bring_up(kBase);
  EXPECT_EQ(cfg8(cfg::kWriteZeroesMayUnmap), 1);
  uint64_t before = allocated_bytes(path_);
  Req r = segments_request(kTypeDiscard, {{512, 512, 0}, {1536, 256, 0}});  // 256 KiB + 128 KiB
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  uint64_t after = allocated_bytes(path_);
  if (before == after) GTEST_SKIP() << "file system without hole punching";
  EXPECT_LE(after + 256 * 1024, before);
  EXPECT_EQ(file_bytes(512 * 512, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_F(VirtioBlkTest, DiscardFlagChecks) {
  open();
  drv_->bring_up(kBase);
  Req unmap = segments_request(kTypeDiscard, {{0, 8, kFlagUnmap}});
  drv_->submit(0, bufs(unmap, false));
  Req unknown = segments_request(kTypeDiscard, {{0, 8, 0x4}});
  drv_->submit(0, bufs(unknown, false));
  Req beyond = segments_request(kTypeDiscard, {{kDiskSize / 512 - 4, 8, 0}});
  drv_->submit(0, bufs(beyond, false));
  std::vector<std::array<uint64_t, 3>> many(17, {0, 8, 0});
  Req too_many = segments_request(kTypeDiscard, many);
  drv_->submit(0, bufs(too_many, false));
  pump();
  EXPECT_EQ(status_of(unmap), kStatusUnsupp);
  EXPECT_EQ(status_of(unknown), kStatusUnsupp);
  EXPECT_EQ(status_of(beyond), kStatusIoErr);
  EXPECT_EQ(status_of(too_many), kStatusIoErr);
}

TEST_F(VirtioBlkTest, DiscardNotNegotiatedIsUnsupported) {
  open();
  drv_->bring_up(kBase & ~bit(kDiscard));
  Req r = segments_request(kTypeDiscard, {{0, 8, 0}});
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusUnsupp);
}

TEST_F(VirtioBlkTest, WriteZeroesZeroesRanges) {
  open();
  drv_->bring_up(kBase);
  Req r = segments_request(kTypeWriteZeroes, {{4, 4, 0}, {100, 2, kFlagUnmap}});
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(file_bytes(4 * 512, 2048), std::vector<uint8_t>(2048, 0));
  EXPECT_EQ(file_bytes(100 * 512, 1024), std::vector<uint8_t>(1024, 0));
  auto orig = pattern(kDiskSize, 1);
  EXPECT_EQ(file_bytes(3 * 512, 512), std::vector<uint8_t>(orig.begin() + 3 * 512, orig.begin() + 4 * 512));
  Req bad = segments_request(kTypeWriteZeroes, {{0, 1, 0x2}});
  drv_->submit(0, bufs(bad, false));
  Req big = segments_request(kTypeWriteZeroes, {{0, (1u << 22) + 1, 0}});
  drv_->submit(0, bufs(big, false));
  Req odd = make(kTypeWriteZeroes, 0, 8);  // not a whole segment
  drv_->submit(0, bufs(odd, false));
  pump();
  EXPECT_EQ(status_of(bad), kStatusUnsupp);
  EXPECT_EQ(status_of(big), kStatusIoErr);
  EXPECT_EQ(status_of(odd), kStatusIoErr);
}

TEST_F(VirtioBlkTest, ReadErrorsBecomeIoErr) {
  open();
  drv_->bring_up(kBase);
  Req past = make(kTypeIn, kDiskSize / 512 - 1, 1024);  // runs past the end
  drv_->submit(0, bufs(past, true));
  Req odd = make(kTypeIn, 0, 100);  // not a multiple of 512
  drv_->submit(0, bufs(odd, true));
  Req huge = make(kTypeIn, ~uint64_t{0} / 4, 512);  // sector * 512 overflows
  drv_->submit(0, bufs(huge, true));
  pump();
  EXPECT_EQ(status_of(past), kStatusIoErr);
  EXPECT_EQ(status_of(odd), kStatusIoErr);
  EXPECT_EQ(status_of(huge), kStatusIoErr);
  EXPECT_EQ(drv_->used_elem(0, 0).second, 1u);
  EXPECT_FALSE(needs_reset());
}

// A backend that completes synchronously is reaped inside process_queue(): the requests are
// in the used ring with one interrupt when it returns, and the completion eventfd was never
// written (no system call per request).
TEST_F(VirtioBlkTest, SynchronousCompletionsReapedInsideProcessQueue) {
  open_null();
  drv_->bring_up(kBase);
  Req r = make(kTypeIn, 8, 4096);
  Req w = make(kTypeOut, 16, 512);
  Req f = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(r, true));
  drv_->submit(0, bufs(w, false));
  drv_->submit(0, bufs(f, false));
  dev_->process_queue(0);
  EXPECT_EQ(drv_->used_idx(0), 3);
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(status_of(w), kStatusOk);
  EXPECT_EQ(status_of(f), kStatusOk);
  EXPECT_EQ(drv_->used_elem(0, 0).second, 4097u);
  EXPECT_GE(msi_.count(kQueue0Data), 1u);
  EXPECT_EQ(backend_->in_flight(), 0u);
  EXPECT_EQ(dev_->in_flight(), 0u);
  pollfd p{backend_->completion_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

// A disk whose requests all complete in process_completions(): several io_uring completions
// reaped in one wake-up of the I/O thread.
// Requests stay in the disk until the device reaps completions: as if the backend finished
// them all between two wake-ups of the I/O thread.
class CompletesWhenReaped final : public HoldingDisk {
 public:
  explicit CompletesWhenReaped(std::unique_ptr<BlkDisk> inner)
      : HoldingDisk(std::move(inner), [](const block::Request&) { return true; }) {}
  size_t process_completions() override {
    release();
    return HoldingDisk::process_completions();
  }
};

// A guest interrupt handler that reaps and re-arms used_event at once (Linux's virtblk_done:
// virtqueue_enable_cb() sets used_event to the last used index it saw).
void rearm_on_interrupt(FakeMsi& msi, TestDriver& drv) {
  msi.on_send = [&drv](uint32_t data) {
    if (data == kQueue0Data) drv.set_used_event(0, drv.used_idx(0));
  };
}

TEST_F(VirtioBlkTest, CompletionsReapedTogetherRaiseOneInterrupt) {
  open_null();
  CompletesWhenReaped* disk = open_over(std::make_unique<CompletesWhenReaped>(make_blk_disk(*backend_)));
  drv_->bring_up(kBase | bit(feature::kEventIdx));
  drv_->set_used_event(0, 0);  // interrupt at the first completion
  rearm_on_interrupt(msi_, *drv_);
  std::vector<Req> reqs;
  for (int i = 0; i < 4; ++i) {
    reqs.push_back(make(kTypeIn, 8 * i, 4096));
    drv_->submit(0, bufs(reqs.back(), true));
  }
  dev_->process_queue(0);
  ASSERT_EQ(disk->held(), 4u);
  EXPECT_EQ(msi_.total(), 0u);
  EXPECT_EQ(dev_->process_completions(), 4u);
  EXPECT_EQ(drv_->used_idx(0), 4);
  for (const Req& r : reqs) EXPECT_EQ(status_of(r), kStatusOk);
  // All four are in the used ring before the one interrupt: the handler re-arming at once
  // does not earn an interrupt per completion.
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
  // The next batch interrupts again (used_event was re-armed at 4).
  Req more = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(more, false));
  dev_->process_queue(0);
  EXPECT_EQ(dev_->process_completions(), 1u);
  EXPECT_EQ(msi_.count(kQueue0Data), 2u);
}

TEST_F(VirtioBlkTest, SynchronousCompletionsOfOneKickRaiseOneInterrupt) {
  open_null();  // NullDriver: completes inside the submission batch
  drv_->bring_up(kBase | bit(feature::kEventIdx));
  drv_->set_used_event(0, 0);
  rearm_on_interrupt(msi_, *drv_);
  for (int i = 0; i < 4; ++i) {
    Req r = make(kTypeIn, 8 * i, 4096);
    drv_->submit(0, bufs(r, true));
  }
  Req bad = make(99, 0, 0);  // unsupported type: answered inline, in the same batch
  drv_->submit(0, bufs(bad, false));
  dev_->process_queue(0);
  EXPECT_EQ(drv_->used_idx(0), 5);
  EXPECT_EQ(status_of(bad), kStatusUnsupp);
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
}

TEST_F(VirtioBlkTest, PollRunsNewRequestsAndDeliversFinishedOnesWithoutSignals) {
  // What the I/O thread's busy-poll calls: the work of a kick and of a completion signal,
  // found by looking at the ring and the disk, with one interrupt per batch as usual.
  open_null();
  HoldingDisk* disk =
      open_over(std::make_unique<HoldingDisk>(make_blk_disk(*backend_), [](const block::Request&) { return true; }));
  drv_->bring_up(kBase | bit(feature::kEventIdx));
  drv_->set_used_event(0, 0);
  rearm_on_interrupt(msi_, *drv_);
  EXPECT_FALSE(dev_->poll());
  std::vector<Req> reqs;
  for (int i = 0; i < 3; ++i) {
    reqs.push_back(make(kTypeIn, 8 * i, 4096));
    drv_->submit(0, bufs(reqs.back(), true));
  }
  EXPECT_TRUE(dev_->poll());  // no process_queue(): the poll found them in the ring
  EXPECT_EQ(disk->held(), 3u);
  EXPECT_EQ(drv_->used_idx(0), 0);
  EXPECT_EQ(disk->release(), 3u);  // finished in the backend; the device is not told
  EXPECT_TRUE(dev_->poll());
  EXPECT_EQ(drv_->used_idx(0), 3);
  for (const Req& r : reqs) EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
  EXPECT_FALSE(dev_->poll());
  // Bus mastering off: the ring is not touched, even with requests waiting in it.
  Req late = make(kTypeIn, 0, 4096);
  drv_->submit(0, bufs(late, true));
  drv_->set_command(pci::cmd::kMemorySpace);
  EXPECT_FALSE(dev_->poll());
  EXPECT_EQ(disk->held(), 0u);
  drv_->set_command(pci::cmd::kMemorySpace | pci::cmd::kBusMaster);
  EXPECT_TRUE(dev_->poll());
  EXPECT_EQ(disk->held(), 1u);
}

TEST_F(VirtioBlkTest, CompletionsDeliveredOutsideTheDeviceStillInterrupt) {
  // Callers that drive the backend directly (no VirtioBlk::process_completions) get the
  // per-completion EVENT_IDX decision: nothing waits for a batch end that never comes.
  open();
  drv_->bring_up(kBase | bit(feature::kEventIdx));
  drv_->set_used_event(0, 0);
  Req r = make(kTypeIn, 0, 4096);
  drv_->submit(0, bufs(r, true));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
}

// --- Interrupt paths ---

TEST_F(VirtioBlkTest, MaskedVectorLatchesPendingUntilUnmasked) {
  open();
  drv_->bring_up(kBase);
  uint64_t ctrl = VirtioPciDevice::kMsixTableOffset + 16 * 1 + 12;
  drv_->write(ctrl, 1, 4);  // mask queue 0's vector
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(msi_.count(kQueue0Data), 0u);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kMsixPbaOffset, 8), 0b10u);
  drv_->write(ctrl, 0, 4);
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kMsixPbaOffset, 8), 0u);
}

TEST_F(VirtioBlkTest, IntxFallbackThroughIsr) {
  open();
  FakeLine line;
  dev_->connect_intx(&line, 10);
  drv_->enable_device();
  ASSERT_TRUE(drv_->negotiate(kBase));
  drv_->setup_queue(0, 16, kNoVector);
  drv_->driver_ok();
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(msi_.total(), 0u);
  EXPECT_TRUE(line.level);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kIsrOffset, 1), 1u);  // queue interrupt; read clears
  EXPECT_FALSE(line.level);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kIsrOffset, 1), 0u);
}

TEST_F(VirtioBlkTest, IntxConfigInterruptOnNeedsReset) {
  open();
  FakeLine line;
  dev_->connect_intx(&line, 10);
  drv_->enable_device();
  ASSERT_TRUE(drv_->negotiate(kBase));
  drv_->setup_queue(0, 16, kNoVector);
  drv_->driver_ok();
  ram_.set<uint16_t>(drv_->queue(0).avail + 2, 100);  // runaway avail idx
  pump();
  EXPECT_TRUE(needs_reset());
  EXPECT_TRUE(line.level);
  EXPECT_EQ(drv_->read(VirtioPciDevice::kIsrOffset, 1), 2u);  // configuration change
  EXPECT_FALSE(line.level);
}

TEST_F(VirtioBlkTest, MsixVectorOutOfRangeReadsNoVector) {
  open();
  drv_->enable_device();
  drv_->write(0x10, 7, 2);  // 2 vectors exist (config + 1 queue)
  EXPECT_EQ(drv_->read(0x10, 2), kNoVector);
  drv_->write(0x16, 0, 2);
  drv_->write(0x1A, 1, 2);
  EXPECT_EQ(drv_->read(0x1A, 2), 1u);
  drv_->write(0x1A, 2, 2);
  EXPECT_EQ(drv_->read(0x1A, 2), kNoVector);
}

TEST_F(VirtioBlkTest, MultiQueueUsesPerQueueVectors) {
  Setup s;
  s.options.num_queues = 2;
  open(s);
  drv_->bring_up(kBase, 2);
  Req r = make(kTypeIn, 0, 512);
  drv_->submit(1, bufs(r, true));
  pump(1);
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(drv_->used_idx(1), 1);
  EXPECT_EQ(drv_->used_idx(0), 0);
  EXPECT_EQ(msi_.count(0x102), 1u);
  EXPECT_EQ(msi_.count(kQueue0Data), 0u);
}

TEST_F(VirtioBlkTest, MmioNotifyKicksQueueAndNotifyAreaIsReported) {
  Setup s;
  s.options.num_queues = 2;
  open(s);
  drv_->bring_up(kBase, 2);
  EXPECT_EQ(hooks_.area, 0xC000'0000 + VirtioPciDevice::kNotifyOffset);
  hooks_.kicks.clear();
  drv_->write(VirtioPciDevice::kNotifyOffset + VirtioPciDevice::kNotifyOffMultiplier * 1, 1, 2);
  EXPECT_EQ(hooks_.kicks, std::vector<uint16_t>{1});
  drv_->set_command(pci::cmd::kBusMaster);  // memory decoding off
  EXPECT_EQ(hooks_.area, std::nullopt);
}

TEST_F(VirtioBlkTest, PciCfgCapabilityReachesTheBar) {
  open();
  uint32_t cap = 0;
  for (uint32_t at = drv_->cfg_read(pci::reg::kCapabilityPointer, 1); at != 0; at = drv_->cfg_read(at + 1, 1)) {
    if (drv_->cfg_read(at, 1) == pci::cap_id::kVendor && drv_->cfg_read(at + 3, 1) == pci_cap::kPciCfg) cap = at;
  }
  ASSERT_NE(cap, 0u);
  drv_->cfg_write(cap + 4, 0, 1);
  drv_->cfg_write(cap + 8, 0x12, 4);  // common cfg num_queues
  drv_->cfg_write(cap + 12, 2, 4);
  EXPECT_EQ(drv_->cfg_read(cap + 16, 2), 1u);
  drv_->cfg_write(cap + 8, 0x14, 4);  // device_status
  drv_->cfg_write(cap + 12, 1, 4);
  drv_->cfg_write(cap + 16, device_status::kAcknowledge, 1);
  EXPECT_EQ(dev_->status(), device_status::kAcknowledge);
}

// --- Bus mastering (blktests block/011 toggles it during I/O) ---

TEST_F(VirtioBlkTest, BusMasterOffDefersQueueProcessing) {
  open();
  drv_->bring_up(kBase);
  drv_->set_command(pci::cmd::kMemorySpace);  // BME off
  Req r = make(kTypeIn, 0, 512);
  std::memset(ram_.ptr(r.data, 512), 0x77, 512);
  drv_->submit(0, bufs(r, true));
  dev_->process_queue(0);
  wait_backend();
  EXPECT_EQ(status_of(r), 0xEE);  // guest memory untouched
  EXPECT_EQ(ram_.get<uint8_t>(r.data), 0x77);
  EXPECT_EQ(drv_->used_idx(0), 0);
  EXPECT_EQ(backend_->in_flight(), 0u);
  hooks_.kicks.clear();
  drv_->set_command(pci::cmd::kMemorySpace | pci::cmd::kBusMaster);
  EXPECT_EQ(hooks_.kicks, std::vector<uint16_t>{0});
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(drv_->used_idx(0), 1);
  EXPECT_EQ(msi_.count(kQueue0Data), 1u);
}

TEST_F(VirtioBlkTest, BusMasterOffParksCompletionsAndInterrupts) {
  open();
  drv_->bring_up(kBase);
  Req a = make(kTypeOut, 0, 512);
  Req b = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(a, false));
  drv_->submit(0, bufs(b, false));
  dev_->process_queue(0);  // both handed to the backend
  drv_->set_command(pci::cmd::kMemorySpace);
  wait_backend();
  EXPECT_EQ(status_of(a), 0xEE);
  EXPECT_EQ(status_of(b), 0xEE);
  EXPECT_EQ(drv_->used_idx(0), 0);
  EXPECT_EQ(msi_.total(), 0u);
  // A config interrupt raised meanwhile (here: a broken queue elsewhere) is held, not lost.
  hooks_.kicks.clear();
  drv_->set_command(pci::cmd::kMemorySpace | pci::cmd::kBusMaster);
  pump();
  EXPECT_EQ(status_of(a), kStatusOk);
  EXPECT_EQ(status_of(b), kStatusOk);
  EXPECT_EQ(drv_->used_idx(0), 2);
  EXPECT_GE(msi_.count(kQueue0Data), 1u);
  EXPECT_EQ(dev_->stats().parked, 2u);
  // And the device keeps working.
  Req c = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(c, false));
  pump();
  EXPECT_EQ(status_of(c), kStatusOk);
}

TEST_F(VirtioBlkTest, ResetWithRequestInFlightDropsItsCompletion) {
  open();
  drv_->bring_up(kBase);
  Req a = make(kTypeIn, 0, 4096);
  drv_->submit(0, bufs(a, true));
  dev_->process_queue(0);
  uint64_t used = drv_->queue(0).used;
  drv_->set_status(0);
  wait_backend();
  EXPECT_EQ(status_of(a), 0xEE);
  EXPECT_EQ(dev_->in_flight(), 0u);
  EXPECT_EQ(dev_->stats().dropped_on_reset, 1u);
  drv_->bring_up(kBase);
  Req b = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(b, false));
  pump();
  EXPECT_EQ(status_of(b), kStatusOk);
}

// --- Hostile input: IOERR where a status byte exists, NEEDS_RESET otherwise ---

TEST_F(VirtioBlkTest, DescriptorLoopSetsNeedsReset) {
  open();
  drv_->bring_up(kBase);
  auto& q = drv_->queue(0);
  uint64_t h = ram_.alloc(16);
  drv_->put_desc(q, q.desc, 0, h, 16, ring::kDescNext, 1);
  drv_->put_desc(q, q.desc, 1, h, 16, ring::kDescNext, 0);
  drv_->publish(0, 0);
  pump();
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(msi_.count(kConfigVectorData), 1u);  // configuration change interrupt
  EXPECT_EQ(drv_->used_idx(0), 0);
  // Further notifications are ignored until the driver resets the device.
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), 0xEE);
  drv_->set_status(0);
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkTest, BufferOutsideRamIsIoErr) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeIn, 0, 512);
  drv_->submit(0, {{r.header, 16, false}, {testing::kRamSize - 256, 512, true}, {r.status, 1, true}});
  Req r2 = make(kTypeOut, 0, 512);
  drv_->submit(0, {{r2.header, 16, false}, {0x4'0000'0000, 512, false}, {r2.status, 1, true}});
  pump();
  EXPECT_EQ(status_of(r), kStatusIoErr);
  EXPECT_EQ(status_of(r2), kStatusIoErr);
  EXPECT_EQ(drv_->used_idx(0), 2);
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkTest, ZeroLengthBufferIsIoErr) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeIn, 0, 512);
  drv_->submit(0, {{r.header, 16, false}, {r.data, 0, true}, {r.status, 1, true}});
  pump();
  EXPECT_EQ(status_of(r), kStatusIoErr);
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkTest, TooManySegmentsIsIoErr) {
  Setup s;
  s.options.seg_max = 4;
  open(s);
  drv_->bring_up(kBase, 1, 16);
  Req r = make(kTypeIn, 0, 512 * 5);
  std::vector<Buf> b{{r.header, 16, false}};
  for (int i = 0; i < 5; ++i) b.push_back({r.data + 512u * i, 512, true});
  b.push_back({r.status, 1, true});
  drv_->submit(0, b);
  pump();
  EXPECT_EQ(status_of(r), kStatusIoErr);
  // Exactly seg_max works.
  Req ok = make(kTypeIn, 0, 512 * 4);
  std::vector<Buf> b2{{ok.header, 16, false}};
  for (int i = 0; i < 4; ++i) b2.push_back({ok.data + 512u * i, 512, true});
  b2.push_back({ok.status, 1, true});
  drv_->submit(0, b2);
  pump();
  EXPECT_EQ(status_of(ok), kStatusOk);
}

TEST_F(VirtioBlkTest, IndirectTableWithBadLengthSetsNeedsReset) {
  open();
  drv_->bring_up(kBase | bit(feature::kIndirectDesc));
  auto& q = drv_->queue(0);
  uint64_t table = ram_.alloc(64);
  drv_->put_desc(q, q.desc, 0, table, 20, ring::kDescIndirect, 0);
  drv_->publish(0, 0);
  pump();
  EXPECT_TRUE(needs_reset());
}

TEST_F(VirtioBlkTest, StatusByteNotWritableSetsNeedsReset) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, {{r.header, 16, false}, {r.status, 1, false}});
  pump();
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(status_of(r), 0xEE);
}

TEST_F(VirtioBlkTest, StatusByteOutsideRamSetsNeedsReset) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeFlush, 0, 0);
  drv_->submit(0, {{r.header, 16, false}, {testing::kRamSize, 1, true}});
  pump();
  EXPECT_TRUE(needs_reset());
}

TEST_F(VirtioBlkTest, QueueOutsideRamSetsNeedsResetAtEnable) {
  open();
  drv_->enable_device();
  ASSERT_TRUE(drv_->negotiate(kBase));
  drv_->enable_msix(2);
  drv_->write(0x16, 0, 2);
  drv_->write(0x18, 16, 2);
  drv_->write(0x20, testing::kRamSize - 64, 8);  // desc table runs off the end of RAM
  drv_->write(0x28, 0x2000, 8);
  drv_->write(0x30, 0x3000, 8);
  drv_->write(0x1C, 1, 2);
  EXPECT_EQ(drv_->read(0x1C, 2), 0u);
  EXPECT_TRUE(needs_reset());
  EXPECT_EQ(dev_->last_error(), "ring outside guest RAM");
  dev_->process_queue(0);  // harmless
}

TEST_F(VirtioBlkTest, ShortHeaderAndMisorderedBuffersAreIoErr) {
  open();
  drv_->bring_up(kBase);
  Req shortr = make(kTypeIn, 0, 0);
  drv_->submit(0, {{shortr.header, 8, false}, {shortr.status, 1, true}});
  Req order = make(kTypeOut, 0, 512);
  drv_->submit(0, {{order.header, 16, false}, {order.status, 1, true}, {order.data, 512, false},
                   {order.status, 1, true}});
  Req wrongdir = make(kTypeOut, 0, 512);  // OUT data marked device-writable
  drv_->submit(0, bufs(wrongdir, true));
  pump();
  EXPECT_EQ(status_of(shortr), kStatusIoErr);
  EXPECT_EQ(status_of(order), kStatusIoErr);
  EXPECT_EQ(status_of(wrongdir), kStatusIoErr);
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkTest, HeadReusedWhileInFlightSetsNeedsReset) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeIn, 0, 4096);
  uint16_t head = drv_->submit(0, bufs(r, true));
  drv_->publish(0, head);  // the same chain again, while the first is in the backend
  dev_->process_queue(0);
  EXPECT_TRUE(needs_reset());
  wait_backend();
  EXPECT_EQ(dev_->in_flight(), 0u);
}

TEST_F(VirtioBlkTest, HeadReusableOnceCompleted) {
  open();
  drv_->bring_up(kBase);
  Req r = make(kTypeFlush, 0, 0);
  uint16_t head = drv_->submit(0, bufs(r, false));
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  ram_.set<uint8_t>(r.status, 0xEE);
  drv_->publish(0, head);
  pump();
  EXPECT_EQ(status_of(r), kStatusOk);
  EXPECT_EQ(drv_->used_idx(0), 2);
  EXPECT_FALSE(needs_reset());
}

TEST_F(VirtioBlkTest, AvailIndexRunawaySetsNeedsReset) {
  open();
  drv_->bring_up(kBase);
  ram_.set<uint16_t>(drv_->queue(0).avail + 2, 1000);
  pump();
  EXPECT_TRUE(needs_reset());
}

TEST_F(VirtioBlkTest, RandomGarbageNeverCrashes) {
  open();
  drv_->bring_up(kBase | bit(feature::kIndirectDesc) | bit(feature::kEventIdx), 1, 16);
  auto& q = drv_->queue(0);
  uint32_t seed = 12345;
  auto rnd = [&] {
    seed = seed * 1103515245 + 12345;
    return seed >> 8;
  };
  // Plausible request headers (mostly valid types, sectors near the end of the disk) and
  // segment arrays scattered over the region the descriptors point into.
  for (uint64_t a = 0x100000; a < 0x200000; a += 16) {
    static const uint32_t kTypes[] = {kTypeIn, kTypeOut, kTypeFlush, kTypeGetId, kTypeDiscard,
                                      kTypeWriteZeroes, kTypeSecureErase, 0xFFFFFFFF};
    ram_.set<uint32_t>(a, kTypes[rnd() % 8]);
    ram_.set<uint32_t>(a + 4, rnd());
    ram_.set<uint64_t>(a + 8, rnd() % 2 ? rnd() % (kDiskSize / 512 + 8) : (uint64_t(rnd()) << 32 | rnd()));
  }
  for (int round = 0; round < 300; ++round) {
    bool structured = round % 2 == 0;  // well-formed chains with hostile contents, or garbage
    for (uint16_t i = 0; i < q.size; ++i) {
      uint64_t addr = (rnd() % 8 == 0) ? (uint64_t(rnd()) << 12) : (0x100000 + (rnd() % 0x100000));
      uint32_t len = rnd() % 8 == 0 ? rnd() : (rnd() % 2 ? 16 : rnd() % 8192);
      auto flags = static_cast<uint16_t>(rnd() & 7);
      auto next = static_cast<uint16_t>(rnd() % 20);
      if (structured) {
        bool last = i % 3 == 2;
        flags = static_cast<uint16_t>((last ? 0 : ring::kDescNext) |
                                      ((last ? rnd() % 10 != 0 : (i % 3 == 1 && rnd() % 2)) ? ring::kDescWrite : 0));
        next = static_cast<uint16_t>(i + 1);
        if (last) len = 1 + rnd() % 2;
        if (i % 3 == 0 && rnd() % 4 != 0) len = 16;
      }
      drv_->put_desc(q, q.desc, i, addr, len, flags, next);
    }
    for (uint16_t i = 0; i < q.size; ++i) {
      ram_.set<uint16_t>(q.avail + 4 + 2 * i, static_cast<uint16_t>(structured ? 3 * (rnd() % 5) : rnd() % 18));
    }
    ram_.set<uint16_t>(q.avail + 2, static_cast<uint16_t>(ram_.get<uint16_t>(q.avail + 2) + rnd() % 5));
    pump();
    if (needs_reset() || round % 50 == 49) {
      drv_->set_status(0);
      drv_->bring_up(kBase | bit(feature::kIndirectDesc) | bit(feature::kEventIdx), 1, 16);
    }
  }
  EXPECT_GT(dev_->stats().requests, 100u);
}

}  // namespace
}  // namespace devices::virtio
