// AHCI controller driven like the Linux ahci driver would: ABAR register accesses, command
// lists / command tables / PRDTs built in a real vmm::GuestMemory, data in a temp file behind a
// real block::Backend, the I/O thread played by FakeIoThread + the backend's completion fd.
#include <poll.h>
#include <unistd.h>

#include <random>
#include <set>

#include <gtest/gtest.h>

#include "block/null_driver.h"
#include "devices/ahci/ahci.h"
#include "ata_test_util.h"

namespace devices::ahci {
namespace {

using testing::FakeIoThread;
using testing::FakeLine;
using testing::FakeMsi;
using testing::TestDisk;
using testing::TestRam;
using testing::pattern;

constexpr uint64_t kDiskSize = 1 << 20;  // 2048 sectors
constexpr uint32_t kAllIrqs = 0xFDC000FF;

struct Prd {
  uint64_t address;
  uint32_t length;
  bool interrupt = false;
};

struct Fis {
  uint8_t command = 0;
  uint16_t features = 0;
  uint16_t count = 0;
  uint64_t lba = 0;
  uint8_t device = 0x40;
};

class AhciTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open(bool writeback = true, bool read_only = false) {
    dev_.reset();
    disk_ = std::make_unique<TestDisk>(kDiskSize, writeback, read_only);
    dev_ = std::make_unique<AhciController>(
        ram_.memory, std::vector<AhciDisk>{{disk_->backend.get(), {}}, {nullptr, {}}});
    dev_->set_msi_sender(&msi_);
    dev_->set_io_thread_hook(&io_);
    dev_->connect_intx(&line_, 10);
    cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
    clb_ = ram_.alloc(1024, 1024);
    fb_ = ram_.alloc(256, 256);
    for (int i = 0; i < 32; ++i) tables_[i] = ram_.alloc(0x80 + 16 * 64, 128);
  }

  uint32_t rd(uint32_t off) {
    uint8_t b[4];
    dev_->bar_read(AhciController::kAbarIndex, off, std::span(b, 4));
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
  void wr(uint32_t off, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    dev_->bar_write(AhciController::kAbarIndex, off, std::span<const uint8_t>(b, 4));
  }
  uint32_t prd(uint32_t reg, int port = 0) { return rd(kPortBase + kPortStride * port + reg); }
  void pwr(uint32_t reg, uint32_t v, int port = 0) { wr(kPortBase + kPortStride * port + reg, v); }
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
  uint8_t msi_cap() {
    uint8_t at = static_cast<uint8_t>(cfg_read(pci::reg::kCapabilityPointer, 1));
    while (at) {
      if (cfg_read(at, 1) == pci::cap_id::kMsi) return at;
      at = static_cast<uint8_t>(cfg_read(at + 1, 1));
    }
    return 0;
  }
  void enable_msi() {
    uint8_t c = msi_cap();
    cfg_write(c + 4, 0xFEE0'1000, 4);
    cfg_write(c + 8, 0, 4);
    cfg_write(c + 12, 0x4321, 2);
    cfg_write(c + 2, 1, 2);
  }

  // What Linux does at probe: HBA reset, AHCI enable, port memory, FRE, COMRESET, ST, IE.
  void start_port() {
    wr(hba::kGhc, hba::kGhcHr);
    wr(hba::kGhc, hba::kGhcAe);
    pwr(px::kClb, static_cast<uint32_t>(clb_));
    pwr(px::kClbu, 0);
    pwr(px::kFb, static_cast<uint32_t>(fb_));
    pwr(px::kFbu, 0);
    pwr(px::kCmd, pcmd::kFre | pcmd::kSud | pcmd::kPod);
    pwr(px::kSctl, 1);
    pwr(px::kSctl, 0);
    pwr(px::kSerr, 0xFFFFFFFF);
    pwr(px::kIs, 0xFFFFFFFF);
    pwr(px::kCmd, pcmd::kFre | pcmd::kSud | pcmd::kPod | pcmd::kSt);
    pwr(px::kIe, kAllIrqs);
    wr(hba::kGhc, hba::kGhcAe | hba::kGhcIe);
  }

  // Writes command header `slot` and its table; does not issue it.
  void build(int slot, const Fis& f, const std::vector<Prd>& prds, bool write = false, uint32_t cfl = 5,
             uint8_t fis_type = fis::kH2dRegister, uint8_t c_bit = fis::kH2dCommandBit) {
    uint64_t t = tables_[slot];
    std::memset(ram_.ptr(t, 0x80 + 16 * 64), 0, 0x80 + 16 * 64);
    uint8_t* c = ram_.ptr(t, 20);
    c[0] = fis_type;
    c[1] = c_bit;
    c[2] = f.command;
    c[3] = f.features & 0xFF;
    c[4] = f.lba & 0xFF;
    c[5] = (f.lba >> 8) & 0xFF;
    c[6] = (f.lba >> 16) & 0xFF;
    c[7] = f.device;
    c[8] = (f.lba >> 24) & 0xFF;
    c[9] = (f.lba >> 32) & 0xFF;
    c[10] = (f.lba >> 40) & 0xFF;
    c[11] = f.features >> 8;
    c[12] = f.count & 0xFF;
    c[13] = f.count >> 8;
    for (size_t i = 0; i < prds.size(); ++i) {
      uint64_t e = t + 0x80 + 16 * i;
      ram_.set<uint32_t>(e, static_cast<uint32_t>(prds[i].address));
      ram_.set<uint32_t>(e + 4, static_cast<uint32_t>(prds[i].address >> 32));
      ram_.set<uint32_t>(e + 12, (prds[i].length - 1) | (prds[i].interrupt ? kPrdInterrupt : 0));
    }
    uint64_t h = clb_ + 32 * slot;
    ram_.set<uint32_t>(h, cfl | (write ? kCmdHeaderWrite : 0) | static_cast<uint32_t>(prds.size()) << 16);
    ram_.set<uint32_t>(h + 4, 0xDEAD);
    ram_.set<uint32_t>(h + 8, static_cast<uint32_t>(t));
    ram_.set<uint32_t>(h + 12, 0);
  }
  void issue(int slot) { pwr(px::kCi, 1u << slot); }
  void run() { testing::pump(io_, *disk_); }
  // Issues a non-queued command in slot 0 and runs it to completion.
  void exec(const Fis& f, const std::vector<Prd>& prds = {}, bool write = false) {
    build(0, f, prds, write);
    issue(0);
    run();
  }
  // Issues READ FPDMA QUEUED of 4 KiB in tags 0..tags-1 (sector 8 * tag), PxSACT then PxCI,
  // without running the I/O thread; returns the tag mask.
  uint32_t issue_ncq_reads(int tags) {
    uint32_t all = 0;
    for (int t = 0; t < tags; ++t) {
      uint64_t buf = ram_.alloc(4096, 512);
      build(t, {ata::op::kReadFpdmaQueued, 8, static_cast<uint16_t>(t << 3), uint64_t{8} * t, 0x40},
            {{buf, 4096}});
      all |= 1u << t;
    }
    pwr(px::kSact, all);
    pwr(px::kCi, all);
    return all;
  }
  uint32_t prdbc(int slot) { return ram_.get<uint32_t>(clb_ + 32 * slot + 4); }
  uint8_t tfd_status() { return prd(px::kTfd) & 0xFF; }
  uint8_t tfd_error() { return (prd(px::kTfd) >> 8) & 0xFF; }
  void restart() {  // what Linux EH does after a task file error
    pwr(px::kCmd, pcmd::kFre);
    pwr(px::kIs, 0xFFFFFFFF);
    pwr(px::kCmd, pcmd::kFre | pcmd::kSt);
  }
  std::vector<uint8_t> guest(uint64_t a, size_t n) {
    auto* p = ram_.ptr(a, n);
    return {p, p + n};
  }
  // A failed non-queued command (slot 0, as exec() issues it) stays issued until software
  // clears PxCMD.ST.
  void expect_abort(uint8_t error = ata::err::kAbrt, uint32_t ci = 1) {
    EXPECT_TRUE(prd(px::kIs) & pis::kTfes);
    EXPECT_EQ(tfd_status(), ata::st::kDrdy | ata::st::kErr);
    EXPECT_EQ(tfd_error(), error);
    EXPECT_EQ(prd(px::kCi), ci);
    EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxD2hRegister), fis::kD2hRegister);
    EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxD2hRegister + 2), ata::st::kDrdy | ata::st::kErr);
    EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxD2hRegister + 3), error);
  }

  // Rebuilds the controller with a NullDriver disk on port 0 (no file, no threads).
  block::Backend& open_null() {
    dev_.reset();
    null_backend_ = std::make_unique<block::Backend>(std::make_unique<block::NullDriver>(),
                                                     block::BackendPolicy{}, kDiskSize);
    dev_ = std::make_unique<AhciController>(ram_.memory, std::vector<AhciDisk>{{null_backend_.get(), {}}});
    dev_->set_msi_sender(&msi_);
    dev_->set_io_thread_hook(&io_);
    cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
    return *null_backend_;
  }

  TestRam ram_;
  FakeMsi msi_;
  FakeLine line_;
  FakeIoThread io_;
  std::unique_ptr<TestDisk> disk_;
  std::unique_ptr<block::Backend> null_backend_;  // before dev_: outlives the controller
  std::unique_ptr<AhciController> dev_;
  uint64_t clb_ = 0, fb_ = 0;
  uint64_t tables_[32] = {};
};

