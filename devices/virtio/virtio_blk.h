#pragma once
// virtio-blk (device type 2) over the virtio-pci transport, submitting to a block::Backend or,
// for a host-managed zoned drive (VIRTIO_BLK_F_ZONED), to a block::zoned::ZonedBackend. Both
// are reached through the small BlkDisk interface below.
//
// Requests: header (type, reserved, sector) in the driver-readable part, data, and a status
// byte that is the last byte of the last (device-writable) descriptor. Data buffers go to the
// block layer as iovecs into guest RAM (no copy). Each queue owns queue-size preallocated
// request slots; a slot is a block::Completion. The status byte is written last, then the used
// element (length = bytes written into the device-writable part, status included), then the
// queue's interrupt if the driver wants one (NO_INTERRUPT / EVENT_IDX).
//
// Errors: a malformed request that still has a writable status byte completes with IOERR
// (or UNSUPP for unknown types/flags); a request without a usable status byte, or a corrupted
// ring, sets DEVICE_NEEDS_RESET. RO is enforced whether or not the guest negotiated it.
//
// Bus mastering off: process_queue() leaves the ring alone, completions are parked in their
// slots; when it is turned back on the transport kicks each queue, which first publishes the
// parked completions and then resumes. Nothing is lost.
//
// Zoned drives: F_ZONED offered (DISCARD and WRITE_ZEROES not), zoned config fields filled,
// FEATURES_OK refused if the driver does not accept F_ZONED (host-managed model). Zone
// requests (REPORT, OPEN, CLOSE, FINISH, RESET, RESET_ALL, APPEND) go to the zoned backend;
// without F_ZONED negotiated they complete with UNSUPP. See docs/virtio-blk.md.
//
// Threading: process_queue() and completions on the I/O thread (the backend's thread);
// register accesses on vCPU threads. The transport's mutex covers everything.
#include <sys/uio.h>

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "block/backend.h"
#include "block/request.h"
#include "block/zoned/zoned_backend.h"
#include "devices/virtio/virtio_pci_device.h"

