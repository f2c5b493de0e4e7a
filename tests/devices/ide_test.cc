// PIIX3 IDE driven like Linux's ata_piix: legacy command/control ports, PIO through the data
// port, bus-master DMA with PRD tables in a real vmm::GuestMemory, data in a temp file behind a
// real block::Backend.
#include <poll.h>

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "block/null_driver.h"
#include "devices/ide/ide.h"
#include "devices/pci/bar_allocator.h"
#include "devices/pci/pci_bus.h"
#include "ata_test_util.h"

namespace devices::ide {
namespace {

using testing::FakeIoThread;
using testing::FakeLine;
using testing::TestDisk;
using testing::TestRam;
using testing::pattern;

constexpr uint64_t kDiskSize = 1 << 20;  // 2048 sectors

struct PrdEntry {
  uint64_t address;
  uint32_t count;  // 0 = 64 KiB
  bool eot;
};

class IdeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = std::make_unique<TestDisk>(kDiskSize);
    dev_ = std::make_unique<IdeController>(
        ram_.memory, std::array<IdeDisk, 4>{IdeDisk{disk_->backend.get(), {}}, IdeDisk{}, IdeDisk{}, IdeDisk{}});
    dev_->set_io_thread_hook(&io_);
    dev_->connect_channel_irq(0, &irq14_);
    dev_->connect_channel_irq(1, &irq15_);
    cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster, 2);
    prdt_ = ram_.alloc(0x10000, 0x10000);
  }

  uint8_t in(uint32_t reg_offset, int ch = 0) {
    uint8_t b = 0;
    dev_->command_block(ch).read(reg_offset, std::span(&b, 1));
    return b;
  }
  void out(uint32_t reg_offset, uint8_t v, int ch = 0) {
    dev_->command_block(ch).write(reg_offset, std::span<const uint8_t>(&v, 1));
  }
  uint16_t in16() {
    uint8_t b[2];
    dev_->command_block(0).read(reg::kData, std::span(b, 2));
    return static_cast<uint16_t>(b[0] | b[1] << 8);
  }
  uint32_t in32() {
    uint8_t b[4];
    dev_->command_block(0).read(reg::kData, std::span(b, 4));
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
  }
  void out16(uint16_t v) {
    uint8_t b[2] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)};
    dev_->command_block(0).write(reg::kData, std::span<const uint8_t>(b, 2));
  }
  void out32(uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    dev_->command_block(0).write(reg::kData, std::span<const uint8_t>(b, 4));
  }
  uint8_t alt(int ch = 0) {
    uint8_t b = 0;
    dev_->control_block(ch).read(0, std::span(&b, 1));
    return b;
  }
  void control(uint8_t v, int ch = 0) { dev_->control_block(ch).write(0, std::span<const uint8_t>(&v, 1)); }
  uint8_t bm_in(uint32_t r) {
    uint8_t b = 0;
    dev_->bar_read(IdeController::kBmideBar, r, std::span(&b, 1));
    return b;
  }
  void bm_out(uint32_t r, uint8_t v) { dev_->bar_write(IdeController::kBmideBar, r, std::span<const uint8_t>(&v, 1)); }
  void bm_out32(uint32_t r, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    dev_->bar_write(IdeController::kBmideBar, r, std::span<const uint8_t>(b, 4));
  }
  uint32_t cfg_read(uint32_t off, size_t n) {
    uint8_t b[4] = {};
    dev_->config_read(off, std::span(b, n));
    uint32_t v = 0;
    std::memcpy(&v, b, n);
    return v;
  }
  void cfg_write(uint32_t off, uint32_t v, size_t n) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    dev_->config_write(off, std::span<const uint8_t>(b, n));
  }
  // LBA28 taskfile + command.
  void command28(uint8_t cmd, uint32_t lba, uint8_t count, uint8_t features = 0) {
    out(reg::kError, features);
    out(reg::kCount, count);
    out(reg::kLbaLow, lba & 0xFF);
    out(reg::kLbaMid, (lba >> 8) & 0xFF);
    out(reg::kLbaHigh, (lba >> 16) & 0xFF);
    out(reg::kDevice, static_cast<uint8_t>(0xE0 | ((lba >> 24) & 0xF)));
    out(reg::kStatus, cmd);
  }
  // LBA48: previous (HOB) bytes first, then current.
  void command48(uint8_t cmd, uint64_t lba, uint16_t count) {
    out(reg::kCount, count >> 8);
    out(reg::kLbaLow, (lba >> 24) & 0xFF);
    out(reg::kLbaMid, (lba >> 32) & 0xFF);
    out(reg::kLbaHigh, (lba >> 40) & 0xFF);
    out(reg::kCount, count & 0xFF);
    out(reg::kLbaLow, lba & 0xFF);
    out(reg::kLbaMid, (lba >> 8) & 0xFF);
    out(reg::kLbaHigh, (lba >> 16) & 0xFF);
    out(reg::kDevice, 0xE0);
    out(reg::kStatus, cmd);
  }
  void set_prdt(const std::vector<PrdEntry>& entries) {
    for (size_t i = 0; i < entries.size(); ++i) {
      ram_.set<uint32_t>(prdt_ + 8 * i, static_cast<uint32_t>(entries[i].address));
      ram_.set<uint32_t>(prdt_ + 8 * i + 4, (entries[i].count & 0xFFFF) | (entries[i].eot ? bm::kPrdEot : 0));
    }
    bm_out32(bm::kPrdTable, static_cast<uint32_t>(prdt_));
  }
  // What ata_bmdma_setup/start + the command do.
  void dma(uint8_t cmd, uint32_t lba, uint8_t count, bool read, const std::vector<PrdEntry>& entries) {
    set_prdt(entries);
    bm_out(bm::kCommand, read ? bm::kCmdToMemory : 0);
    bm_out(bm::kStatus, bm::kStError | bm::kStInterrupt);
    command28(cmd, lba, count);
    bm_out(bm::kCommand, static_cast<uint8_t>((read ? bm::kCmdToMemory : 0) | bm::kCmdStart));
  }
  void run() { testing::pump(io_, *disk_); }
  // Rebuilds the controller with `slave` as primary slave next to the master.
  void with_slave(TestDisk& slave) {
    dev_.reset();
    dev_ = std::make_unique<IdeController>(
        ram_.memory, std::array<IdeDisk, 4>{IdeDisk{disk_->backend.get(), {}}, IdeDisk{slave.backend.get(), {}},
                                            IdeDisk{}, IdeDisk{}});
    dev_->set_io_thread_hook(&io_);
    dev_->connect_channel_irq(0, &irq14_);
    cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster, 2);
  }
  std::vector<uint8_t> guest(uint64_t a, size_t n) {
    auto* p = ram_.ptr(a, n);
    return {p, p + n};
  }
  std::vector<uint8_t> file_pattern(uint64_t lba, uint64_t sectors) {
    auto all = pattern(kDiskSize, 1);
    return {all.begin() + lba * 512, all.begin() + (lba + sectors) * 512};
  }
  std::vector<uint8_t> read_sector_pio() {
    std::vector<uint8_t> v;
    for (int i = 0; i < 256; ++i) {
      uint16_t w = in16();
      v.push_back(static_cast<uint8_t>(w));
      v.push_back(static_cast<uint8_t>(w >> 8));
    }
    return v;
  }

  // Rebuilds the controller with a NullDriver disk as primary master (no file, no threads).
  block::Backend& with_null_disk() {
    dev_.reset();
    null_backend_ = std::make_unique<block::Backend>(std::make_unique<block::NullDriver>(),
                                                     block::BackendPolicy{}, kDiskSize);
    dev_ = std::make_unique<IdeController>(
        ram_.memory, std::array<IdeDisk, 4>{IdeDisk{null_backend_.get(), {}}, IdeDisk{}, IdeDisk{}, IdeDisk{}});
    dev_->set_io_thread_hook(&io_);
    dev_->connect_channel_irq(0, &irq14_);
    cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster, 2);
    return *null_backend_;
  }

  TestRam ram_;
  FakeIoThread io_;
  FakeLine irq14_, irq15_;
  std::unique_ptr<TestDisk> disk_;
  std::unique_ptr<block::Backend> null_backend_;  // before dev_: outlives the controller
  std::unique_ptr<IdeController> dev_;
  uint64_t prdt_ = 0;
};