TEST_F(AhciTest, PciIdentity) {
  EXPECT_EQ(cfg_read(pci::reg::kVendorId, 2), 0x8086u);
  EXPECT_EQ(cfg_read(pci::reg::kDeviceId, 2), 0x2922u);
  EXPECT_EQ(cfg_read(pci::reg::kClassCode, 1), 0x01u);
  EXPECT_EQ(cfg_read(pci::reg::kClassCode + 1, 1), 0x06u);
  EXPECT_EQ(cfg_read(pci::reg::kClassCode + 2, 1), 0x01u);
  EXPECT_EQ(cfg_read(pci::reg::kInterruptPin, 1), 1u);
  EXPECT_EQ(cfg_read(pci::reg::kInterruptLine, 1), 10u);
  // BAR 5: 32-bit memory, 4 KiB.
  cfg_write(pci::reg::kBar0 + 20, 0xFFFFFFFF, 4);
  EXPECT_EQ(cfg_read(pci::reg::kBar0 + 20, 4), 0xFFFFF000u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(cfg_read(pci::reg::kBar0 + 4 * i, 4), 0u) << i;
  uint8_t c = msi_cap();
  ASSERT_NE(c, 0);
  EXPECT_EQ(cfg_read(c + 2, 2) & 0x80, 0x80u);  // 64-bit capable, one vector
  EXPECT_EQ(cfg_read(c + 2, 2) & 0x0E, 0u);
}

TEST_F(AhciTest, GenericHostControl) {
  uint32_t cap = rd(hba::kCap);
  EXPECT_TRUE(cap & hba::kCapS64a);
  EXPECT_TRUE(cap & hba::kCapSncq);
  EXPECT_TRUE(cap & hba::kCapSam);
  EXPECT_EQ((cap >> 8) & 0x1F, 31u);  // 32 command slots
  EXPECT_EQ(cap & 0x1F, 1u);          // 2 ports
  EXPECT_EQ(rd(hba::kPi), 0x3u);
  EXPECT_EQ(rd(hba::kVs), 0x00010300u);
  EXPECT_EQ(rd(hba::kGhc), hba::kGhcAe);
  wr(hba::kGhc, hba::kGhcIe);  // AE stays set (SAM)
  EXPECT_EQ(rd(hba::kGhc), hba::kGhcAe | hba::kGhcIe);
  EXPECT_EQ(rd(hba::kCap2), 0u);
  EXPECT_EQ(rd(hba::kCccCtl), 0u);
  EXPECT_EQ(rd(0xFFC), 0u);
  // Byte and word reads of CAP.
  uint8_t b[2];
  dev_->bar_read(AhciController::kAbarIndex, hba::kVs + 1, std::span(b, 2));
  EXPECT_EQ(b[0], 0x03);
  EXPECT_EQ(b[1], 0x01);
}

TEST_F(AhciTest, HbaResetRestoresDefaults) {
  start_port();
  EXPECT_TRUE(prd(px::kCmd) & pcmd::kCr);
  wr(hba::kGhc, hba::kGhcAe | hba::kGhcIe | hba::kGhcHr);
  EXPECT_EQ(rd(hba::kGhc), hba::kGhcAe);  // HR reads back 0 once done, IE cleared
  EXPECT_EQ(prd(px::kCmd) & (pcmd::kSt | pcmd::kCr | pcmd::kFre | pcmd::kFr), 0u);
  EXPECT_EQ(prd(px::kClb), 0u);
  EXPECT_EQ(prd(px::kIe), 0u);
  EXPECT_EQ(prd(px::kSsts), kSstsPresentGen1Active);
  EXPECT_EQ(prd(px::kSig), 0x00000101u);
}

TEST_F(AhciTest, PortRegisters) {
  pwr(px::kClb, 0x12345FFF);
  EXPECT_EQ(prd(px::kClb), 0x12345C00u);  // 1 KiB aligned
  pwr(px::kClbu, 0x1);
  EXPECT_EQ(prd(px::kClbu), 0x1u);
  pwr(px::kFb, 0x123456FF);
  EXPECT_EQ(prd(px::kFb), 0x12345600u);  // 256-byte aligned
  pwr(px::kIe, 0xFFFFFFFF);
  EXPECT_EQ(prd(px::kIe), kAllIrqs);
  pwr(px::kTfd, 0);  // read-only
  EXPECT_EQ(prd(px::kTfd), 0x150u);
  pwr(px::kSig, 0);
  EXPECT_EQ(prd(px::kSig), 0x101u);
  // FRE -> FR, ST -> CR.
  pwr(px::kCmd, pcmd::kFre);
  EXPECT_TRUE(prd(px::kCmd) & pcmd::kFr);
  pwr(px::kCmd, pcmd::kFre | pcmd::kSt);
  EXPECT_TRUE(prd(px::kCmd) & pcmd::kCr);
  pwr(px::kCmd, 0);
  EXPECT_EQ(prd(px::kCmd) & (pcmd::kCr | pcmd::kFr), 0u);
  // CI and SACT cannot be set while ST is clear.
  pwr(px::kCi, 1);
  pwr(px::kSact, 1);
  EXPECT_EQ(prd(px::kCi), 0u);
  EXPECT_EQ(prd(px::kSact), 0u);
  // Empty port: no device.
  EXPECT_EQ(prd(px::kSsts, 1) & 0xF, 0u);
  EXPECT_EQ(prd(px::kTfd, 1), 0x7Fu);
  // Port registers past the implemented ports read as zero.
  EXPECT_EQ(prd(px::kCmd, 3), 0u);
}

TEST_F(AhciTest, ComresetProducesSignatureFis) {
  pwr(px::kFb, static_cast<uint32_t>(fb_));
  pwr(px::kCmd, pcmd::kFre);
  ram_.set<uint8_t>(fb_ + kRxD2hRegister + 2, 0x80);  // Linux pre-fills BSY
  pwr(px::kSctl, 1);
  EXPECT_EQ(prd(px::kSsts) & 0xF, 0u);
  EXPECT_TRUE(prd(px::kTfd) & ata::st::kBsy);
  pwr(px::kSctl, 0);
  EXPECT_EQ(prd(px::kSsts), 0x113u);
  EXPECT_EQ(prd(px::kSig), 0x00000101u);
  EXPECT_EQ(prd(px::kTfd), 0x150u);
  auto f = guest(fb_ + kRxD2hRegister, 20);
  EXPECT_EQ(f[0], fis::kD2hRegister);
  EXPECT_EQ(f[2], ata::st::kReady);
  EXPECT_EQ(f[3], 0x01);
  EXPECT_EQ(f[4], 0x01);  // lba low
  EXPECT_EQ(f[5], 0x00);
  EXPECT_EQ(f[6], 0x00);
  EXPECT_EQ(f[12], 0x01);  // count
}

TEST_F(AhciTest, ComresetWhileRunningAbortsCommands) {
  start_port();
  std::vector<uint8_t> junk(4096, 0xEE);
  uint64_t buf = ram_.alloc(4096, 512);
  build(0, {ata::op::kReadDmaExt, 0, 8, 0}, {{buf, 4096}});
  issue(0);
  io_.run();  // submitted, not completed
  EXPECT_EQ(dev_->busy_slots(0), 1);
  pwr(px::kSctl, 1);  // COMRESET with ST still set (what LP#1878255 fuzzed)
  pwr(px::kSctl, 0);
  EXPECT_EQ(prd(px::kCi), 0u);
  run();
  EXPECT_EQ(dev_->busy_slots(0), 0);
  EXPECT_EQ(prd(px::kIs) & pis::kDhrs, 0u);  // the aborted command reports nothing
}

TEST_F(AhciTest, IdentifyDeviceThroughPrdt) {
  start_port();
  uint64_t buf = ram_.alloc(512, 2);
  std::memset(ram_.ptr(buf, 512), 0xCC, 512);
  // Linux splits nothing here, but a two-entry PRDT must work too.
  exec({ata::op::kIdentifyDevice}, {{buf, 256}, {buf + 256, 256}});
  ata::AtaDrive reference(*disk_->backend, ata::Transport::kAhci);
  auto want = reference.identify_data();
  EXPECT_EQ(guest(buf, 512), std::vector<uint8_t>(want.begin(), want.end()));
  EXPECT_EQ(prd(px::kCi), 0u);
  EXPECT_EQ(prdbc(0), 512u);
  uint32_t is = prd(px::kIs);
  EXPECT_TRUE(is & pis::kPss);
  EXPECT_TRUE(is & pis::kDhrs);
  EXPECT_FALSE(is & pis::kTfes);
  auto pio = guest(fb_ + kRxPioSetup, 20);
  EXPECT_EQ(pio[0], fis::kPioSetup);
  EXPECT_TRUE(pio[1] & fis::kDirectionIn);
  EXPECT_EQ(pio[15], ata::st::kReady);  // E_Status, what Linux reads for PIO-in
  EXPECT_EQ(pio[16] | pio[17] << 8, 512);
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  EXPECT_TRUE(rd(hba::kIs) & 1);
  EXPECT_TRUE(line_.level);  // INTx (MSI off)
}

TEST_F(AhciTest, CommandStartsOnlyOnIoThread) {
  start_port();
  uint64_t buf = ram_.alloc(512, 512);
  build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{buf, 512}});
  size_t posts = io_.posts;
  issue(0);
  // The vCPU-side write queued work for the I/O thread and touched nothing else.
  EXPECT_EQ(io_.posts, posts + 1);
  EXPECT_EQ(disk_->backend->in_flight(), 0u);
  EXPECT_EQ(prd(px::kCi), 1u);
  build(1, {ata::op::kReadDmaExt, 0, 1, 1}, {{buf, 512}});
  issue(1);
  EXPECT_EQ(io_.posts, posts + 1);  // already pending: coalesced
  run();
  EXPECT_EQ(prd(px::kCi), 0u);
}