namespace devices::virtio {

namespace blk {
// Feature bits.
inline constexpr unsigned kSizeMax = 1;
inline constexpr unsigned kSegMax = 2;
inline constexpr unsigned kGeometry = 4;
inline constexpr unsigned kRo = 5;
inline constexpr unsigned kBlkSize = 6;
inline constexpr unsigned kFlush = 9;
inline constexpr unsigned kTopology = 10;
inline constexpr unsigned kConfigWce = 11;
inline constexpr unsigned kMq = 12;
inline constexpr unsigned kDiscard = 13;
inline constexpr unsigned kWriteZeroes = 14;
inline constexpr unsigned kZoned = 17;
// Request types.
inline constexpr uint32_t kTypeIn = 0;
inline constexpr uint32_t kTypeOut = 1;
inline constexpr uint32_t kTypeFlush = 4;
inline constexpr uint32_t kTypeGetId = 8;
inline constexpr uint32_t kTypeGetLifetime = 10;
inline constexpr uint32_t kTypeDiscard = 11;
inline constexpr uint32_t kTypeWriteZeroes = 13;
inline constexpr uint32_t kTypeSecureErase = 14;
inline constexpr uint32_t kTypeZoneAppend = 15;
inline constexpr uint32_t kTypeZoneReport = 16;
inline constexpr uint32_t kTypeZoneOpen = 18;
inline constexpr uint32_t kTypeZoneClose = 20;
inline constexpr uint32_t kTypeZoneFinish = 22;
inline constexpr uint32_t kTypeZoneReset = 24;
inline constexpr uint32_t kTypeZoneResetAll = 26;
// Status values.
inline constexpr uint8_t kStatusOk = 0;
inline constexpr uint8_t kStatusIoErr = 1;
inline constexpr uint8_t kStatusUnsupp = 2;
inline constexpr uint8_t kStatusZoneInvalidCmd = 3;
inline constexpr uint8_t kStatusZoneUnalignedWp = 4;
inline constexpr uint8_t kStatusZoneOpenResource = 5;
inline constexpr uint8_t kStatusZoneActiveResource = 6;
// Zoned models (config `zoned.model`).
inline constexpr uint8_t kZonedModelNone = 0;
inline constexpr uint8_t kZonedModelHostManaged = 1;
inline constexpr uint8_t kZonedModelHostAware = 2;
// ZONE_REPORT reply: a 64-byte header (le64 nr_zones, reserved) then 64-byte descriptors
// (le64 z_cap, z_start, z_wp; u8 z_type, z_state; reserved), all in 512-byte sectors.
inline constexpr uint64_t kZoneReportHeaderBytes = 64;
inline constexpr uint64_t kZoneDescriptorBytes = 64;
// ZONE_APPEND: the device-writable part (the in-header) starts with le64 append_sector and
// ends with the status byte: 9 bytes in the spec, 16 from Linux on 64-bit (unpacked struct).
inline constexpr uint64_t kAppendSectorBytes = 8;
// Discard / write zeroes segment flags.
inline constexpr uint32_t kFlagUnmap = 1;
inline constexpr size_t kIdBytes = 20;
inline constexpr uint64_t kSectorSize = 512;
// Configuration layout (struct virtio_blk_config, 0x60 bytes with the zoned fields).
namespace cfg {
inline constexpr uint32_t kCapacity = 0x00;
inline constexpr uint32_t kSizeMax = 0x08;
inline constexpr uint32_t kSegMax = 0x0C;
inline constexpr uint32_t kGeometry = 0x10;
inline constexpr uint32_t kBlkSize = 0x14;
inline constexpr uint32_t kPhysicalBlockExp = 0x18;
inline constexpr uint32_t kAlignmentOffset = 0x19;
inline constexpr uint32_t kMinIoSize = 0x1A;
inline constexpr uint32_t kOptIoSize = 0x1C;
inline constexpr uint32_t kWriteback = 0x20;
inline constexpr uint32_t kNumQueues = 0x22;
inline constexpr uint32_t kMaxDiscardSectors = 0x24;
inline constexpr uint32_t kMaxDiscardSeg = 0x28;
inline constexpr uint32_t kDiscardSectorAlignment = 0x2C;
inline constexpr uint32_t kMaxWriteZeroesSectors = 0x30;
inline constexpr uint32_t kMaxWriteZeroesSeg = 0x34;
inline constexpr uint32_t kWriteZeroesMayUnmap = 0x38;
inline constexpr uint32_t kMaxSecureEraseSectors = 0x3C;
inline constexpr uint32_t kZoneSectors = 0x48;
inline constexpr uint32_t kMaxOpenZones = 0x4C;
inline constexpr uint32_t kMaxActiveZones = 0x50;
inline constexpr uint32_t kMaxAppendSectors = 0x54;
inline constexpr uint32_t kWriteGranularity = 0x58;
inline constexpr uint32_t kZonedModel = 0x5C;
inline constexpr uint32_t kSize = 0x60;
}  // namespace cfg
}  // namespace blk

struct VirtioBlkOptions {
  std::string serial;           // GET_ID; truncated to 20 bytes
  uint16_t num_queues = 1;
  uint16_t queue_size = 256;    // maximum the driver may choose (power of two, <= 256)
  uint32_t seg_max = 126;       // data segments per request
  uint32_t size_max = 1u << 20; // bytes per segment (advertised)
  uint32_t max_discard_sectors = 1u << 22;
  uint32_t max_discard_seg = 16;
  uint32_t max_write_zeroes_sectors = 1u << 22;
  uint32_t max_write_zeroes_seg = 16;
};

// What VirtioBlk needs from the block layer. block::Backend and block::zoned::ZonedBackend
// share this surface; make_blk_disk() adapts either (the adapter borrows the backend, which
// must outlive it). Everything is called with the device's mutex held, on the threads the
// backend contract names (submit/process_completions on the I/O thread).
class BlkDisk {
 public:
  virtual ~BlkDisk() = default;
  virtual void submit(block::Request& req) = 0;
  virtual void begin_batch() = 0;
  virtual void end_batch() = 0;
  virtual int completion_fd() const = 0;
  virtual size_t process_completions() = 0;
  // Completions deliverable without a system call (block::Backend::process_ready_completions);
  // 0 is always correct: the rest arrive through completion_fd().
  virtual size_t process_ready_completions() { return 0; }
  virtual block::Geometry geometry() const = 0;
  virtual bool write_cache_enabled() const = 0;
  virtual void set_write_cache_enabled(bool on) = 0;
  // The write cache state the drive's cache mode starts with (restored on device reset).
  virtual bool default_write_cache() const = 0;
  // Zoned drives only: the characteristics for the config space (nullopt: not zoned).
  virtual std::optional<block::zoned::ZonedConfig> zoned_config() const { return std::nullopt; }
};

std::unique_ptr<BlkDisk> make_blk_disk(block::Backend& backend);
std::unique_ptr<BlkDisk> make_blk_disk(block::zoned::ZonedBackend& backend);

class VirtioBlk final : public VirtioPciDevice {
 public:
  // A regular disk (unchanged signature).
  VirtioBlk(const vmm::GuestMemory& memory, block::Backend& backend, const VirtioBlkOptions& options);
  // A host-managed zoned disk: VIRTIO_BLK_F_ZONED.
  VirtioBlk(const vmm::GuestMemory& memory, block::zoned::ZonedBackend& backend,
            const VirtioBlkOptions& options);
  // Any BlkDisk (tests, future backends); zoned iff disk->zoned_config() has a value.
  VirtioBlk(const vmm::GuestMemory& memory, std::unique_ptr<BlkDisk> disk, const VirtioBlkOptions& options);
  // Waits (bounded) for requests still in the backend: their completions point at our slots.
  ~VirtioBlk() override;