TEST_F(IdeTest, PciIdentity) {
  EXPECT_EQ(cfg_read(pci::reg::kVendorId, 2), 0x8086u);
  EXPECT_EQ(cfg_read(pci::reg::kDeviceId, 2), 0x7010u);
  EXPECT_EQ(cfg_read(pci::reg::kClassCode, 1), 0x80u);  // bus master, both channels legacy
  EXPECT_EQ(cfg_read(pci::reg::kClassCode + 1, 1), 0x01u);
  EXPECT_EQ(cfg_read(pci::reg::kClassCode + 2, 1), 0x01u);
  cfg_write(pci::reg::kBar0 + 16, 0xFFFFFFFF, 4);
  EXPECT_EQ(cfg_read(pci::reg::kBar0 + 16, 4), 0xFFFFFFF1u);  // 16-byte I/O BAR
  for (int i = 0; i < 4; ++i) EXPECT_EQ(cfg_read(pci::reg::kBar0 + 4 * i, 4), 0u);
  EXPECT_TRUE(cfg_read(0x41, 1) & 0x80);  // IDETIM decode enable, what ata_piix checks
  EXPECT_TRUE(cfg_read(0x43, 1) & 0x80);
  EXPECT_EQ(bm_in(bm::kStatus) & (bm::kStDrive0Dma | bm::kStDrive1Dma), bm::kStDrive0Dma);
}