TEST_F(AhciTest, ReadDmaExtScatterGather) {
  start_port();
  uint64_t a = ram_.alloc(1024, 512), b = ram_.alloc(2048, 512), c = ram_.alloc(4096, 512);
  exec({ata::op::kReadDmaExt, 0, 8, 3}, {{a, 1024}, {b, 2048}, {c, 4096}});  // PRDT longer than needed
  auto want = pattern(kDiskSize, 1);
  auto off = want.begin() + 3 * 512;
  EXPECT_EQ(guest(a, 1024), std::vector<uint8_t>(off, off + 1024));
  EXPECT_EQ(guest(b, 2048), std::vector<uint8_t>(off + 1024, off + 3072));
  EXPECT_EQ(guest(c, 1024), std::vector<uint8_t>(off + 3072, off + 4096));
  EXPECT_EQ(prdbc(0), 4096u);
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  EXPECT_TRUE(prd(px::kIs) & pis::kDhrs);
  EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxD2hRegister + 2), ata::st::kReady);
}

TEST_F(AhciTest, WriteDmaAndPioAndLba28) {
  start_port();
  uint64_t buf = ram_.alloc(4096, 512);
  auto data = pattern(4096, 77);
  std::memcpy(ram_.ptr(buf, 4096), data.data(), 4096);
  exec({ata::op::kWriteDmaExt, 0, 2, 10}, {{buf, 1024}}, true);
  EXPECT_EQ(disk_->file_bytes(10 * 512, 1024), std::vector<uint8_t>(data.begin(), data.begin() + 1024));
  exec({ata::op::kWriteDma, 0, 1, 20}, {{buf + 1024, 512}}, true);
  EXPECT_EQ(disk_->file_bytes(20 * 512, 512), std::vector<uint8_t>(data.begin() + 1024, data.begin() + 1536));
  exec({ata::op::kWriteSectorsExt, 0, 1, 30}, {{buf + 2048, 512}}, true);
  EXPECT_EQ(disk_->file_bytes(30 * 512, 512), std::vector<uint8_t>(data.begin() + 2048, data.begin() + 2560));
  exec({ata::op::kWriteDmaFuaExt, 0, 1, 31}, {{buf + 2560, 512}}, true);
  EXPECT_EQ(disk_->file_bytes(31 * 512, 512), std::vector<uint8_t>(data.begin() + 2560, data.begin() + 3072));
  uint64_t rb = ram_.alloc(512, 512);
  exec({ata::op::kReadSectors, 0, 1, 30}, {{rb, 512}});
  EXPECT_EQ(guest(rb, 512), std::vector<uint8_t>(data.begin() + 2048, data.begin() + 2560));
  EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxPioSetup + 15), ata::st::kReady);
  exec({ata::op::kReadDma, 0, 1, 20}, {{rb, 512}});
  EXPECT_EQ(guest(rb, 512), std::vector<uint8_t>(data.begin() + 1024, data.begin() + 1536));
  EXPECT_EQ(tfd_status(), ata::st::kReady);
}

