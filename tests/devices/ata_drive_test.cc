// The shared ATA command layer on its own: IDENTIFY contents, SET FEATURES, command decoding
// (LBA28/LBA48/CHS, zero counts, ranges), the abort list and status mapping.
#include <memory>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/null_driver.h"
#include "devices/ata/ata_drive.h"
#include "devices/ata/sg_list.h"
#include "vmm/guest_memory.h"

namespace devices::ata {
namespace {

constexpr uint64_t kTiB = 1ull << 40;

class AtaDriveTest : public ::testing::Test {
 protected:
  void make(uint64_t size, Transport t = Transport::kAhci, uint32_t physical = 512) {
    drive_.reset();
    backend_ = std::make_unique<block::Backend>(std::make_unique<block::NullDriver>(),
                                                block::BackendPolicy{}, size, physical);
    drive_ = std::make_unique<AtaDrive>(*backend_, t,
                                        DriveInfo{.model = "KVMM TEST DISK", .serial = "SN123", .firmware = "FW1"});
  }
  void SetUp() override { make(64 << 20); }
  uint16_t word(int i) {
    auto id = drive_->identify_data();
    return static_cast<uint16_t>(id[2 * i] | id[2 * i + 1] << 8);
  }
  std::string string_at(int first, int words) {
    std::string s;
    for (int i = 0; i < words; ++i) {
      uint16_t w = word(first + i);
      s += static_cast<char>(w >> 8);
      s += static_cast<char>(w & 0xFF);
    }
    return s;
  }
  Plan cmd(uint8_t command, uint16_t features = 0, uint16_t count = 0, uint64_t lba = 0, uint8_t device = dev::kLba) {
    return drive_->decode(Taskfile{command, features, count, lba, device});
  }