TEST_F(IdeTest, PowerOnSignatureAndSoftReset) {
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(in(reg::kError), 0x01);
  EXPECT_EQ(in(reg::kCount), 0x01);
  EXPECT_EQ(in(reg::kLbaLow), 0x01);
  EXPECT_EQ(in(reg::kLbaMid), 0x00);
  EXPECT_EQ(in(reg::kLbaHigh), 0x00);
  out(reg::kCount, 0x55);
  out(reg::kLbaLow, 0xAA);
  EXPECT_EQ(in(reg::kCount), 0x55);  // ata_devchk's pattern test
  EXPECT_EQ(in(reg::kLbaLow), 0xAA);
  control(ctl::kSrst | ctl::kNien);
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  control(ctl::kNien);
  EXPECT_EQ(alt(), ata::st::kReady);
  EXPECT_EQ(in(reg::kCount), 0x01);
  EXPECT_EQ(in(reg::kLbaLow), 0x01);
  EXPECT_EQ(in(reg::kError), 0x01);
}

TEST_F(IdeTest, AbsentDevices) {
  out(reg::kDevice, 0xB0);  // slave: absent next to a present master
  EXPECT_EQ(in(reg::kStatus), 0x00);
  EXPECT_EQ(alt(), 0x00);
  out(reg::kCount, 0x55);
  EXPECT_EQ(in(reg::kCount), 0x00);
  EXPECT_EQ(in(reg::kError), 0x00);
  out(reg::kStatus, ata::op::kIdentifyDevice);  // ignored
  EXPECT_EQ(io_.posts, 0u);
  out(reg::kDevice, 0xA0);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  // Secondary channel: nothing attached at all.
  EXPECT_EQ(in(reg::kStatus, 1), 0x7F);
  EXPECT_EQ(alt(1), 0x7F);
  EXPECT_EQ(in(reg::kLbaMid, 1), 0x7F);
}

TEST_F(IdeTest, IdentifyThroughDataPort) {
  control(0);
  out(reg::kDevice, 0xA0);
  out(reg::kStatus, ata::op::kIdentifyDevice);
  EXPECT_TRUE(irq14_.level);
  EXPECT_EQ(alt(), ata::st::kReady | ata::st::kDrq);
  EXPECT_TRUE(irq14_.level);  // alternate status does not acknowledge
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady | ata::st::kDrq);
  EXPECT_FALSE(irq14_.level);  // status read does
  auto page = read_sector_pio();
  ata::AtaDrive reference(*disk_->backend, ata::Transport::kIde);
  auto want = reference.identify_data();
  EXPECT_EQ(page, std::vector<uint8_t>(want.begin(), want.end()));
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_FALSE(irq14_.level);
  EXPECT_EQ(io_.posts, 0u);  // served from the device buffer: no I/O thread needed
}

TEST_F(IdeTest, PioReadSectorsAcrossChunks) {
  control(0);
  command48(ata::op::kReadSectorsExt, 7, 200);  // more than one 128-sector buffer
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  EXPECT_EQ(io_.posts, 1u);
  EXPECT_EQ(disk_->backend->in_flight(), 0u);  // vCPU side queued work only
  std::vector<uint8_t> got;
  for (int s = 0; s < 200; ++s) {
    if (alt() & ata::st::kBsy) run();
    ASSERT_TRUE(irq14_.level) << s;
    ASSERT_EQ(in(reg::kStatus), ata::st::kReady | ata::st::kDrq) << s;
    auto sector = read_sector_pio();
    got.insert(got.end(), sector.begin(), sector.end());
  }
  EXPECT_EQ(got, file_pattern(7, 200));
  EXPECT_EQ(alt(), ata::st::kReady);
  EXPECT_FALSE(irq14_.level);
}

TEST_F(IdeTest, PioRead32BitAccesses) {
  command28(ata::op::kReadSectors, 3, 1);
  run();
  in(reg::kStatus);
  std::vector<uint8_t> got;
  for (int i = 0; i < 128; ++i) {
    uint32_t v = in32();
    for (int b = 0; b < 4; ++b) got.push_back(static_cast<uint8_t>(v >> (8 * b)));
  }
  EXPECT_EQ(got, file_pattern(3, 1));
  EXPECT_EQ(alt(), ata::st::kReady);
}

TEST_F(IdeTest, PioWriteSectors) {
  auto data = pattern(3 * 512, 42);
  command28(ata::op::kWriteSectors, 100, 3);
  EXPECT_EQ(alt(), ata::st::kReady | ata::st::kDrq);
  EXPECT_FALSE(irq14_.level);  // no interrupt before the first block
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 256; i += 2) {  // mix 32- and 16-bit accesses
      const uint8_t* p = data.data() + 512 * s + 2 * i;
      out32(uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    }
    if (s < 2) {
      EXPECT_TRUE(irq14_.level);
      EXPECT_EQ(in(reg::kStatus), ata::st::kReady | ata::st::kDrq);
    }
  }
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  run();
  EXPECT_TRUE(irq14_.level);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(disk_->file_bytes(100 * 512, 3 * 512), data);
}