// readonly=on: a non-queued write must fail (a Linux guest saw such writes "succeed").
TEST_F(AhciTest, ReadOnlyDiskAbortsNonQueuedWrites) {
  open(true, true);
  start_port();
  uint64_t buf = ram_.alloc(4096, 512);
  auto before = disk_->file_bytes(8 * 512, 4096);
  exec({ata::op::kWriteDmaExt, 0, 8, 8}, {{buf, 4096}}, true);
  expect_abort();
  EXPECT_EQ(disk_->file_bytes(8 * 512, 4096), before);
}

TEST_F(AhciTest, FlushVerifyPowerAndNonData) {
  start_port();
  exec({ata::op::kFlushCache});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  EXPECT_FALSE(prd(px::kIs) & pis::kTfes);
  exec({ata::op::kFlushCacheExt});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  exec({ata::op::kReadVerifySectorsExt, 0, 4, 8});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  exec({ata::op::kIdleImmediate});
  exec({ata::op::kStandbyImmediate});
  exec({ata::op::kCheckPowerMode});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  EXPECT_FALSE(prd(px::kIs) & pis::kTfes);
  EXPECT_EQ(prd(px::kCi), 0u);
}

TEST_F(AhciTest, SetFeaturesWriteCacheReachesBackend) {
  start_port();
  exec({ata::op::kSetFeatures, ata::feature::kDisableWriteCache});
  EXPECT_FALSE(disk_->backend->write_cache_enabled());
  uint64_t buf = ram_.alloc(512, 2);
  exec({ata::op::kIdentifyDevice}, {{buf, 512}});
  EXPECT_FALSE(ram_.get<uint16_t>(buf + 2 * 85) & (1 << 5));
  exec({ata::op::kSetFeatures, ata::feature::kEnableWriteCache});
  EXPECT_TRUE(disk_->backend->write_cache_enabled());
  exec({ata::op::kSetFeatures, ata::feature::kSetTransferMode, 0x45});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
}