  std::unique_ptr<block::Backend> backend_;
  std::unique_ptr<AtaDrive> drive_;
};

TEST_F(AtaDriveTest, IdentifyCapacityWords) {
  make(3ull << 30);  // 6291456 sectors
  uint64_t n = (3ull << 30) / 512;
  EXPECT_EQ(word(60) | uint32_t{word(61)} << 16, n);
  EXPECT_EQ(word(100) | uint64_t{word(101)} << 16 | uint64_t{word(102)} << 32 | uint64_t{word(103)} << 48, n);
  EXPECT_EQ(drive_->sectors(), n);
}

TEST_F(AtaDriveTest, IdentifyLba28CapacitySaturatesOnBigDisks) {
  make(kTiB);
  EXPECT_EQ(word(60) | uint32_t{word(61)} << 16, 0x0FFFFFFFu);
  EXPECT_EQ(word(100) | uint64_t{word(101)} << 16 | uint64_t{word(102)} << 32, kTiB / 512);
}

TEST_F(AtaDriveTest, IdentifyChecksum) {
  auto id = drive_->identify_data();
  EXPECT_EQ(id[510], 0xA5);
  uint8_t sum = 0;
  for (uint8_t b : id) sum = static_cast<uint8_t>(sum + b);
  EXPECT_EQ(sum, 0);
  backend_->set_write_cache_enabled(false);  // the checksum follows dynamic changes
  id = drive_->identify_data();
  sum = 0;
  for (uint8_t b : id) sum = static_cast<uint8_t>(sum + b);
  EXPECT_EQ(sum, 0);
}

TEST_F(AtaDriveTest, IdentifyStringsAreByteSwappedAndPadded) {
  EXPECT_EQ(string_at(27, 20), "KVMM TEST DISK                          ");
  EXPECT_EQ(string_at(10, 10), "SN123               ");
  EXPECT_EQ(string_at(23, 4), "FW1     ");
  auto id = drive_->identify_data();
  EXPECT_EQ(id[54], 'V');  // word 27 = 'K' << 8 | 'V', little-endian in memory
  EXPECT_EQ(id[55], 'K');
}

TEST_F(AtaDriveTest, IdentifyFeatureWords) {
  EXPECT_TRUE(word(49) & (1 << 9));   // LBA
  EXPECT_TRUE(word(49) & (1 << 8));   // DMA
  EXPECT_TRUE(word(83) & (1 << 10));  // LBA48
  EXPECT_TRUE(word(83) & (1 << 12));  // FLUSH CACHE
  EXPECT_TRUE(word(83) & (1 << 13));  // FLUSH CACHE EXT
  EXPECT_TRUE(word(86) & (1 << 13));
  EXPECT_TRUE(word(82) & (1 << 5));   // write cache supported
  EXPECT_TRUE(word(85) & (1 << 5));   // and enabled
  EXPECT_EQ(word(63) & 0x7, 0x7);     // MWDMA 0-2
  EXPECT_EQ(word(88) & 0x3F, 0x3F);   // UDMA 0-5
  EXPECT_TRUE(word(88) & (1 << 13));  // UDMA 5 selected by default
  EXPECT_EQ(word(53) & 0x6, 0x6);
  EXPECT_EQ(word(106), 0x4000);
  EXPECT_EQ(word(217), 1);
}

TEST_F(AtaDriveTest, IdentifyNcqOnlyOnAhci) {
  EXPECT_TRUE(word(76) & (1 << 8));
  EXPECT_EQ(word(75) & 0x1F, 31);
  make(64 << 20, Transport::kIde);
  EXPECT_FALSE(word(76) & (1 << 8));
  EXPECT_EQ(word(75), 0);
  EXPECT_TRUE(word(93) & 0x4000);  // PATA hardware reset result
}

TEST_F(AtaDriveTest, IdentifyAdvertisesNothingUnimplemented) {
  EXPECT_EQ(word(47) & 0xFF, 0);        // no READ/WRITE MULTIPLE
  EXPECT_FALSE(word(82) & (1 << 14));   // NOP
  EXPECT_FALSE(word(82) & (1 << 0));    // SMART
  EXPECT_FALSE(word(84) & (1 << 5));    // general purpose logging
  EXPECT_FALSE(word(87) & (1 << 5));
  EXPECT_FALSE(word(119) & (1 << 3));   // READ LOG DMA EXT
  EXPECT_FALSE(word(119) & (1 << 5));
  EXPECT_EQ(word(169), 0);              // no TRIM
  EXPECT_EQ(word(69), 0);               // not zoned
  EXPECT_EQ(word(77), 0);               // no NCQ send/receive
  EXPECT_EQ(word(78), 0);               // no SATA features
  EXPECT_FALSE(word(82) & (1 << 10));   // no HPA
}

TEST_F(AtaDriveTest, IdentifyPhysicalSectorHint) {
  make(64 << 20, Transport::kAhci, 4096);
  EXPECT_EQ(word(106), 0x6003);
}

TEST_F(AtaDriveTest, SetFeaturesWriteCacheReachesBackend) {
  Plan p = cmd(op::kSetFeatures, feature::kDisableWriteCache);
  EXPECT_FALSE(p.failed());
  EXPECT_EQ(p.protocol, Protocol::kNonData);
  EXPECT_FALSE(backend_->write_cache_enabled());
  EXPECT_FALSE(word(85) & (1 << 5));
  EXPECT_FALSE(cmd(op::kSetFeatures, feature::kEnableWriteCache).failed());
  EXPECT_TRUE(backend_->write_cache_enabled());
  EXPECT_TRUE(word(85) & (1 << 5));
}

TEST_F(AtaDriveTest, SetFeaturesTransferMode) {
  EXPECT_FALSE(cmd(op::kSetFeatures, feature::kSetTransferMode, 0x22).failed());  // MWDMA2
  EXPECT_TRUE(word(63) & (1 << 10));
  EXPECT_FALSE(word(88) & 0xFF00);
  EXPECT_FALSE(cmd(op::kSetFeatures, feature::kSetTransferMode, 0x42).failed());  // UDMA2
  EXPECT_TRUE(word(88) & (1 << 10));
  EXPECT_FALSE(word(63) & 0xFF00);
  EXPECT_FALSE(cmd(op::kSetFeatures, feature::kSetTransferMode, 0x0C).failed());  // PIO4
  EXPECT_FALSE(cmd(op::kSetFeatures, feature::kSetTransferMode, 0x00).failed());  // PIO default
  for (uint16_t bad : {0x46, 0x47, 0x23, 0x0D, 0x10, 0x80}) {
    Plan p = cmd(op::kSetFeatures, feature::kSetTransferMode, bad);
    EXPECT_TRUE(p.failed()) << bad;
    EXPECT_EQ(p.error, err::kAbrt);
  }
  drive_->reset();
  EXPECT_TRUE(word(88) & (1 << 13));
}

TEST_F(AtaDriveTest, SetFeaturesOthers) {
  EXPECT_FALSE(cmd(op::kSetFeatures, 0xAA).failed());
  EXPECT_FALSE(cmd(op::kSetFeatures, 0x55).failed());
  for (uint16_t f : {0x10, 0x90, 0x05, 0x85, 0x00, 0xFF}) {
    Plan p = cmd(op::kSetFeatures, f);
    EXPECT_TRUE(p.failed()) << f;
    EXPECT_EQ(p.status, st::kDrdy | st::kErr);
    EXPECT_EQ(p.error, err::kAbrt);
  }
}

TEST_F(AtaDriveTest, Lba28DecodeAndZeroCount) {
  make(kTiB);
  Plan p = cmd(op::kReadDma, 0, 0, 0x345678, dev::kLba | 0x1);
  EXPECT_EQ(p.protocol, Protocol::kDmaIn);
  EXPECT_EQ(p.lba, 0x1345678u);
  EXPECT_EQ(p.sectors, 256u);
  p = cmd(op::kWriteDma, 0, 0x0105, 10);  // HOB count byte ignored for LBA28
  EXPECT_EQ(p.protocol, Protocol::kDmaOut);
  EXPECT_EQ(p.sectors, 5u);
  EXPECT_EQ(p.lba, 10u);
  EXPECT_EQ(cmd(op::kReadSectors, 0, 1, 7).protocol, Protocol::kPioIn);
  EXPECT_EQ(cmd(op::kWriteSectors, 0, 1, 7).protocol, Protocol::kPioOut);
}

TEST_F(AtaDriveTest, Lba48DecodeAndZeroCount) {
  make(kTiB);
  Plan p = cmd(op::kReadDmaExt, 0, 0, 0x7234'5678ull);
  EXPECT_EQ(p.protocol, Protocol::kDmaIn);
  EXPECT_EQ(p.lba, 0x7234'5678ull);
  EXPECT_EQ(p.sectors, 65536u);
  p = cmd(op::kWriteDmaExt, 0, 0x0102, 5);
  EXPECT_EQ(p.sectors, 0x102u);
  EXPECT_FALSE(p.fua);
  p = cmd(op::kWriteDmaFuaExt, 0, 1, 5);
  EXPECT_EQ(p.protocol, Protocol::kDmaOut);
  EXPECT_TRUE(p.fua);
  EXPECT_EQ(cmd(op::kReadSectorsExt, 0, 1, 7).protocol, Protocol::kPioIn);
  EXPECT_EQ(cmd(op::kWriteSectorsExt, 0, 1, 7).protocol, Protocol::kPioOut);
}

TEST_F(AtaDriveTest, ChsAddressing) {
  // cylinder 2, head 3, sector 4 -> (2*16 + 3)*63 + 3
  Plan p = cmd(op::kReadSectors, 0, 1, 4 | (2 << 8), 0xA0 | 3);
  EXPECT_FALSE(p.failed());
  EXPECT_EQ(p.lba, (2u * 16 + 3) * 63 + 3);
  EXPECT_EQ(cmd(op::kReadSectors, 0, 1, 0, 0xA0).error, err::kIdnf);  // sector 0 does not exist
}

TEST_F(AtaDriveTest, RangeChecks) {
  uint64_t n = drive_->sectors();
  EXPECT_FALSE(cmd(op::kReadDmaExt, 0, 1, n - 1).failed());
  EXPECT_FALSE(cmd(op::kReadDmaExt, 0, 8, n - 8).failed());
  Plan p = cmd(op::kReadDmaExt, 0, 1, n);
  EXPECT_TRUE(p.failed());
  EXPECT_EQ(p.error, err::kIdnf);
  EXPECT_EQ(cmd(op::kWriteDmaExt, 0, 9, n - 8).error, err::kIdnf);
  EXPECT_EQ(cmd(op::kReadDmaExt, 0, 0, n - 100).error, err::kIdnf);  // 65536 sectors
  EXPECT_EQ(cmd(op::kReadDmaExt, 0, 16, 0xFFFF'FFFF'FFF8ull).error, err::kIdnf);  // would wrap
  EXPECT_EQ(cmd(op::kReadDma, 0, 1, 0xFFFFFF, dev::kLba | 0xF).error, err::kIdnf);
  EXPECT_EQ(cmd(op::kReadVerifySectorsExt, 0, 2, n - 1).error, err::kIdnf);
  p = cmd(op::kReadVerifySectors, 0, 2, 5);
  EXPECT_FALSE(p.failed());
  EXPECT_EQ(p.protocol, Protocol::kNonData);
}

TEST_F(AtaDriveTest, FpdmaDecode) {
  // Sector count in features, tag in count 7:3, FUA in device bit 7.
  Plan p = cmd(op::kReadFpdmaQueued, 8, 5 << 3, 100, dev::kLba);
  EXPECT_EQ(p.protocol, Protocol::kFpdmaIn);
  EXPECT_EQ(p.ncq_tag, 5);
  EXPECT_EQ(p.sectors, 8u);
  EXPECT_EQ(p.lba, 100u);
  EXPECT_FALSE(p.fua);
  p = cmd(op::kWriteFpdmaQueued, 0, 31 << 3, 0, dev::kLba | dev::kFua);
  EXPECT_EQ(p.protocol, Protocol::kFpdmaOut);
  EXPECT_EQ(p.ncq_tag, 31);
  EXPECT_EQ(p.sectors, 65536u);
  EXPECT_TRUE(p.fua);
  EXPECT_EQ(cmd(op::kReadFpdmaQueued, 1, 0, drive_->sectors()).error, err::kIdnf);
  make(64 << 20, Transport::kIde);
  EXPECT_EQ(cmd(op::kReadFpdmaQueued, 1, 0, 0).error, err::kAbrt);
}

TEST_F(AtaDriveTest, NonDataCommands) {
  EXPECT_EQ(cmd(op::kFlushCache).protocol, Protocol::kFlush);
  EXPECT_EQ(cmd(op::kFlushCacheExt).protocol, Protocol::kFlush);
  Plan p = cmd(op::kCheckPowerMode);
  EXPECT_TRUE(p.has_count_out);
  EXPECT_EQ(p.count_out, 0xFF);
  for (uint8_t c : {op::kIdleImmediate, op::kStandbyImmediate, op::kIdle, op::kStandby}) {
    p = cmd(c);
    EXPECT_FALSE(p.failed());
    EXPECT_EQ(p.protocol, Protocol::kNonData);
    EXPECT_EQ(p.status, st::kReady);
  }
  p = cmd(op::kExecuteDeviceDiagnostic);
  EXPECT_TRUE(p.signature);
  EXPECT_EQ(p.error, 0x01);
  p = cmd(op::kIdentifyDevice);
  EXPECT_EQ(p.protocol, Protocol::kPioIn);
  EXPECT_TRUE(p.identify);
  EXPECT_EQ(p.bytes(), 512u);
}

TEST_F(AtaDriveTest, EverythingElseAborts) {
  for (uint8_t c : {op::kNop, op::kReadMultiple, op::kWriteMultiple, op::kSetMultipleMode,
                    op::kReadMultipleExt, op::kWriteMultipleExt, op::kSleep, op::kSeek,
                    op::kInitializeDeviceParameters, uint8_t{0x47}, uint8_t{0x06}, uint8_t{0xB0},
                    uint8_t{0xA0}, uint8_t{0xA1}, uint8_t{0xF8}, uint8_t{0x27}, uint8_t{0x63}, uint8_t{0xFF}}) {
    Plan p = cmd(c, 0, 1, 0);
    EXPECT_TRUE(p.failed()) << int(c);
    EXPECT_EQ(p.status, st::kDrdy | st::kErr) << int(c);
    EXPECT_EQ(p.error, err::kAbrt) << int(c);
  }
}

TEST_F(AtaDriveTest, ReadLogExtOnlyNcqErrorLog) {
  Plan p = cmd(op::kReadLogExt, 0, 1, 0x10);
  EXPECT_EQ(p.protocol, Protocol::kPioIn);
  EXPECT_TRUE(p.ncq_error_log);
  EXPECT_EQ(p.bytes(), 512u);
  EXPECT_EQ(cmd(op::kReadLogExt, 0, 1, 0x00).error, err::kAbrt);   // log directory
  EXPECT_EQ(cmd(op::kReadLogExt, 0, 1, 0x30).error, err::kAbrt);   // IDENTIFY DEVICE data
  EXPECT_EQ(cmd(op::kReadLogExt, 0, 2, 0x10).error, err::kAbrt);   // one page only
  EXPECT_EQ(cmd(op::kReadLogExt, 0, 1, 0x0110).error, err::kAbrt); // page 1
  // No error recorded: NQ set.
  auto page = drive_->take_ncq_error_log();
  EXPECT_EQ(page[0], 0x80);
  Plan failed = cmd(op::kReadFpdmaQueued, 8, 7 << 3, 0x12345);
  drive_->record_ncq_error(failed, AtaDrive::error(err::kUnc));
  drive_->record_ncq_error(cmd(op::kReadFpdmaQueued, 8, 9 << 3, 1), AtaDrive::error(err::kAbrt));  // not the first
  page = drive_->take_ncq_error_log();
  EXPECT_EQ(page[0], 7);
  EXPECT_EQ(page[2], st::kDrdy | st::kErr);
  EXPECT_EQ(page[3], err::kUnc);
  EXPECT_EQ(page[4] | page[5] << 8 | page[6] << 16, 0x12345);
  EXPECT_EQ(page[12], 8);
  uint8_t sum = 0;
  for (uint8_t b : page) sum = static_cast<uint8_t>(sum + b);
  EXPECT_EQ(sum, 0);
  EXPECT_EQ(drive_->take_ncq_error_log()[0], 0x80);  // reading cleared it
  make(64 << 20, Transport::kIde);
  EXPECT_EQ(cmd(op::kReadLogExt, 0, 1, 0x10).error, err::kAbrt);
}

TEST_F(AtaDriveTest, ResultMapping) {
  Plan read = cmd(op::kReadDmaExt, 0, 1, 0);
  Plan write = cmd(op::kWriteDmaExt, 0, 1, 0);
  EXPECT_EQ(AtaDrive::result_of(read, block::Status::ok()).status, st::kReady);
  Plan r = AtaDrive::result_of(read, block::Status::of(block::StatusCode::kOutOfRange));
  EXPECT_EQ(r.status, st::kDrdy | st::kErr);
  EXPECT_EQ(r.error, err::kIdnf);
  EXPECT_EQ(AtaDrive::result_of(read, block::Status::from_errno(EIO)).error, err::kUnc);
  EXPECT_EQ(AtaDrive::result_of(write, block::Status::from_errno(EIO)).error, err::kAbrt);
  EXPECT_EQ(AtaDrive::result_of(write, block::Status::of(block::StatusCode::kReadOnly)).error, err::kAbrt);
}

TEST(SgListTest, MergesClipsAndChecksBounds) {
  vmm::GuestMemory mem({{0, 1 << 20}});
  std::array<iovec, 4> storage{};
  SgList sg{std::span(storage)};
  sg.reset(3000);
  EXPECT_TRUE(sg.add(mem, 0x1000, 1024));
  EXPECT_TRUE(sg.add(mem, 0x1400, 1024));  // contiguous: merged
  EXPECT_EQ(sg.iov().size(), 1u);
  EXPECT_TRUE(sg.add(mem, 0x8000, 4096));  // clipped to what is wanted
  EXPECT_TRUE(sg.complete());
  EXPECT_EQ(sg.iov().size(), 2u);
  EXPECT_EQ(sg.iov()[1].iov_len, 3000u - 2048u);
  EXPECT_FALSE(sg.overlapping());

  sg.reset(4096);
  EXPECT_FALSE(sg.add(mem, (1 << 20) - 512, 1024));  // runs off the end of RAM
  EXPECT_EQ(sg.error(), SgList::Error::kOutsideRam);
  EXPECT_FALSE(sg.complete());

  sg.reset(4096);
  EXPECT_FALSE(sg.add(mem, 0, 0));
  EXPECT_EQ(sg.error(), SgList::Error::kBadLength);

  sg.reset(5 * 512);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(sg.add(mem, 0x10000 * (i + 1), 512));
  EXPECT_FALSE(sg.add(mem, 0x90000, 512));
  EXPECT_EQ(sg.error(), SgList::Error::kTooManySegments);

  sg.reset(1024);
  EXPECT_TRUE(sg.add(mem, 0x2000, 512));
  EXPECT_TRUE(sg.add(mem, 0x2100, 512));
  EXPECT_TRUE(sg.complete());
  EXPECT_TRUE(sg.overlapping());
}

}  // namespace
}  // namespace devices::ata