TEST_F(IdeTest, PioWriteExtLongUsesSeveralBackendWrites) {
  auto data = pattern(130 * 512, 5);
  command48(ata::op::kWriteSectorsExt, 1000, 130);
  for (int s = 0; s < 130; ++s) {
    if (alt() & ata::st::kBsy) run();
    ASSERT_EQ(alt(), ata::st::kReady | ata::st::kDrq) << s;
    for (int i = 0; i < 256; ++i) out16(static_cast<uint16_t>(data[512 * s + 2 * i] | data[512 * s + 2 * i + 1] << 8));
  }
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(disk_->file_bytes(1000 * 512, 130 * 512), data);
}

TEST_F(IdeTest, HobRegistersForLba48) {
  out(reg::kLbaLow, 0x11);
  out(reg::kLbaLow, 0x22);
  EXPECT_EQ(in(reg::kLbaLow), 0x22);
  control(ctl::kHob);
  EXPECT_EQ(in(reg::kLbaLow), 0x11);
  out(reg::kCount, 1);  // any command block write clears HOB
  EXPECT_EQ(in(reg::kLbaLow), 0x22);
  // An LBA48 read at an LBA with non-zero HOB bytes is out of range on this small disk.
  command48(ata::op::kReadSectorsExt, 1ull << 24, 1);
  EXPECT_EQ(in(reg::kStatus), ata::st::kDrdy | ata::st::kErr);
  EXPECT_EQ(in(reg::kError), ata::err::kIdnf);
}

TEST_F(IdeTest, NienMasksTheLine) {
  control(ctl::kNien);
  out(reg::kStatus, ata::op::kCheckPowerMode);
  EXPECT_FALSE(irq14_.level);
  EXPECT_EQ(in(reg::kCount), 0xFF);
  control(0);
  EXPECT_TRUE(irq14_.level);  // still pending: unmasking shows it
  in(reg::kStatus);
  EXPECT_FALSE(irq14_.level);
  out(reg::kStatus, ata::op::kIdleImmediate);
  EXPECT_TRUE(irq14_.level);
  control(ctl::kNien);
  EXPECT_FALSE(irq14_.level);
  control(0);
  EXPECT_TRUE(irq14_.level);
  in(reg::kStatus);
  EXPECT_FALSE(irq14_.level);
}

TEST_F(IdeTest, ErrorsAndNonData) {
  out(reg::kStatus, ata::op::kReadLogExt);
  EXPECT_EQ(in(reg::kStatus), ata::st::kDrdy | ata::st::kErr);
  EXPECT_EQ(in(reg::kError), ata::err::kAbrt);
  command28(ata::op::kReadFpdmaQueued, 0, 1);  // no NCQ on IDE
  EXPECT_EQ(in(reg::kError), ata::err::kAbrt);
  command28(ata::op::kReadSectors, kDiskSize / 512, 1);
  EXPECT_EQ(in(reg::kError), ata::err::kIdnf);
  command28(ata::op::kSetFeatures, 0, 0, ata::feature::kDisableWriteCache);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_FALSE(disk_->backend->write_cache_enabled());
  command28(ata::op::kSetFeatures, 0, 0x44, ata::feature::kSetTransferMode);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  out(reg::kStatus, ata::op::kFlushCache);
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  run();
  EXPECT_TRUE(irq14_.level);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  out(reg::kStatus, ata::op::kExecuteDeviceDiagnostic);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(in(reg::kError), 0x01);
  EXPECT_EQ(in(reg::kLbaLow), 0x01);
}

TEST_F(IdeTest, BusMasterDmaRead) {
  uint64_t a = ram_.alloc(4096, 512), b = ram_.alloc(4096, 512);
  dma(ata::op::kReadDma, 9, 6, true, {{a, 1024, false}, {b, 4096, true}});  // PRDs exceed the transfer
  EXPECT_TRUE(bm_in(bm::kStatus) & bm::kStActive);
  EXPECT_EQ(disk_->backend->in_flight(), 0u);
  run();
  EXPECT_TRUE(irq14_.level);
  uint8_t s = bm_in(bm::kStatus);
  EXPECT_TRUE(s & bm::kStInterrupt);
  EXPECT_FALSE(s & bm::kStError);
  EXPECT_FALSE(s & bm::kStActive);
  bm_out(bm::kCommand, bm::kCmdToMemory);  // ata_bmdma_stop
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  auto want = file_pattern(9, 6);
  EXPECT_EQ(guest(a, 1024), std::vector<uint8_t>(want.begin(), want.begin() + 1024));
  EXPECT_EQ(guest(b, 2048), std::vector<uint8_t>(want.begin() + 1024, want.end()));
  bm_out(bm::kStatus, bm::kStInterrupt);
  EXPECT_FALSE(bm_in(bm::kStatus) & bm::kStInterrupt);
}