TEST_F(AhciTest, UnsupportedCommandAbortsAndHaltsUntilRestart) {
  start_port();
  exec({ata::op::kReadLogExt, 0, 1, 0x00});  // log directory: not implemented
  expect_abort();
  EXPECT_EQ(prdbc(0), 0u);
  // Halted: a new command waits until software restarts the port.
  uint64_t buf = ram_.alloc(512, 2);
  build(1, {ata::op::kIdentifyDevice}, {{buf, 512}});
  issue(1);
  run();
  EXPECT_EQ(prd(px::kCi), 3u);  // the failed slot 0 stays issued, slot 1 waits
  restart();
  EXPECT_EQ(prd(px::kCi), 0u);  // clearing ST dropped it
  exec({ata::op::kIdentifyDevice}, {{buf, 512}});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
}

TEST_F(AhciTest, NcqManyTagsInFlight) {
  start_port();
  constexpr int kTags = 32;
  std::vector<uint64_t> bufs(kTags);
  auto data = pattern(kTags * 4096, 9);
  uint32_t all = 0;
  for (int t = 0; t < kTags; ++t) {
    bufs[t] = ram_.alloc(4096, 512);
    bool write = t % 2 == 1;
    uint64_t lba = 8 * t;
    if (write) std::memcpy(ram_.ptr(bufs[t], 4096), data.data() + 4096 * t, 4096);
    build(t, {static_cast<uint8_t>(write ? ata::op::kWriteFpdmaQueued : ata::op::kReadFpdmaQueued), 8,
              static_cast<uint16_t>(t << 3), lba, 0x40},
          {{bufs[t], 2048}, {bufs[t] + 2048, 2048}}, write);
    all |= 1u << t;
  }
  pwr(px::kSact, all);
  pwr(px::kCi, all);
  EXPECT_EQ(prd(px::kSact), all);
  io_.run();  // all 32 accepted and in the backend at once
  EXPECT_EQ(dev_->busy_slots(0), kTags);
  EXPECT_EQ(prd(px::kCi), 0u);  // accepted: CI clears, SACT stays
  EXPECT_EQ(prd(px::kSact), all);
  run();
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_TRUE(prd(px::kIs) & pis::kSdbs);
  EXPECT_FALSE(prd(px::kIs) & pis::kTfes);
  EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxSetDeviceBits), fis::kSetDeviceBits);
  auto file = pattern(kDiskSize, 1);
  for (int t = 0; t < kTags; ++t) {
    if (t % 2 == 1) {
      EXPECT_EQ(disk_->file_bytes(8 * 512 * t, 4096), std::vector<uint8_t>(data.begin() + 4096 * t, data.begin() + 4096 * (t + 1)));
    } else {
      EXPECT_EQ(guest(bufs[t], 4096), std::vector<uint8_t>(file.begin() + 4096 * t, file.begin() + 4096 * (t + 1)));
    }
  }
}

