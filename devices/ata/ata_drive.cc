#include "devices/ata/ata_drive.h"

#include <algorithm>

namespace devices::ata {
namespace {

// ATA strings: space padded, two characters per word with the first one in the high byte.
void put_string(std::array<uint16_t, 256>& w, int first_word, int words, const std::string& s) {
  for (int i = 0; i < words; ++i) {
    size_t a = 2 * static_cast<size_t>(i);
    uint8_t hi = a < s.size() ? static_cast<uint8_t>(s[a]) : ' ';
    uint8_t lo = a + 1 < s.size() ? static_cast<uint8_t>(s[a + 1]) : ' ';
    w[first_word + i] = static_cast<uint16_t>(hi << 8 | lo);
  }
}

constexpr uint32_t kHeads = 16;
constexpr uint32_t kSectorsPerTrack = 63;

}  // namespace

AtaDrive::AtaDrive(block::Backend& backend, Transport transport, DriveInfo info)
    : backend_(backend), transport_(transport), info_(std::move(info)) {
  block::Geometry g = backend_.geometry();
  sectors_ = g.size_bytes / kSectorSize;
  if (sectors_ >= kLba48Limit) sectors_ = kLba48Limit - 1;
  physical_block_size_ = g.physical_block_size;
}

void AtaDrive::reset() {
  mode_class_ = ModeClass::kUdma;
  mode_ = kMaxUdmaMode;
  ncq_error_ = NcqError{};
}

Plan AtaDrive::error(uint8_t error_bits) {
  Plan p;
  p.status = st::kDrdy | st::kErr;
  p.error = error_bits;
  return p;
}

Plan AtaDrive::result_of(const Plan& plan, block::Status status) {
  Plan p = plan;
  p.protocol = Protocol::kNonData;
  using block::StatusCode;
  switch (status.code) {
    case StatusCode::kOk:
      p.status = st::kReady;
      p.error = 0;
      return p;
    case StatusCode::kOutOfRange:
      p.status = st::kDrdy | st::kErr;
      p.error = err::kIdnf;
      return p;
    case StatusCode::kIoError:
    case StatusCode::kNoSpace:
      p.status = st::kDrdy | st::kErr;
      p.error = plan.is_read() ? err::kUnc : err::kAbrt;
      return p;
    default:
      p.status = st::kDrdy | st::kErr;
      p.error = err::kAbrt;
      return p;
  }
}

Plan AtaDrive::decode(const Taskfile& tf) {
  switch (tf.command) {
    case op::kIdentifyDevice: {
      Plan p;
      p.protocol = Protocol::kPioIn;
      p.identify = true;
      p.sectors = 1;
      return p;
    }
    case op::kSetFeatures:
      return set_features(tf);

    case op::kReadSectors:
    case op::kReadSectorsNoRetry:
      return data_command(tf, Protocol::kPioIn, false, false);
    case op::kReadSectorsExt:
      return data_command(tf, Protocol::kPioIn, true, false);
    case op::kWriteSectors:
    case op::kWriteSectorsNoRetry:
      return data_command(tf, Protocol::kPioOut, false, false);
    case op::kWriteSectorsExt:
      return data_command(tf, Protocol::kPioOut, true, false);
    case op::kReadDma:
    case op::kReadDmaNoRetry:
      return data_command(tf, Protocol::kDmaIn, false, false);
    case op::kReadDmaExt:
      return data_command(tf, Protocol::kDmaIn, true, false);
    case op::kWriteDma:
    case op::kWriteDmaNoRetry:
      return data_command(tf, Protocol::kDmaOut, false, false);
    case op::kWriteDmaExt:
      return data_command(tf, Protocol::kDmaOut, true, false);
    case op::kWriteDmaFuaExt:
      return data_command(tf, Protocol::kDmaOut, true, true);
    case op::kReadFpdmaQueued:
    case op::kWriteFpdmaQueued: {
      if (transport_ != Transport::kAhci) return error(err::kAbrt);
      bool write = tf.command == op::kWriteFpdmaQueued;
      Plan p = data_command(tf, write ? Protocol::kFpdmaOut : Protocol::kFpdmaIn, true,
                            (tf.device & dev::kFua) != 0);
      p.ncq_tag = static_cast<uint8_t>((tf.count >> 3) & 0x1F);
      return p;
    }

    case op::kReadVerifySectors:
    case op::kReadVerifySectorsNoRetry:
    case op::kReadVerifySectorsExt: {
      // Range check only: the data would come from the same file a read returns.
      Plan p = data_command(tf, Protocol::kNonData, tf.command == op::kReadVerifySectorsExt, false);
      if (p.failed()) return p;
      return Plan{};
    }

    case op::kFlushCache:
    case op::kFlushCacheExt: {
      Plan p;
      p.protocol = Protocol::kFlush;
      return p;
    }

    case op::kCheckPowerMode: {
      Plan p;
      p.has_count_out = true;
      p.count_out = 0xFF;  // active or idle
      return p;
    }
    case op::kStandbyImmediate:
    case op::kIdleImmediate:
    case op::kStandby:
    case op::kIdle:
      return Plan{};

    case op::kReadLogExt: {
      // Only the NCQ Command Error log, one page, and only where NCQ exists.
      uint8_t log = tf.lba & 0xFF;
      uint16_t page = static_cast<uint16_t>((tf.lba >> 8) & 0xFF) | static_cast<uint16_t>(((tf.lba >> 32) & 0xFF) << 8);
      if (transport_ != Transport::kAhci || log != 0x10 || page != 0 || tf.count != 1) return error(err::kAbrt);
      Plan p;
      p.protocol = Protocol::kPioIn;
      p.ncq_error_log = true;
      p.sectors = 1;
      return p;
    }

    case op::kExecuteDeviceDiagnostic: {
      Plan p;
      p.signature = true;
      p.error = 0x01;  // device 0 passed, device 1 passed or absent
      return p;
    }

    default:
      // Includes READ/WRITE MULTIPLE and SET MULTIPLE MODE (IDENTIFY word 47 says no
      // multiple support), READ LOG DMA EXT, DSM, SMART, NOP.
      return error(err::kAbrt);
  }
}

void AtaDrive::record_ncq_error(const Plan& command, const Plan& result) {
  if (ncq_error_.valid) return;  // the first error is the one reported
  ncq_error_ = NcqError{true, command.ncq_tag, result.status, result.error, command.lba, command.sectors};
}

std::array<uint8_t, 512> AtaDrive::take_ncq_error_log() {
  std::array<uint8_t, 512> page{};
  if (ncq_error_.valid) {
    page[0] = ncq_error_.tag & 0x1F;
    page[2] = ncq_error_.status;
    page[3] = ncq_error_.error;
    for (int i = 0; i < 3; ++i) page[4 + i] = static_cast<uint8_t>(ncq_error_.lba >> (8 * i));
    page[7] = dev::kLba;
    for (int i = 0; i < 3; ++i) page[8 + i] = static_cast<uint8_t>(ncq_error_.lba >> (24 + 8 * i));
    page[12] = static_cast<uint8_t>(ncq_error_.sectors);
    page[13] = static_cast<uint8_t>(ncq_error_.sectors >> 8);
  } else {
    page[0] = 0x80;  // NQ: no queued command failed
  }
  uint8_t sum = 0;
  for (int i = 0; i < 511; ++i) sum = static_cast<uint8_t>(sum + page[i]);
  page[511] = static_cast<uint8_t>(-sum);
  ncq_error_ = NcqError{};
  return page;
}

Plan AtaDrive::set_features(const Taskfile& tf) {
  switch (tf.features & 0xFF) {
    case feature::kEnableWriteCache:
      backend_.set_write_cache_enabled(true);
      return Plan{};
    case feature::kDisableWriteCache:
      backend_.set_write_cache_enabled(false);
      return Plan{};
    case feature::kSetTransferMode: {
      uint8_t v = tf.count & 0xFF;
      uint8_t n = v & 0x07;
      switch (v & 0xF8) {
        case 0x00:  // PIO default mode (0x00), PIO default with IORDY disabled (0x01)
          if (n > 1) return error(err::kAbrt);
          mode_class_ = ModeClass::kPio;
          mode_ = 0;
          return Plan{};
        case 0x08:
          if (n > kMaxPioMode) return error(err::kAbrt);
          mode_class_ = ModeClass::kPio;
          mode_ = n;
          return Plan{};
        case 0x20:
          if (n > kMaxMwdmaMode) return error(err::kAbrt);
          mode_class_ = ModeClass::kMwdma;
          mode_ = n;
          return Plan{};
        case 0x40:
          if (n > kMaxUdmaMode) return error(err::kAbrt);
          mode_class_ = ModeClass::kUdma;
          mode_ = n;
          return Plan{};
        default:
          return error(err::kAbrt);
      }
    }
    case feature::kEnableReadLookAhead:
    case feature::kDisableReadLookAhead:
    case feature::kEnableRevertingToDefaults:
    case feature::kDisableRevertingToDefaults:
      return Plan{};
    default:
      return error(err::kAbrt);
  }
}

Plan AtaDrive::data_command(const Taskfile& tf, Protocol protocol, bool lba48, bool fua) {
  uint64_t lba;
  uint32_t sectors;
  bool fpdma = protocol == Protocol::kFpdmaIn || protocol == Protocol::kFpdmaOut;
  if (fpdma) {
    lba = tf.lba & (kLba48Limit - 1);
    sectors = tf.features == 0 ? 65536u : tf.features;
  } else if (lba48) {
    lba = tf.lba & (kLba48Limit - 1);
    sectors = tf.count == 0 ? 65536u : tf.count;
  } else {
    sectors = (tf.count & 0xFF) == 0 ? 256u : (tf.count & 0xFF);
    if (tf.device & dev::kLba) {
      lba = (tf.lba & 0xFFFFFF) | (uint64_t{tf.device & 0x0Fu} << 24);
    } else {
      // CHS, with the default translation reported in IDENTIFY words 1/3/6.
      uint64_t sector = tf.lba & 0xFF;
      uint64_t cylinder = (tf.lba >> 8) & 0xFFFF;
      uint64_t head = tf.device & 0x0F;
      if (sector == 0 || sector > kSectorsPerTrack) return error(err::kIdnf);
      lba = (cylinder * kHeads + head) * kSectorsPerTrack + sector - 1;
    }
  }
  if (lba >= sectors_ || sectors > sectors_ - lba) return error(err::kIdnf);
  Plan p;
  p.protocol = protocol;
  p.lba = lba;
  p.sectors = sectors;
  p.fua = fua;
  return p;
}

std::array<uint8_t, 512> AtaDrive::identify_data() const {
  std::array<uint16_t, 256> w{};
  bool sata = transport_ == Transport::kAhci;
  uint64_t chs_cyl = std::min<uint64_t>(sectors_ / (kHeads * kSectorsPerTrack), 16383);
  uint64_t lba28 = std::min<uint64_t>(sectors_, kLba28Limit - 1);
  uint64_t chs_capacity = chs_cyl * kHeads * kSectorsPerTrack;

  w[0] = 0x0040;  // fixed device
  w[1] = static_cast<uint16_t>(chs_cyl);
  w[3] = kHeads;
  w[6] = kSectorsPerTrack;
  put_string(w, 10, 10, info_.serial);
  put_string(w, 23, 4, info_.firmware);
  put_string(w, 27, 20, info_.model);
  w[47] = 0x8000;  // READ/WRITE MULTIPLE not supported (max 0 sectors per block)
  w[49] = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 8);  // IORDY, IORDY disable, LBA, DMA
  w[50] = 0x4000;
  w[53] = 0x0007;  // words 54-58, 64-70 and 88 valid
  w[54] = static_cast<uint16_t>(chs_cyl);
  w[55] = kHeads;
  w[56] = kSectorsPerTrack;
  w[57] = static_cast<uint16_t>(chs_capacity);
  w[58] = static_cast<uint16_t>(chs_capacity >> 16);
  w[60] = static_cast<uint16_t>(lba28);
  w[61] = static_cast<uint16_t>(lba28 >> 16);
  w[63] = 0x0007;  // multiword DMA 0-2 supported
  if (mode_class_ == ModeClass::kMwdma) w[63] |= static_cast<uint16_t>(1u << (8 + mode_));
  w[64] = 0x0003;  // PIO 3 and 4
  w[65] = 120;
  w[66] = 120;
  w[67] = 120;
  w[68] = 120;
  if (sata) {
    w[75] = kNcqDepth - 1;
    w[76] = (1 << 8) | (1 << 2) | (1 << 1);  // NCQ, SATA gen 1 and 2 signalling
  }
  w[80] = 0x01F0;  // ATA-4 .. ATA8-ACS
  w[82] = (1 << 5) | (1 << 3);  // write cache, power management feature set
  w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10);  // FLUSH CACHE EXT, FLUSH CACHE, LBA48
  w[84] = (1 << 14) | (1 << 6);                            // WRITE DMA FUA EXT
  w[85] = (1 << 3) | (backend_.write_cache_enabled() ? (1 << 5) : 0);
  w[86] = (1 << 15) | (1 << 13) | (1 << 12) | (1 << 10);  // words 119/120 valid, as 83
  w[87] = (1 << 14) | (1 << 6);
  w[88] = 0x003F;  // UDMA 0-5 supported
  if (mode_class_ == ModeClass::kUdma) w[88] |= static_cast<uint16_t>(1u << (8 + mode_));
  if (!sata) w[93] = 0x4000 | 0x0001;  // device 0 passed diagnostics (bit 0), 40-wire cable
  w[100] = static_cast<uint16_t>(sectors_);
  w[101] = static_cast<uint16_t>(sectors_ >> 16);
  w[102] = static_cast<uint16_t>(sectors_ >> 32);
  w[103] = static_cast<uint16_t>(sectors_ >> 48);
  // Logical sector 512 bytes; physical sector hint (2^n logical per physical).
  w[106] = 0x4000;
  if (physical_block_size_ > kSectorSize) {
    uint32_t ratio = physical_block_size_ / kSectorSize;
    uint16_t exp = 0;
    while ((1u << exp) < ratio && exp < 15) ++exp;
    w[106] |= static_cast<uint16_t>(1 << 13) | exp;
  }
  w[119] = 0x4000;  // no further optional features (no READ LOG DMA EXT, no GPL)
  w[120] = 0x4000;
  w[217] = 0x0001;  // non-rotating medium

  std::array<uint8_t, 512> out{};
  for (int i = 0; i < 255; ++i) {
    out[2 * i] = static_cast<uint8_t>(w[i]);
    out[2 * i + 1] = static_cast<uint8_t>(w[i] >> 8);
  }
  out[510] = 0xA5;  // checksum signature
  uint8_t sum = 0;
  for (int i = 0; i < 511; ++i) sum = static_cast<uint8_t>(sum + out[i]);
  out[511] = static_cast<uint8_t>(-sum);
  return out;
}

}  // namespace devices::ata