// A backend that completes synchronously (NullDriver) is reaped by process_channel() itself:
// the DMA finishes in the one posted callback and the completion eventfd is never written.
TEST_F(IdeTest, SynchronousCompletionReapedWithoutTheEventfd) {
  block::Backend& backend = with_null_disk();
  uint64_t a = ram_.alloc(4096, 512);
  dma(ata::op::kReadDma, 9, 8, true, {{a, 4096, true}});
  EXPECT_EQ(io_.run(), 1u);
  EXPECT_EQ(backend.in_flight(), 0u);
  EXPECT_TRUE(irq14_.level);
  EXPECT_TRUE(bm_in(bm::kStatus) & bm::kStInterrupt);
  EXPECT_FALSE(bm_in(bm::kStatus) & bm::kStActive);
  pollfd p{backend.completion_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST_F(IdeTest, BusMasterDmaWriteAndZeroCountMeans64K) {
  uint64_t a = ram_.alloc(0x10000, 0x10000);
  auto data = pattern(0x10000, 3);
  std::memcpy(ram_.ptr(a, 0x10000), data.data(), data.size());
  dma(ata::op::kWriteDma, 200, 128, false, {{a, 0, true}});  // byte count 0 = 64 KiB
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_FALSE(bm_in(bm::kStatus) & bm::kStError);
  EXPECT_EQ(disk_->file_bytes(200 * 512, 0x10000), data);
  // LBA48 DMA, command issued after the engine was started.
  set_prdt({{a, 512, true}});
  bm_out(bm::kCommand, bm::kCmdToMemory | bm::kCmdStart);
  command48(ata::op::kReadDmaExt, 201, 1);
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(guest(a, 512), std::vector<uint8_t>(data.begin() + 512, data.begin() + 1024));
}

// The command and PRD sequence of the job that stalled the demo (issue #23): fio writes
// sequentially at depth 16 with bs 512-64k, the guest merges them into WRITE DMA EXT commands,
// and libata (ata_bmdma_fill_sg) builds one PRD per guest page: pages that are not contiguous,
// a first entry that may start inside its page, none crossing a 64 KiB boundary, up to 256
// entries. ata_bmdma_setup/start/stop and the status reads come in the driver's order. Every
// command must end with the interrupt raised, the bus master idle with its interrupt bit, the
// drive ready, and the data on disk; nothing is left for the I/O thread.
TEST_F(IdeTest, MergedSequentialWriteDmaExtLikeLibata) {
  constexpr uint32_t kPages = 256;
  uint64_t pool = ram_.alloc(2 * kPages * 4096, 0x10000);  // every other page: no merging
  std::mt19937 rng(1234);
  const uint32_t sizes[] = {1, 7, 8, 127, 128, 129, 255, 256, 257, 1024, 2040, 2048};
  uint64_t lba = 0;
  for (int round = 0; round < 60; ++round) {
    uint32_t sectors = round < 12 ? sizes[round] : 1 + rng() % 2048;
    uint32_t first_offset = sectors + 7 < 2048 ? (rng() % 8) * 512 : 0;  // bs 512: inside a page
    if ((lba + sectors) * 512 > kDiskSize) lba = 0;
    std::vector<PrdEntry> prds;
    auto data = pattern(uint64_t{sectors} * 512, static_cast<uint8_t>(round + 5));
    uint64_t left = data.size(), done = 0;
    for (uint32_t page = 0; left > 0; ++page) {
      ASSERT_LT(page, kPages);
      uint64_t at = pool + 2 * uint64_t{page} * 4096 + (page == 0 ? first_offset : 0);
      uint64_t len = std::min<uint64_t>(left, 4096 - (at & 4095));
      ASSERT_LE((at & 0xFFFF) + len, 0x10000u);  // what ata_bmdma_fill_sg guarantees
      std::memcpy(ram_.ptr(at, len), data.data() + done, len);
      prds.push_back({at, static_cast<uint32_t>(len), false});
      done += len;
      left -= len;
    }
    prds.back().eot = true;
    set_prdt(prds);
    bm_out(bm::kCommand, 0);                                  // ata_bmdma_setup: to the device
    bm_out(bm::kStatus, bm::kStError | bm::kStInterrupt);     // ... clear INTR and ERR
    command48(ata::op::kWriteDmaExt, lba, static_cast<uint16_t>(sectors == 65536 ? 0 : sectors));
    bm_out(bm::kCommand, bm::kCmdStart);                      // ata_bmdma_start
    run();
    SCOPED_TRACE("round " + std::to_string(round) + ": " + std::to_string(sectors) + " sectors at lba " +
                 std::to_string(lba) + " in " + std::to_string(prds.size()) + " PRD entries");
    ASSERT_TRUE(irq14_.level);
    uint8_t bs = bm_in(bm::kStatus);                          // ata_bmdma_port_intr
    ASSERT_TRUE(bs & bm::kStInterrupt);
    ASSERT_FALSE(bs & (bm::kStActive | bm::kStError));
    bm_out(bm::kCommand, 0);                                  // ata_bmdma_stop
    EXPECT_EQ(alt(), ata::st::kReady);
    EXPECT_EQ(in(reg::kStatus), ata::st::kReady);             // clears the interrupt
    EXPECT_FALSE(irq14_.level);
    bm_out(bm::kStatus, bs);                                  // ata_bmdma_irq_clear
    EXPECT_FALSE(dev_->busy(0));
    EXPECT_EQ(io_.pending(), 0u);
    ASSERT_EQ(disk_->file_bytes(lba * 512, data.size()), data);
    lba += sectors;
  }
}

// The post-mortem a stopped VMM prints: registers, the command in progress, the last commands
// with the shape of their PRD tables (entries, merged segments, a 64 KiB boundary crossing).
TEST_F(IdeTest, DescribeStateShowsRegistersAndLastCommands) {
  uint64_t a = ram_.alloc(0x20000, 0x10000);
  dma(ata::op::kWriteDma, 4, 8, false, {{a, 2048, false}, {a + 0x10000 - 1024, 2048, true}});
  run();
  bm_out(bm::kCommand, 0);
  in(reg::kStatus);
  dma(ata::op::kReadDma, 16, 2, true, {{a, 1024, true}});  // left in progress
  std::string s = dev_->describe_state();
  EXPECT_NE(s.find("ide: channel 0: phase=dma-running work=dma"), std::string::npos) << s;
  EXPECT_NE(s.find("ide: channel 0 drive 0: status=0xc0"), std::string::npos) << s;
  EXPECT_NE(s.find("command #0: 0xca dev 0 lba=4 sectors=8 prd_entries=2 segments=2 prd_max=2048 "
                   "crosses_64k=1 done status=0x50"), std::string::npos) << s;
  EXPECT_NE(s.find("command #1: 0xc8 dev 0 lba=16 sectors=2"), std::string::npos) << s;
  EXPECT_NE(s.find("in-progress"), std::string::npos) << s;
  EXPECT_EQ(s.find("channel 1"), std::string::npos) << s;  // no disk there: nothing to say
  run();
}

TEST_F(IdeTest, HostilePrdTables) {
  uint64_t buf = ram_.alloc(0x2000, 512);
  struct Case {
    const char* name;
    std::vector<PrdEntry> prds;
    uint8_t count;
  };
  std::vector<Case> cases = {
      {"outside ram", {{testing::kRamSize - 512, 1024, true}}, 2},
      {"far outside", {{0xFFFF0000u, 1024, true}}, 2},
      {"short table", {{buf, 512, true}}, 2},
      {"odd count", {{buf, 511, false}, {buf + 512, 513, true}}, 2},
      {"odd address", {{buf + 1, 1024, true}}, 2},
      {"overlapping read buffers", {{buf, 1024, false}, {buf + 512, 1024, true}}, 4},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    dma(ata::op::kReadDma, 0, c.count, true, c.prds);
    run();
    EXPECT_TRUE(irq14_.level);
    uint8_t s = bm_in(bm::kStatus);
    EXPECT_TRUE(s & bm::kStError);
    EXPECT_TRUE(s & bm::kStInterrupt);
    EXPECT_FALSE(s & bm::kStActive);
    EXPECT_EQ(in(reg::kStatus), ata::st::kDrdy | ata::st::kErr);
    EXPECT_EQ(in(reg::kError), ata::err::kAbrt);
    bm_out(bm::kCommand, 0);
  }
  // A table that never ends: 8192 tiny entries without EOT, then the walk stops.
  for (uint32_t i = 0; i < bm::kMaxPrdEntries; ++i) {
    ram_.set<uint32_t>(prdt_ + 8 * i, static_cast<uint32_t>(buf));
    ram_.set<uint32_t>(prdt_ + 8 * i + 4, 2);
  }
  bm_out(bm::kCommand, 0);
  command28(ata::op::kWriteDma, 0, 0);  // 256 sectors = 128 KiB > 8192 * 2 bytes
  bm_out(bm::kCommand, bm::kCmdStart);
  run();
  EXPECT_TRUE(bm_in(bm::kStatus) & bm::kStError);
  EXPECT_EQ(in(reg::kError), ata::err::kAbrt);
  // PRD table pointer outside RAM.
  bm_out(bm::kCommand, 0);
  bm_out(bm::kStatus, bm::kStError | bm::kStInterrupt);
  bm_out32(bm::kPrdTable, 0xFFFFFFF0u);
  command28(ata::op::kReadDma, 0, 1);
  bm_out(bm::kCommand, bm::kCmdToMemory | bm::kCmdStart);
  run();
  EXPECT_TRUE(bm_in(bm::kStatus) & bm::kStError);
  // Out-of-range LBA never reaches the engine.
  bm_out(bm::kCommand, 0);
  command28(ata::op::kReadDma, kDiskSize / 512 - 1, 2);
  EXPECT_EQ(in(reg::kError), ata::err::kIdnf);
  // And the channel still works.
  dma(ata::op::kReadDma, 1, 1, true, {{buf, 512, true}});
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(guest(buf, 512), file_pattern(1, 1));
}

TEST_F(IdeTest, BusMasterDisabledDefersDma) {
  uint64_t buf = ram_.alloc(512, 512);
  cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace, 2);
  dma(ata::op::kReadDma, 4, 1, true, {{buf, 512, true}});
  run();
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  EXPECT_FALSE(irq14_.level);
  cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster, 2);
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(guest(buf, 512), file_pattern(4, 1));
  // Completion while bus mastering is off: parked, then delivered.
  dma(ata::op::kReadDma, 5, 1, true, {{buf, 512, true}});
  io_.run();
  cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace, 2);
  disk_->wait_completions();
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster, 2);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_TRUE(bm_in(bm::kStatus) & bm::kStInterrupt);
}