// A backend that completes synchronously (NullDriver) is reaped inside process_port(): every
// NCQ command finishes in the one posted callback, the completions' re-kicks rescan in place
// instead of posting again, and the completion eventfd is never written.
TEST_F(AhciTest, SynchronousCompletionsReapedWithoutTheEventfdOrAnotherPost) {
  block::Backend& backend = open_null();
  start_port();
  constexpr int kTags = 4;
  issue_ncq_reads(kTags);
  EXPECT_EQ(io_.run(), 1u);
  EXPECT_EQ(io_.pending(), 0u);
  EXPECT_EQ(dev_->busy_slots(0), 0);
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_EQ(prd(px::kCi), 0u);
  EXPECT_TRUE(prd(px::kIs) & pis::kSdbs);
  EXPECT_EQ(backend.in_flight(), 0u);
  pollfd p{backend.completion_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST_F(AhciTest, NcqErrors) {
  start_port();
  uint64_t buf = ram_.alloc(4096, 512);
  // Tag that does not match the slot.
  build(3, {ata::op::kReadFpdmaQueued, 1, 5 << 3, 0}, {{buf, 512}});
  pwr(px::kSact, 1 << 3);
  issue(3);
  run();
  EXPECT_TRUE(prd(px::kIs) & pis::kTfes);
  EXPECT_EQ(tfd_error(), ata::err::kAbrt);
  restart();
  // SACT bit not set first.
  build(4, {ata::op::kReadFpdmaQueued, 1, 4 << 3, 0}, {{buf, 512}});
  issue(4);
  run();
  EXPECT_TRUE(prd(px::kIs) & pis::kTfes);
  restart();
  // Out of range LBA: IDNF through a Set Device Bits FIS, SACT bit left for error handling.
  build(5, {ata::op::kReadFpdmaQueued, 8, 5 << 3, kDiskSize / 512 - 4}, {{buf, 4096}});
  pwr(px::kSact, 1 << 5);
  issue(5);
  run();
  EXPECT_TRUE(prd(px::kIs) & pis::kTfes);
  EXPECT_EQ(tfd_error(), ata::err::kIdnf);
  EXPECT_EQ(ram_.get<uint8_t>(fb_ + kRxSetDeviceBits + 3), ata::err::kIdnf);
  restart();
  EXPECT_EQ(prd(px::kSact), 0u);
  // Linux's error handler then reads the NCQ Command Error log to find the failed tag.
  uint64_t log = ram_.alloc(512, 2);
  exec({ata::op::kReadLogExt, 0, 1, 0x10}, {{log, 512}});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  EXPECT_EQ(ram_.get<uint8_t>(log), 5);  // tag 5, NQ clear
  EXPECT_EQ(ram_.get<uint8_t>(log + 3), ata::err::kIdnf);
  exec({ata::op::kReadLogExt, 0, 1, 0x10}, {{log, 512}});
  EXPECT_EQ(ram_.get<uint8_t>(log), 0x80);  // cleared by the first read
  // And the port works again.
  build(6, {ata::op::kReadFpdmaQueued, 1, 6 << 3, 0}, {{buf, 512}});
  pwr(px::kSact, 1 << 6);
  issue(6);
  run();
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_FALSE(prd(px::kIs) & pis::kTfes);
}

// Found by tests/fuzz/ahci_fuzzer. A queued command that completes after the port stopped on
// a task file error (here the second of two queued reads fails its range check while the first
// is still in the backend) must not wipe the error from PxTFD: the port stays stopped with
// STS.ERR until software restarts it (AHCI 1.3 section 6.2.2), and that is what error handling
// reads. The successful command is still reported through PxSACT.
TEST_F(AhciTest, NcqCompletionAfterTaskFileErrorKeepsTheError) {
  start_port();
  uint64_t buf = ram_.alloc(8192, 512);
  build(0, {ata::op::kReadFpdmaQueued, 8, 0 << 3, 0}, {{buf, 4096}});
  build(1, {ata::op::kReadFpdmaQueued, 8, 1 << 3, kDiskSize / 512 - 4}, {{buf + 4096, 4096}});
  pwr(px::kSact, 3);
  issue(0);
  io_.run();  // slot 0 is in the backend
  EXPECT_EQ(dev_->busy_slots(0), 1);
  issue(1);
  io_.run();  // slot 1 fails at once (IDNF): the port halts
  EXPECT_TRUE(prd(px::kIs) & pis::kTfes);
  EXPECT_EQ(tfd_error(), ata::err::kIdnf);
  run();  // slot 0 completes now
  EXPECT_EQ(dev_->busy_slots(0), 0);
  EXPECT_EQ(prd(px::kSact), 2u);  // slot 0 reported done, slot 1 left for error handling
  EXPECT_EQ(tfd_status(), ata::st::kDrdy | ata::st::kErr);
  EXPECT_EQ(tfd_error(), ata::err::kIdnf);
  restart();
  EXPECT_EQ(prd(px::kSact), 0u);
}

TEST_F(AhciTest, HostileCommandStructures) {
  start_port();
  uint64_t buf = ram_.alloc(4096, 512);
  struct Case {
    const char* name;
    std::function<void()> setup;
    uint8_t error;
  };
  std::vector<Case> cases = {
      {"prd outside ram", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{testing::kRamSize - 256, 512}}); }, ata::err::kAbrt},
      {"prd far outside", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{0xFFFF'FFFF'0000ull, 512}}); }, ata::err::kAbrt},
      {"prd total short", [&] { build(0, {ata::op::kReadDmaExt, 0, 2, 0}, {{buf, 512}, {buf + 512, 256}}); }, ata::err::kAbrt},
      {"no prds", [&] { build(0, {ata::op::kWriteDmaExt, 0, 1, 0}, {}, true); }, ata::err::kAbrt},
      {"odd byte count", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{buf, 511}, {buf + 512, 1}}); }, ata::err::kAbrt},
      {"odd address", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{buf + 1, 512}}); }, ata::err::kAbrt},
      {"overlapping read buffers", [&] { build(0, {ata::op::kReadDmaExt, 0, 2, 0}, {{buf, 512}, {buf + 256, 512}}); }, ata::err::kAbrt},
      {"wrong fis type", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{buf, 512}}, false, 5, fis::kD2hRegister); }, ata::err::kAbrt},
      {"control fis (C=0)", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{buf, 512}}, false, 5, fis::kH2dRegister, 0); }, ata::err::kAbrt},
      {"cfl too small", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, 0}, {{buf, 512}}, false, 4); }, ata::err::kAbrt},
      {"cfl zero", [&] { build(0, {ata::op::kIdentifyDevice}, {{buf, 512}}, false, 0); }, ata::err::kAbrt},
      {"lba out of range", [&] { build(0, {ata::op::kReadDmaExt, 0, 1, kDiskSize / 512}, {{buf, 512}}); }, ata::err::kIdnf},
      {"lba wraps", [&] { build(0, {ata::op::kWriteDmaExt, 0, 0, 0xFFFF'FFFF'FFFFull}, {{buf, 512}}, true); }, ata::err::kIdnf},
      {"command table outside ram", [&] {
         build(0, {ata::op::kIdentifyDevice}, {{buf, 512}});
         ram_.set<uint32_t>(clb_ + 8, 0xFFFF'FF80u);
       }, ata::err::kAbrt},
      {"prdt runs off ram", [&] {
         build(0, {ata::op::kReadDmaExt, 0, 8, 0}, {{buf, 512}});
         ram_.set<uint32_t>(clb_, 5 | 0xFFFFu << 16);  // 65535 entries, most of them zero
       }, ata::err::kAbrt},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    c.setup();
    issue(0);
    run();
    expect_abort(c.error);
    restart();
  }
  // Command list outside RAM: no header can be read at all.
  pwr(px::kCmd, pcmd::kFre);
  pwr(px::kClb, 0xFFFF'FC00u);
  pwr(px::kCmd, pcmd::kFre | pcmd::kSt);
  issue(7);
  run();
  EXPECT_TRUE(prd(px::kIs) & pis::kTfes);
  EXPECT_EQ(prd(px::kCi), 1u << 7);  // failed: stays issued until ST is cleared
  // FIS area outside RAM: the result still shows in the registers.
  restart();
  pwr(px::kCmd, pcmd::kFre);
  pwr(px::kClb, static_cast<uint32_t>(clb_));
  pwr(px::kFb, 0xFFFF'FF00u);
  pwr(px::kCmd, pcmd::kFre | pcmd::kSt);
  exec({ata::op::kReadDmaExt, 0, 1, 0}, {{buf, 512}});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
  EXPECT_EQ(prd(px::kCi), 0u);
}

TEST_F(AhciTest, PrdInterruptBitSetsDps) {
  start_port();
  uint64_t buf = ram_.alloc(1024, 512);
  exec({ata::op::kReadDmaExt, 0, 2, 0}, {{buf, 512}, {buf + 512, 512, true}});
  EXPECT_TRUE(prd(px::kIs) & pis::kDps);
}

TEST_F(AhciTest, IntxRaiseAndClear) {
  start_port();
  wr(hba::kGhc, hba::kGhcAe);  // IE off: no interrupt
  exec({ata::op::kFlushCache});
  EXPECT_TRUE(prd(px::kIs) & pis::kDhrs);
  EXPECT_FALSE(line_.level);
  wr(hba::kGhc, hba::kGhcAe | hba::kGhcIe);
  EXPECT_TRUE(line_.level);
  EXPECT_EQ(rd(hba::kIs), 1u);
  // Clearing IS alone re-asserts while PxIS is pending; PxIS then IS deasserts.
  wr(hba::kIs, 1);
  EXPECT_TRUE(line_.level);
  pwr(px::kIs, 0xFFFFFFFF);
  wr(hba::kIs, 1);
  EXPECT_FALSE(line_.level);
  EXPECT_EQ(rd(hba::kIs), 0u);
  // A masked event (PxIE clear) leaves the line alone.
  pwr(px::kIe, 0);
  exec({ata::op::kFlushCache});
  EXPECT_FALSE(line_.level);
  // Enabling the bit later raises it.
  pwr(px::kIe, pis::kDhrs);
  EXPECT_TRUE(line_.level);
  // INTx disable in the PCI command register masks the line.
  cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster | pci::cmd::kIntxDisable, 2);
  EXPECT_FALSE(line_.level);
}