  void process_queue(uint16_t queue) override;
  // Delivers the backend's completions (what the I/O thread runs when completion_fd() fires).
  // Each queue is interrupted at most once, after all of them are in the used ring: the guest
  // then reaps the whole batch per interrupt instead of racing the device for it.
  size_t process_completions();
  // The I/O thread's busy-poll (vmm::IoLoop::add_poller): delivers completions the disk
  // already has and runs queues with new requests, as a completion signal or a kick would.
  // Returns whether it found anything.
  bool poll();

  // Requests handed to the backend and not completed yet (all queues).
  size_t in_flight();

  struct Stats {
    uint64_t requests = 0;         // chains taken from the rings
    uint64_t errors = 0;           // completed with any status but OK
    uint64_t parked = 0;           // completions held while bus mastering was off
    uint64_t dropped_on_reset = 0; // completions of requests the driver reset away
  };
  Stats stats();

 protected:
  void read_device_config(uint32_t offset, std::span<uint8_t> data) override;
  void write_device_config(uint32_t offset, std::span<const uint8_t> data) override;
  bool validate_features(uint64_t features) override;
  void features_accepted(uint64_t features) override;
  void device_reset() override;

 private:
  struct Range {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
  };
  enum class SlotState : uint8_t { kFree, kInFlight, kParked };
  // What the slot's request is, for completion: plain I/O (read/write/flush/discard ranges),
  // a zone management command, a ZONE_APPEND or a ZONE_REPORT.
  enum class SlotKind : uint8_t { kIo, kZoneCommand, kZoneAppend, kZoneReport };
  // Zone records fetched from the backend per report round (per-slot scratch, zoned only).
  static constexpr size_t kReportBatch = 16;

  struct Slot final : block::Completion {
    VirtioBlk* device = nullptr;
    uint16_t queue = 0;
    uint16_t index = 0;
    uint16_t head = 0;
    uint32_t generation = 0;
    SlotState state = SlotState::kFree;
    block::Request request;
    std::unique_ptr<iovec[]> iov;
    uint8_t* status = nullptr;
    bool is_read = false;
    SlotKind kind = SlotKind::kIo;
    std::unique_ptr<Range[]> ranges;
    uint32_t num_ranges = 0;
    uint32_t next_range = 0;
    block::Status result;
    size_t bytes = 0;
    // ZONE_APPEND: where the 8 append_sector bytes go (the start of the device-writable
    // in-header; they may straddle descriptors) and the in-header's length (status included).
    std::array<uint8_t*, blk::kAppendSectorBytes> append_at{};
    uint32_t in_len = 0;
    // ZONE_REPORT: the reply buffer is iov[0, iov_count); records fetched per round go to
    // `zones`; `report_max` descriptors fit, `report_written` are written so far.
    std::unique_ptr<block::ZoneReport[]> zones;
    size_t iov_count = 0;
    uint64_t report_max = 0;
    uint64_t report_written = 0;
    bool in_submit = false;     // inside disk_->submit() (a synchronous completion)
    bool submit_again = false;  // the completion asked for the next report round
    void complete(block::Status status, size_t bytes) override;
  };

  struct QueueState {
    std::unique_ptr<Slot[]> slots;
    std::vector<uint16_t> free;
    std::vector<uint16_t> parked;  // completed while bus mastering was off
    std::vector<uint16_t> resuming;  // process_queue()'s scratch: the parked ones going out
    std::bitset<SplitQueue::kMaxSize> busy_heads;  // heads owned by the device right now
    uint32_t generation = 0;
    bool starved = false;
  };

  static uint64_t offered_features(const BlkDisk& disk);
  void handle_chain(uint16_t queue, Chain& chain);
  void submit_report(Slot& slot);
  void continue_report(Slot& slot);
  void resume_parked(Slot& slot);
  void finish(uint16_t queue, uint16_t head, uint8_t* status, uint8_t code, uint32_t used_len);
  // While one lives, finish() only marks its queue; the last one to end signals the marked
  // queues that need it. Completions outside one (tests driving the backend) signal at once.
  class DeferredInterrupts;
  void signal_marked_queues();
  void finish_slot(Slot& slot);
  void release(Slot& slot);
  void on_complete(Slot& slot, block::Status status, size_t bytes);
  void submit_range(Slot& slot);
  bool map_iov(const Chain& chain, size_t first, size_t last, uint64_t skip, uint64_t bytes,
               Slot& slot, size_t& count) const;

  std::unique_ptr<BlkDisk> disk_;
  VirtioBlkOptions options_;
  std::optional<block::zoned::ZonedConfig> zoned_;  // set for a zoned drive
  uint32_t max_append_sectors_ = 0;                 // advertised (<= seg_max * size_max)
  bool read_only_;
  uint64_t capacity_sectors_;
  uint32_t physical_block_size_;
  uint32_t optimal_io_size_;
  bool may_unmap_;
  std::vector<QueueState> state_;
  Stats stats_;
  Chain chain_;  // scratch for the queue being processed
  unsigned interrupt_deferrals_ = 0;  // live DeferredInterrupts
  uint64_t marked_queues_ = 0;        // bit q: queue q got used elements while deferred
};

}  // namespace devices::virtio