TEST_F(IdeTest, SoftResetDuringDmaThenNewCommand) {
  uint64_t buf = ram_.alloc(4096, 512);
  dma(ata::op::kReadDma, 0, 8, true, {{buf, 4096, true}});
  io_.run();
  EXPECT_TRUE(dev_->busy(0));
  control(ctl::kSrst);
  control(0);
  EXPECT_EQ(alt(), ata::st::kReady);
  EXPECT_FALSE(bm_in(bm::kStatus) & bm::kStActive);
  // Issued while the aborted read is still in the backend: it waits, then runs.
  out(reg::kDevice, 0xA0);
  out(reg::kStatus, ata::op::kIdentifyDevice);
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady | ata::st::kDrq);
  auto page = read_sector_pio();
  EXPECT_EQ(page[510], 0xA5);
}

// Found by tests/fuzz/ide_fuzzer. A command written while an aborted request is still in the
// backend waits for it; it belongs to the device it was written to. It used to run on whatever
// device was selected when the old request came back: with the (absent) slave selected by then
// it was dropped and the master stayed BSY for good.
TEST_F(IdeTest, DeferredCommandRunsOnTheDeviceItWasWrittenTo) {
  uint64_t buf = ram_.alloc(4096, 512);
  dma(ata::op::kReadDma, 0, 8, true, {{buf, 4096, true}});
  io_.run();
  EXPECT_TRUE(dev_->busy(0));
  control(ctl::kSrst);
  control(0);
  out(reg::kDevice, 0xA0);
  out(reg::kStatus, ata::op::kIdentifyDevice);  // deferred behind the aborted read
  EXPECT_EQ(alt() & ata::st::kBsy, ata::st::kBsy);
  out(reg::kDevice, 0xB0);  // the host looks at the (absent) slave meanwhile
  run();
  out(reg::kDevice, 0xA0);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady | ata::st::kDrq);
  auto page = read_sector_pio();
  EXPECT_EQ(page[510], 0xA5);
}