TEST_F(AhciTest, MsiInterrupts) {
  enable_msi();
  start_port();
  exec({ata::op::kFlushCache});
  ASSERT_EQ(msi_.total(), 1u);
  EXPECT_EQ(msi_.sent[0].first, 0xFEE0'1000u);
  EXPECT_EQ(msi_.sent[0].second, 0x4321u);
  EXPECT_FALSE(line_.level);
  exec({ata::op::kFlushCache});  // one message per event, even with PxIS still set
  EXPECT_EQ(msi_.total(), 2u);
  wr(hba::kGhc, hba::kGhcAe);
  exec({ata::op::kFlushCache});
  EXPECT_EQ(msi_.total(), 2u);
}

// What the I/O loop calls when a port's backend signals: every completion it finds goes out
// with one MSI, however many tags that retires (one per delivery round, not per command).
TEST_F(AhciTest, CompletionsDeliveredTogetherShareOneMsi) {
  enable_msi();
  start_port();
  constexpr int kTags = 8;
  issue_ncq_reads(kTags);
  io_.run();
  ASSERT_EQ(dev_->busy_slots(0), kTags);
  const size_t before = msi_.total();
  size_t delivered = 0, rounds = 0;
  for (int i = 0; i < 2000 && delivered < kTags; ++i) {
    pollfd p{disk_->backend->completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    ::usleep(20'000);  // let the rest of the wave finish: fewer rounds, same rule
    const size_t n = dev_->process_completions(0);
    delivered += n;
    rounds += n > 0;
  }
  EXPECT_EQ(delivered, static_cast<size_t>(kTags));
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_EQ(msi_.total() - before, rounds);
  EXPECT_LT(rounds, static_cast<size_t>(kTags));
}

// A scan whose commands complete synchronously (NullDriver) sends one MSI for all of them.
TEST_F(AhciTest, SynchronousCompletionsOfOneScanShareOneMsi) {
  open_null();
  enable_msi();
  start_port();
  issue_ncq_reads(4);
  io_.run();
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_EQ(msi_.total(), 1u);
}

TEST_F(AhciTest, BusMasterOffDefersEverything) {
  enable_msi();
  start_port();
  uint64_t buf = ram_.alloc(512, 512);
  cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace, 2);
  build(0, {ata::op::kReadDmaExt, 0, 1, 5}, {{buf, 512}});
  issue(0);
  run();
  EXPECT_EQ(prd(px::kCi), 1u);  // nothing fetched without bus mastering
  EXPECT_EQ(disk_->backend->in_flight(), 0u);
  cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  run();
  EXPECT_EQ(prd(px::kCi), 0u);
  auto file = pattern(kDiskSize, 1);
  EXPECT_EQ(guest(buf, 512), std::vector<uint8_t>(file.begin() + 5 * 512, file.begin() + 6 * 512));
  size_t msis = msi_.total();
  EXPECT_GE(msis, 1u);

  // A completion arriving while bus mastering is off is parked, then delivered.
  build(0, {ata::op::kReadDmaExt, 0, 1, 6}, {{buf, 512}});
  issue(0);
  io_.run();
  cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace, 2);
  disk_->wait_completions();
  EXPECT_EQ(prd(px::kCi), 1u);
  EXPECT_EQ(msi_.total(), msis);
  cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  run();
  EXPECT_EQ(prd(px::kCi), 0u);
  EXPECT_EQ(msi_.total(), msis + 1);
  EXPECT_EQ(tfd_status(), ata::st::kReady);
}

TEST_F(AhciTest, StopWithCommandsInFlight) {
  start_port();
  uint64_t buf = ram_.alloc(4096, 512);
  build(0, {ata::op::kReadFpdmaQueued, 8, 0, 0}, {{buf, 4096}});
  build(1, {ata::op::kReadFpdmaQueued, 8, 1 << 3, 8}, {{buf, 4096}});
  pwr(px::kSact, 3);
  pwr(px::kCi, 3);
  io_.run();
  EXPECT_EQ(dev_->busy_slots(0), 2);
  pwr(px::kCmd, pcmd::kFre);  // ST off: abort
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_EQ(prd(px::kCmd) & pcmd::kCr, 0u);
  pwr(px::kIs, 0xFFFFFFFF);
  // Restart and reuse slot 0 at once: it starts once the orphaned request is back.
  pwr(px::kCmd, pcmd::kFre | pcmd::kSt);
  build(0, {ata::op::kReadDmaExt, 0, 1, 9}, {{buf, 512}});
  issue(0);
  run();
  EXPECT_EQ(dev_->busy_slots(0), 0);
  EXPECT_EQ(prd(px::kCi), 0u);
  EXPECT_EQ(prd(px::kSact), 0u);
  EXPECT_EQ(prd(px::kIs) & pis::kSdbs, 0u);  // the aborted NCQ commands reported nothing
  auto file = pattern(kDiskSize, 1);
  EXPECT_EQ(guest(buf, 512), std::vector<uint8_t>(file.begin() + 9 * 512, file.begin() + 10 * 512));
}

TEST_F(AhciTest, NonQueuedWaitsForQueue) {
  start_port();
  uint64_t buf = ram_.alloc(4096, 512);
  build(0, {ata::op::kReadFpdmaQueued, 8, 0, 0}, {{buf, 4096}});
  pwr(px::kSact, 1);
  issue(0);
  io_.run();
  build(1, {ata::op::kFlushCache}, {});
  issue(1);
  io_.run();
  EXPECT_EQ(prd(px::kCi), 2u);  // the flush waits for the queued read
  run();
  EXPECT_EQ(prd(px::kCi), 0u);
  EXPECT_EQ(prd(px::kSact), 0u);
}

TEST(AhciMultiPortTest, TwoDisksOnTwoPortsInParallel) {
  TestRam ram;
  TestDisk d0(kDiskSize), d1(kDiskSize);
  FakeIoThread io;
  AhciController dev(ram.memory, {{d0.backend.get(), {.serial = "A"}}, {d1.backend.get(), {.serial = "B"}}});
  dev.set_io_thread_hook(&io);
  uint8_t cmd[2] = {pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 0};
  dev.config_write(pci::reg::kCommand, std::span<const uint8_t>(cmd, 2));
  auto wr = [&](uint32_t off, uint32_t v) { dev.bar_write(5, off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); };
  auto rd = [&](uint32_t off) {
    uint32_t v;
    dev.bar_read(5, off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  };
  EXPECT_EQ(rd(hba::kPi), 3u);
  uint64_t bufs[2];
  for (int port = 0; port < 2; ++port) {
    uint32_t base = kPortBase + kPortStride * port;
    uint64_t clb = ram.alloc(1024, 1024), fb = ram.alloc(256, 256), table = ram.alloc(0x100, 128);
    bufs[port] = ram.alloc(4096, 512);
    uint8_t* c = ram.ptr(table, 0x90);
    std::memset(c, 0, 0x90);
    c[0] = fis::kH2dRegister;
    c[1] = fis::kH2dCommandBit;
    c[2] = ata::op::kWriteDmaExt;
    c[4] = static_cast<uint8_t>(10 + port);
    c[7] = 0x40;
    c[12] = 8;
    std::memset(ram.ptr(bufs[port], 4096), 0x30 + port, 4096);
    ram.set<uint32_t>(table + 0x80, static_cast<uint32_t>(bufs[port]));
    ram.set<uint32_t>(table + 0x8C, 4095);
    ram.set<uint32_t>(clb, 5 | kCmdHeaderWrite | 1u << 16);
    ram.set<uint32_t>(clb + 8, static_cast<uint32_t>(table));
    wr(base + px::kClb, static_cast<uint32_t>(clb));
    wr(base + px::kFb, static_cast<uint32_t>(fb));
    wr(base + px::kCmd, pcmd::kFre | pcmd::kSt);
    wr(base + px::kIe, kAllIrqs);
  }
  wr(hba::kGhc, hba::kGhcAe | hba::kGhcIe);
  wr(kPortBase + px::kCi, 1);
  wr(kPortBase + kPortStride + px::kCi, 1);
  io.run();
  EXPECT_EQ(dev.busy_slots(0) + dev.busy_slots(1), 2);
  d0.wait_completions();
  d1.wait_completions();
  io.run();
  EXPECT_EQ(rd(kPortBase + px::kCi), 0u);
  EXPECT_EQ(rd(kPortBase + kPortStride + px::kCi), 0u);
  EXPECT_EQ(rd(hba::kIs), 3u);
  EXPECT_EQ(d0.file_bytes(10 * 512, 4096), std::vector<uint8_t>(4096, 0x30));
  EXPECT_EQ(d1.file_bytes(11 * 512, 4096), std::vector<uint8_t>(4096, 0x31));
}

TEST_F(AhciTest, RandomGarbageNeverCrashes) {
  start_port();
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 300; ++round) {
    int slot = static_cast<int>(rng() % 32);
    uint64_t t = tables_[slot];
    // Random header, random FIS bytes, random PRDs mostly pointing into RAM.
    uint8_t* c = ram_.ptr(t, 0x80 + 16 * 64);
    for (int i = 0; i < 0x80 + 16 * 64; ++i) c[i] = static_cast<uint8_t>(rng());
    if (rng() % 2) {
      c[0] = fis::kH2dRegister;
      c[1] = fis::kH2dCommandBit;
      static const uint8_t cmds[] = {0x25, 0x35, 0x60, 0x61, 0xEC, 0xE7, 0xEF, 0x20, 0x30, 0xC8, 0xCA, 0x42};
      c[2] = cmds[rng() % sizeof cmds];
    }
    for (int i = 0; i < 64; ++i) {
      if (rng() % 4) {
        uint64_t e = t + 0x80 + 16 * i;
        ram_.set<uint32_t>(e, static_cast<uint32_t>(rng() % testing::kRamSize) & ~1u);
        ram_.set<uint32_t>(e + 4, 0);
      }
    }
    uint64_t h = clb_ + 32 * slot;
    ram_.set<uint32_t>(h, static_cast<uint32_t>(rng()) & 0x00FF'FFFF);
    ram_.set<uint32_t>(h + 8, rng() % 8 ? static_cast<uint32_t>(t) : static_cast<uint32_t>(rng()));
    ram_.set<uint32_t>(h + 12, rng() % 16 ? 0 : static_cast<uint32_t>(rng()));
    if (rng() % 2) pwr(px::kSact, 1u << slot);
    issue(slot);
    if (rng() % 5 == 0) pwr(px::kSctl, 1), pwr(px::kSctl, 0);
    if (rng() % 7 == 0) {
      cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace, 2);
      cfg_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
    }
    run();
    if (prd(px::kIs) & pis::kTfes || rng() % 3 == 0) restart();
  }
  // Test RAM before the allocator's first block is untouched by device writes into bad places.
  restart();
  exec({ata::op::kFlushCache});
  EXPECT_EQ(tfd_status(), ata::st::kReady);
}

}  // namespace
}  // namespace devices::ahci
