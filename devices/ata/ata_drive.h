#pragma once
// The ATA command layer shared by the AHCI and IDE front ends: one disk on a block::Backend.
//
// A front end collects the taskfile the guest wrote (H2D register FIS on AHCI, the command
// block registers on IDE), calls AtaDrive::decode() and gets a Plan: either the command is
// already finished (non-data commands, errors) with the status/error to report, or it says
// which data transfer to run (PIO/DMA/FPDMA, direction, LBA, sector count). The front end then
// builds a block::Request from its scatter-gather list (PRDT / PRD table, or its PIO buffer),
// submits it on the I/O thread and maps the block::Status back with result_of().
//
// Not thread-safe: the owning device serializes calls (its mutex). decode() never blocks and
// never submits I/O, so it may run on a vCPU thread; only SET FEATURES touches the backend
// (set_write_cache_enabled, which is thread-safe).
#include <array>
#include <cstdint>
#include <string>

#include "block/backend.h"
#include "block/status.h"
#include "devices/ata/ata_defs.h"

namespace devices::ata {

// The command block as the host wrote it. For LBA48 commands the "previous" (HOB) bytes are
// in bits 15:8 of features/count and bits 47:24 of lba; for LBA28 commands lba holds bits
// 23:0 and the device register bits 3:0 supply LBA 27:24.
struct Taskfile {
  uint8_t command = 0;
  uint16_t features = 0;
  uint16_t count = 0;
  uint64_t lba = 0;  // lba_low | lba_mid << 8 | lba_high << 16 | hob_low << 24 | ...
  uint8_t device = 0;
};

enum class Transport : uint8_t { kAhci, kIde };

enum class Protocol : uint8_t {
  kNonData,  // finished: report status/error (and count_out, signature)
  kPioIn,    // device to host, DRQ blocks of one sector
  kPioOut,   // host to device
  kDmaIn,
  kDmaOut,
  kFpdmaIn,  // NCQ (AHCI only)
  kFpdmaOut,
  kFlush,    // no data; submit block::Op::kFlush
};

struct Plan {
  Protocol protocol = Protocol::kNonData;
  uint8_t status = st::kReady;
  uint8_t error = 0;
  uint64_t lba = 0;
  uint32_t sectors = 0;  // data commands: 1..65536
  bool fua = false;
  bool identify = false;      // kPioIn from identify_data() instead of the disk
  bool ncq_error_log = false; // kPioIn from take_ncq_error_log() (READ LOG EXT, log 10h)
  uint8_t ncq_tag = 0;        // kFpdma*: the tag from count 7:3
  bool has_count_out = false; // non-data: the count register to report (CHECK POWER MODE)
  uint8_t count_out = 0;
  bool signature = false;     // EXECUTE DEVICE DIAGNOSTIC: load the reset signature

  bool failed() const { return (status & st::kErr) != 0; }
  bool is_read() const {
    return protocol == Protocol::kPioIn || protocol == Protocol::kDmaIn || protocol == Protocol::kFpdmaIn;
  }
  bool is_write() const {
    return protocol == Protocol::kPioOut || protocol == Protocol::kDmaOut || protocol == Protocol::kFpdmaOut;
  }
  uint64_t bytes() const { return uint64_t{sectors} * kSectorSize; }
};

struct DriveInfo {
  std::string model = "KVMM HARDDISK";
  std::string serial = "KVMM0000000000000001";
  std::string firmware = "1.0";
};

// Transfer modes (SET FEATURES 03h): the selected one is reported in IDENTIFY words 63/88.
enum class ModeClass : uint8_t { kPio, kMwdma, kUdma };

class AtaDrive {
 public:
  static constexpr uint32_t kNcqDepth = 32;
  static constexpr uint8_t kMaxUdmaMode = 5;
  static constexpr uint8_t kMaxMwdmaMode = 2;
  static constexpr uint8_t kMaxPioMode = 4;

  AtaDrive(block::Backend& backend, Transport transport, DriveInfo info = {});

  // Validates and classifies one command; executes the non-data ones.
  Plan decode(const Taskfile& tf);

  // The 512-byte IDENTIFY DEVICE page reflecting the current state (write cache, mode).
  std::array<uint8_t, 512> identify_data() const;

  // NCQ error handling (AHCI): a failed queued command is remembered until the host reads
  // the NCQ Command Error log (READ LOG EXT log 10h, what Linux's error handler does to find
  // the failed tag); reading it returns the page and clears the condition. No other log is
  // implemented and IDENTIFY does not advertise general purpose logging.
  void record_ncq_error(const Plan& command, const Plan& result);
  std::array<uint8_t, 512> take_ncq_error_log();

  // Device status/error for a finished block request of this plan.
  static Plan result_of(const Plan& plan, block::Status status);
  static Plan error(uint8_t error_bits);

  uint64_t sectors() const { return sectors_; }
  block::Backend& backend() { return backend_; }
  Transport transport() const { return transport_; }
  // Power-on / hardware reset: transfer mode back to the default. SET FEATURES state that a
  // real drive keeps across soft resets (write cache) is left alone.
  void reset();

 private:
  Plan set_features(const Taskfile& tf);
  Plan data_command(const Taskfile& tf, Protocol protocol, bool lba48, bool fua);

  block::Backend& backend_;
  Transport transport_;
  DriveInfo info_;
  uint64_t sectors_;
  uint32_t physical_block_size_;
  ModeClass mode_class_ = ModeClass::kUdma;
  uint8_t mode_ = kMaxUdmaMode;
  struct NcqError {
    bool valid = false;
    uint8_t tag = 0, status = 0, error = 0;
    uint64_t lba = 0;
    uint32_t sectors = 0;
  } ncq_error_;
};

}  // namespace devices::ata