// BMIDE as a machine reaches it: BAR 4 placed by the PCI bus and routed through its I/O window,
// which honours the I/O enable bit.
TEST_F(IdeTest, BmideThroughThePciBusHonoursIoEnable) {
  pci::PciBus bus;
  bus.add(std::shared_ptr<IdeController>(dev_.get(), [](IdeController*) {}));  // dev_ owns it
  pci::BarAllocator memory(pci::kMmio32WindowStart, pci::kMmio32WindowEnd);
  pci::BarAllocator ports(pci::kIoBarStart, pci::kIoWindowEnd);
  bus.assign_bars(memory, ports);
  ASSERT_EQ(dev_->config_space().bar_address(IdeController::kBmideBar), pci::kIoBarStart);
  pci::PciIoWindow window(bus, pci::kIoWindowStart);
  const uint64_t prd_table = pci::kIoBarStart + 4 - pci::kIoWindowStart;
  window.write(prd_table, std::span<const uint8_t>(std::array<uint8_t, 4>{0x10, 0x20, 0, 0}.data(), 4));
  uint8_t b[4] = {};
  window.read(prd_table, std::span(b, 4));
  EXPECT_EQ(b[0], 0x10);
  EXPECT_EQ(b[1], 0x20);
  uint8_t command[2] = {pci::cmd::kBusMaster, 0};
  bus.config_write(0x8000'0000u | 1u << 11 | pci::reg::kCommand, 0, std::span<const uint8_t>(command, 2));
  window.read(prd_table, std::span(b, 4));
  EXPECT_EQ(b[0], 0xFF);
}

TEST_F(IdeTest, SecondaryChannelWithDisk) {
  dev_.reset();
  dev_ = std::make_unique<IdeController>(
      ram_.memory, std::array<IdeDisk, 4>{IdeDisk{}, IdeDisk{}, IdeDisk{}, IdeDisk{disk_->backend.get(), {}}});
  dev_->set_io_thread_hook(&io_);
  dev_->connect_channel_irq(1, &irq15_);
  EXPECT_EQ(in(reg::kStatus, 0), 0x7F);
  out(reg::kDevice, 0xA0, 1);
  EXPECT_EQ(in(reg::kStatus, 1), 0x00);  // master absent, slave present
  out(reg::kDevice, 0xB0, 1);
  EXPECT_EQ(in(reg::kStatus, 1), ata::st::kReady);
  out(reg::kStatus, ata::op::kIdleImmediate, 1);
  EXPECT_TRUE(irq15_.level);
  EXPECT_FALSE(irq14_.level);
}

// Found by tests/fuzz/ide_fuzzer. A channel runs one command at a time. A command written for
// the other device while the selected one still has a command in progress (the host must wait;
// here a DMA read waiting for the bus master) used to replace the channel's command: the first
// device then stayed BSY with nothing in flight until a reset. It is ignored now, like any
// command written while the channel is busy.
TEST_F(IdeTest, CommandForTheOtherDeviceWhileOneIsInProgressIsIgnored) {
  TestDisk slave(kDiskSize);
  with_slave(slave);
  uint64_t a = ram_.alloc(512, 512);
  set_prdt({{a, 512, true}});
  bm_out(bm::kCommand, bm::kCmdToMemory);
  command28(ata::op::kReadDma, 5, 1);  // master: BSY until the bus master starts
  EXPECT_EQ(alt(), ata::st::kBsy | ata::st::kDrdy);
  out(reg::kDevice, 0xF0);  // the host selects the slave anyway
  EXPECT_EQ(alt(), ata::st::kReady);
  out(reg::kStatus, ata::op::kFlushCache);
  EXPECT_EQ(io_.posts, 0u);  // ignored
  out(reg::kDevice, 0xE0);
  bm_out(bm::kCommand, bm::kCmdToMemory | bm::kCmdStart);
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);  // the master's read finished
  EXPECT_EQ(guest(a, 512), file_pattern(5, 1));
  dev_.reset();  // before `slave` goes away
}

// The same rule for a command waiting behind an aborted request: a second one, for the other
// device, is ignored rather than replacing the first (which left the master BSY for good).
TEST_F(IdeTest, CommandForTheOtherDeviceWhileOneWaitsIsIgnored) {
  TestDisk slave(kDiskSize);
  with_slave(slave);
  uint64_t buf = ram_.alloc(4096, 512);
  dma(ata::op::kReadDma, 0, 8, true, {{buf, 4096, true}});
  io_.run();
  control(ctl::kSrst);
  control(0);
  out(reg::kDevice, 0xA0);
  out(reg::kStatus, ata::op::kIdentifyDevice);  // waits for the aborted read
  out(reg::kDevice, 0xB0);
  out(reg::kStatus, ata::op::kFlushCache);  // ignored
  EXPECT_EQ(alt(), ata::st::kReady);
  run();
  out(reg::kDevice, 0xA0);
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady | ata::st::kDrq);  // the master's IDENTIFY ran
  EXPECT_EQ(read_sector_pio()[510], 0xA5);
  dev_.reset();  // before `slave` goes away
}

TEST_F(IdeTest, RandomRegisterTrafficNeverCrashes) {
  std::mt19937_64 rng(99);
  uint64_t buf = ram_.alloc(0x20000, 512);
  static const uint8_t cmds[] = {0x20, 0x24, 0x30, 0x34, 0xC8, 0xCA, 0x25, 0x35, 0xEC, 0xE7, 0xEA,
                                 0xEF, 0x90, 0xE5, 0x40, 0x42, 0x3D, 0x2F, 0x00, 0xFF};
  for (int round = 0; round < 2000; ++round) {
    switch (rng() % 9) {
      case 0:
        out(static_cast<uint32_t>(1 + rng() % 6), static_cast<uint8_t>(rng()));
        break;
      case 1:
        out(reg::kDevice, static_cast<uint8_t>(0xE0 | (rng() % 2 ? 0x10 : 0)));
        out(reg::kStatus, cmds[rng() % sizeof cmds]);
        break;
      case 2:
        for (int i = 0; i < static_cast<int>(rng() % 300); ++i) in16();
        break;
      case 3:
        for (int i = 0; i < static_cast<int>(rng() % 300); ++i) out16(static_cast<uint16_t>(rng()));
        break;
      case 4: {
        for (int i = 0; i < 16; ++i) {
          ram_.set<uint32_t>(prdt_ + 8 * i, rng() % 4 ? static_cast<uint32_t>(buf + (rng() % 0x1F000)) & ~1u
                                                      : static_cast<uint32_t>(rng()));
          ram_.set<uint32_t>(prdt_ + 8 * i + 4, static_cast<uint32_t>(rng()) & (0x8000FFFFu));
        }
        bm_out32(bm::kPrdTable, rng() % 8 ? static_cast<uint32_t>(prdt_) : static_cast<uint32_t>(rng()));
        break;
      }
      case 5:
        bm_out(bm::kCommand, static_cast<uint8_t>(rng()));
        bm_out(bm::kStatus, static_cast<uint8_t>(rng()));
        break;
      case 6:
        control(static_cast<uint8_t>(rng() % 2 ? ctl::kSrst : 0));
        control(0);
        break;
      case 7:
        cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | (rng() % 3 ? pci::cmd::kBusMaster : 0), 2);
        break;
      case 8:
        run();
        break;
    }
    in(static_cast<uint32_t>(1 + rng() % 7));
  }
  cfg_write(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster, 2);
  run();
  control(ctl::kSrst);
  control(0);
  run();
  bm_out(bm::kCommand, 0);
  dma(ata::op::kReadDma, 2, 1, true, {{buf, 512, true}});
  run();
  EXPECT_EQ(in(reg::kStatus), ata::st::kReady);
  EXPECT_EQ(guest(buf, 512), file_pattern(2, 1));
}

}  // namespace
}  // namespace devices::ide
