#include "devices/virtio/virtio_blk.h"

#include <poll.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

namespace devices::virtio {
namespace {

using namespace blk;

// `zone_request`: a zone request type (REPORT, APPEND, OPEN, ...). For those, a range or
// argument the zoned model rejects is ZONE_INVALID_CMD ("all other error conditions related
// to zoned block model operation"); for IN/OUT it stays IOERR.
uint8_t to_virtio_status(block::Status status, bool zone_request) {
  switch (status.code) {
    case block::StatusCode::kOk:
      return kStatusOk;
    case block::StatusCode::kUnsupported:
      return kStatusUnsupp;
    case block::StatusCode::kZoneInvalidCmd:
      return kStatusZoneInvalidCmd;
    case block::StatusCode::kZoneUnalignedWp:
      return kStatusZoneUnalignedWp;
    case block::StatusCode::kZoneOpenResource:
      return kStatusZoneOpenResource;
    case block::StatusCode::kZoneActiveResource:
      return kStatusZoneActiveResource;
    case block::StatusCode::kOutOfRange:
    case block::StatusCode::kInvalid:
      return zone_request ? kStatusZoneInvalidCmd : kStatusIoErr;
    default:
      return kStatusIoErr;
  }
}

bool is_zone_type(uint32_t type) {
  switch (type) {
    case kTypeZoneAppend:
    case kTypeZoneReport:
    case kTypeZoneOpen:
    case kTypeZoneClose:
    case kTypeZoneFinish:
    case kTypeZoneReset:
    case kTypeZoneResetAll:
      return true;
    default:
      return false;
  }
}

void put(uint8_t* at, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

// Copies `n` bytes from the concatenation of segments [first, last), starting `skip` bytes in.
// Returns the bytes copied.
size_t gather(const Chain& chain, size_t first, size_t last, uint64_t skip, uint8_t* out, size_t n) {
  size_t done = 0;
  for (size_t i = first; i < last && done < n; ++i) {
    const Segment& s = chain.segments[i];
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    size_t take = std::min<uint64_t>(s.length - skip, n - done);
    std::memcpy(out + done, s.host + skip, take);
    done += take;
    skip = 0;
  }
  return done;
}

// The inverse: writes `n` bytes into segments [first, last).
size_t scatter(const Chain& chain, size_t first, size_t last, const uint8_t* in, size_t n) {
  size_t done = 0;
  for (size_t i = first; i < last && done < n; ++i) {
    const Segment& s = chain.segments[i];
    size_t take = std::min<uint64_t>(s.length, n - done);
    std::memcpy(s.host, in + done, take);
    done += take;
  }
  return done;
}

// Writes `n` bytes at byte `offset` of the buffer described by iov[0, count) (the bytes may
// straddle entries). Returns the bytes written (fewer if the buffer ends first).
size_t iov_write(const iovec* iov, size_t count, uint64_t offset, const uint8_t* in, size_t n) {
  size_t done = 0;
  for (size_t i = 0; i < count && done < n; ++i) {
    if (offset >= iov[i].iov_len) {
      offset -= iov[i].iov_len;
      continue;
    }
    size_t take = std::min<uint64_t>(iov[i].iov_len - offset, n - done);
    std::memcpy(static_cast<uint8_t*>(iov[i].iov_base) + offset, in + done, take);
    done += take;
    offset = 0;
  }
  return done;
}

// One virtio_blk_zone_descriptor.
void encode_zone(const block::ZoneReport& z, uint8_t (&out)[kZoneDescriptorBytes]) {
  std::memset(out, 0, sizeof out);
  put(out + 0, z.capacity, 8);
  put(out + 8, z.start, 8);
  put(out + 16, z.write_pointer, 8);
  out[24] = static_cast<uint8_t>(z.type);
  out[25] = static_cast<uint8_t>(z.condition);
}

// The block-layer calls VirtioBlk makes, over either backend type (same member names).
template <typename B>
class DiskOver : public BlkDisk {
 public:
  explicit DiskOver(B& backend) : b_(backend) {}
  void submit(block::Request& req) override { b_.submit(req); }
  void begin_batch() override { b_.begin_batch(); }
  void end_batch() override { b_.end_batch(); }
  int completion_fd() const override { return b_.completion_fd(); }
  size_t process_completions() override { return b_.process_completions(); }
  size_t process_ready_completions() override { return b_.process_ready_completions(); }
  block::Geometry geometry() const override { return b_.geometry(); }
  bool write_cache_enabled() const override { return b_.write_cache_enabled(); }
  void set_write_cache_enabled(bool on) override { b_.set_write_cache_enabled(on); }

 protected:
  B& b_;
};

class PlainDisk final : public DiskOver<block::Backend> {
 public:
  using DiskOver::DiskOver;
  bool default_write_cache() const override { return b_.cache_mode().writeback; }
};

class ZonedDisk final : public DiskOver<block::zoned::ZonedBackend> {
 public:
  using DiskOver::DiskOver;
  bool default_write_cache() const override { return b_.inner().cache_mode().writeback; }
  std::optional<block::zoned::ZonedConfig> zoned_config() const override { return b_.zoned_config(); }
};

class BatchGuard {
 public:
  explicit BatchGuard(BlkDisk& disk) : disk_(disk) { disk_.begin_batch(); }
  ~BatchGuard() { disk_.end_batch(); }
  BatchGuard(const BatchGuard&) = delete;
  BatchGuard& operator=(const BatchGuard&) = delete;

 private:
  BlkDisk& disk_;
};

const BlkDisk& require(const std::unique_ptr<BlkDisk>& disk) {
  if (!disk) throw std::invalid_argument("VirtioBlk: no disk");
  return *disk;
}

}  // namespace

std::unique_ptr<BlkDisk> make_blk_disk(block::Backend& backend) { return std::make_unique<PlainDisk>(backend); }

std::unique_ptr<BlkDisk> make_blk_disk(block::zoned::ZonedBackend& backend) {
  return std::make_unique<ZonedDisk>(backend);
}

VirtioBlk::VirtioBlk(const vmm::GuestMemory& memory, block::Backend& backend,
                     const VirtioBlkOptions& options)
    : VirtioBlk(memory, make_blk_disk(backend), options) {}

VirtioBlk::VirtioBlk(const vmm::GuestMemory& memory, block::zoned::ZonedBackend& backend,
                     const VirtioBlkOptions& options)
    : VirtioBlk(memory, make_blk_disk(backend), options) {}

VirtioBlk::VirtioBlk(const vmm::GuestMemory& memory, std::unique_ptr<BlkDisk> disk,
                     const VirtioBlkOptions& options)
    : VirtioPciDevice(memory,
                      Params{.device_type = device_type::kBlock,
                             .num_queues = std::max<uint16_t>(options.num_queues, 1),
                             .max_queue_size = options.queue_size,
                             .device_features = offered_features(require(disk)),
                             .device_config_size = cfg::kSize}),
      disk_(std::move(disk)),
      options_(options),
      zoned_(disk_->zoned_config()) {
  block::Geometry g = disk_->geometry();
  read_only_ = g.read_only;
  capacity_sectors_ = g.size_bytes / kSectorSize;
  physical_block_size_ = std::max<uint32_t>(g.physical_block_size, kSectorSize);
  optimal_io_size_ = g.optimal_io_size;
  may_unmap_ = g.discard;
  options_.num_queues = num_queues();
  options_.seg_max = std::clamp<uint32_t>(options_.seg_max, 1, 1024);
  if (zoned_) {
    capacity_sectors_ = zoned_->capacity_sectors;
    physical_block_size_ = std::max<uint32_t>(zoned_->write_granularity, kSectorSize);
    // The spec caps max_append_sectors at seg_max * size_max; keep it a multiple of the
    // write granularity.
    uint64_t by_segments = uint64_t{options_.seg_max} * options_.size_max / kSectorSize;
    uint64_t granule = std::max<uint64_t>(zoned_->write_granularity / kSectorSize, 1);
    uint64_t max_append = std::min<uint64_t>(zoned_->max_append_sectors, by_segments);
    max_append_sectors_ = static_cast<uint32_t>(max_append - max_append % granule);
  }
  options_.max_discard_seg = std::clamp<uint32_t>(options_.max_discard_seg, 1, 256);
  options_.max_write_zeroes_seg = std::clamp<uint32_t>(options_.max_write_zeroes_seg, 1, 256);

  uint16_t slots = std::min<uint16_t>(options_.queue_size, SplitQueue::kMaxSize);
  uint32_t max_ranges = std::max(options_.max_discard_seg, options_.max_write_zeroes_seg);
  state_.resize(num_queues());
  for (uint16_t q = 0; q < num_queues(); ++q) {
    QueueState& qs = state_[q];
    qs.slots = std::make_unique<Slot[]>(slots);
    for (uint16_t i = 0; i < slots; ++i) {
      Slot& s = qs.slots[i];
      s.device = this;
      s.queue = q;
      s.index = i;
      s.iov = std::make_unique<iovec[]>(options_.seg_max);
      s.ranges = std::make_unique<Range[]>(max_ranges);
      if (zoned_) s.zones = std::make_unique<block::ZoneReport[]>(kReportBatch);
      s.request.completion = &s;
    }
    qs.free.reserve(slots);
    qs.parked.reserve(slots);
    qs.resuming.reserve(slots);
    for (uint16_t i = slots; i > 0; --i) qs.free.push_back(static_cast<uint16_t>(i - 1));
  }
  chain_.segments.reserve(2 * SplitQueue::kMaxSize);
}

VirtioBlk::~VirtioBlk() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{disk_->completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    disk_->process_completions();
  }
}

uint64_t VirtioBlk::offered_features(const BlkDisk& disk) {
  // FLUSH is always offered (the spec asks for it, and CONFIG_WCE requires it); with the
  // write cache off a flush is cheap. DISCARD is offered even with discard=ignore (a hint the
  // backend may drop), never on a read-only disk.
  //
  // A zoned drive offers ZONED and neither DISCARD (a host-managed device: the spec forbids
  // the driver to negotiate it, and the zone layer only discards conventional zones) nor
  // WRITE_ZEROES (Linux sends it to sequential zones as a write at the write pointer; the
  // zone layer accepts it on conventional zones only, so the guest would see EIO).
  uint64_t f = bit(kSizeMax) | bit(kSegMax) | bit(kBlkSize) | bit(kTopology) | bit(kFlush) |
               bit(kConfigWce) | bit(kMq);
  if (disk.geometry().read_only) f |= bit(kRo);
  if (disk.zoned_config()) {
    f |= bit(kZoned);
  } else if (!disk.geometry().read_only) {
    f |= bit(kDiscard) | bit(kWriteZeroes);
  }
  return f;
}

size_t VirtioBlk::in_flight() {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  uint16_t slots = std::min<uint16_t>(options_.queue_size, SplitQueue::kMaxSize);
  for (QueueState& qs : state_) {
    for (uint16_t i = 0; i < slots; ++i) n += qs.slots[i].state == SlotState::kInFlight;
  }
  return n;
}

VirtioBlk::Stats VirtioBlk::stats() {
  std::lock_guard lock(mutex_);
  return stats_;
}

void VirtioBlk::read_device_config(uint32_t offset, std::span<uint8_t> data) {
  uint8_t c[cfg::kSize] = {};
  put(c + cfg::kCapacity, capacity_sectors_, 8);
  put(c + cfg::kSizeMax, options_.size_max, 4);
  put(c + cfg::kSegMax, options_.seg_max, 4);
  put(c + cfg::kBlkSize, kSectorSize, 4);
  c[cfg::kPhysicalBlockExp] = static_cast<uint8_t>(std::countr_zero(physical_block_size_ / kSectorSize));
  c[cfg::kAlignmentOffset] = 0;
  put(c + cfg::kMinIoSize, 1, 2);
  put(c + cfg::kOptIoSize, optimal_io_size_ / kSectorSize, 4);
  c[cfg::kWriteback] = disk_->write_cache_enabled() ? 1 : 0;
  put(c + cfg::kNumQueues, num_queues(), 2);
  if (zoned_) {
    // Host-managed: always visible (FEATURES_OK needs ZONED anyway). Other models would show
    // zeroes unless ZONED was negotiated (spec: HA/NONE devices without ZONED).
    if (zoned_->model == kZonedModelHostManaged || has_feature(kZoned)) {
      put(c + cfg::kZoneSectors, zoned_->zone_sectors, 4);
      put(c + cfg::kMaxOpenZones, zoned_->max_open_zones, 4);
      put(c + cfg::kMaxActiveZones, zoned_->max_active_zones, 4);
      put(c + cfg::kMaxAppendSectors, max_append_sectors_, 4);
      put(c + cfg::kWriteGranularity, zoned_->write_granularity, 4);
      c[cfg::kZonedModel] = zoned_->model;
    }
  } else if (!read_only_) {
    put(c + cfg::kMaxDiscardSectors, options_.max_discard_sectors, 4);
    put(c + cfg::kMaxDiscardSeg, options_.max_discard_seg, 4);
    put(c + cfg::kDiscardSectorAlignment, physical_block_size_ / kSectorSize, 4);
    put(c + cfg::kMaxWriteZeroesSectors, options_.max_write_zeroes_sectors, 4);
    put(c + cfg::kMaxWriteZeroesSeg, options_.max_write_zeroes_seg, 4);
    c[cfg::kWriteZeroesMayUnmap] = may_unmap_ ? 1 : 0;
  }
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < cfg::kSize ? c[offset + i] : 0;
}

void VirtioBlk::write_device_config(uint32_t offset, std::span<const uint8_t> data) {
  // Only `writeback` is writable, and only with CONFIG_WCE. A driver that cannot flush
  // (FLUSH not negotiated) cannot turn the write cache on.
  if (!has_feature(kConfigWce)) return;
  if (offset <= cfg::kWriteback && offset + data.size() > cfg::kWriteback) {
    bool on = data[cfg::kWriteback - offset] != 0;
    if (on && !has_feature(kFlush)) return;
    disk_->set_write_cache_enabled(on);
  }
}

bool VirtioBlk::validate_features(uint64_t features) {
  // "If the VIRTIO_BLK_F_ZONED feature is not accepted by the driver, the device with the
  // VIRTIO_BLK_Z_HM zone model MUST fail to set the FEATURES_OK device status bit."
  if (zoned_ && zoned_->model == kZonedModelHostManaged && !(features & bit(kZoned))) return false;
  return true;
}

void VirtioBlk::features_accepted(uint64_t features) {
  // Without FLUSH the driver cannot make writes durable: every write must be (writethrough).
  if (!(features & bit(kFlush))) disk_->set_write_cache_enabled(false);
}

void VirtioBlk::device_reset() {
  disk_->set_write_cache_enabled(disk_->default_write_cache());
  uint16_t slots = std::min<uint16_t>(options_.queue_size, SplitQueue::kMaxSize);
  for (QueueState& qs : state_) {
    // Requests still in the backend belong to the old queue: their completions are dropped.
    ++qs.generation;
    qs.starved = false;
    qs.busy_heads.reset();
    qs.parked.clear();
    qs.free.clear();
    for (uint16_t i = slots; i > 0; --i) {
      Slot& s = qs.slots[i - 1];
      if (s.state == SlotState::kParked) s.state = SlotState::kFree;
      if (s.state == SlotState::kFree) qs.free.push_back(s.index);
    }
  }
}

class VirtioBlk::DeferredInterrupts {
 public:
  explicit DeferredInterrupts(VirtioBlk& device) : device_(device) { ++device_.interrupt_deferrals_; }
  ~DeferredInterrupts() {
    if (--device_.interrupt_deferrals_ == 0) device_.signal_marked_queues();
  }
  DeferredInterrupts(const DeferredInterrupts&) = delete;
  DeferredInterrupts& operator=(const DeferredInterrupts&) = delete;

 private:
  VirtioBlk& device_;
};

void VirtioBlk::signal_marked_queues() {
  uint64_t marked = std::exchange(marked_queues_, 0);
  while (marked != 0) {
    auto q = static_cast<uint16_t>(std::countr_zero(marked));
    marked &= marked - 1;
    if (queue(q).needs_interrupt()) signal_queue(q);
  }
}

size_t VirtioBlk::process_completions() {
  std::lock_guard lock(mutex_);
  DeferredInterrupts deferred(*this);
  return disk_->process_completions();
}

bool VirtioBlk::poll() {
  uint64_t ready = 0;  // queues with new requests (at most 64)
  bool completed;
  {
    std::lock_guard lock(mutex_);
    DeferredInterrupts deferred(*this);
    completed = disk_->process_ready_completions() > 0;
    if (live() && dma_allowed()) {
      for (uint16_t q = 0; q < num_queues(); ++q) {
        if (queue(q).enabled && queue(q).has_available()) ready |= uint64_t{1} << q;
      }
    }
  }
  const bool found = completed || ready != 0;
  for (uint16_t q = 0; ready != 0; ++q, ready >>= 1) {
    if (ready & 1) process_queue(q);
  }
  return found;
}

void VirtioBlk::process_queue(uint16_t q) {
  std::lock_guard lock(mutex_);
  DeferredInterrupts deferred(*this);  // synchronous completions: one interrupt at the end
  if (q >= num_queues() || !live()) return;
  SplitQueue& vq = queue(q);
  if (!vq.enabled) return;
  if (!dma_allowed()) return;  // resumed by the kick when bus mastering comes back
  QueueState& qs = state_[q];

  // Completions parked while bus mastering was off go out first, in completion order.
  // (Swapped with a scratch list: both keep their reserved capacity, so parking never allocates.)
  qs.resuming.swap(qs.parked);
  for (uint16_t index : qs.resuming) resume_parked(qs.slots[index]);
  qs.resuming.clear();

  BatchGuard batch(*disk_);
  uint32_t budget = vq.size;
  while (live() && vq.enabled) {
    if (qs.free.empty()) {
      qs.starved = true;  // a completion frees a slot and kicks us
      break;
    }
    if (budget == 0) {
      if (vq.has_available()) kick(q);  // let other work run; continue later
      break;
    }
    const char* why = "";
    PopResult r = vq.pop(chain_, &why);
    if (r == PopResult::kEmpty) {
      vq.publish_avail_event();
      if (vq.has_available()) continue;
      break;
    }
    if (r == PopResult::kBroken) {
      set_needs_reset(why);
      break;
    }
    --budget;
    ++stats_.requests;
    handle_chain(q, chain_);
  }
  // Still inside the batch: completions the backend already has (NullDriver) are delivered
  // now, with no eventfd write and read, and interrupts coalesce with EVENT_IDX as usual.
  disk_->process_ready_completions();
}

bool VirtioBlk::map_iov(const Chain& chain, size_t first, size_t last, uint64_t skip, uint64_t bytes,
                        Slot& slot, size_t& count) const {
  count = 0;
  for (size_t i = first; i < last && bytes > 0; ++i) {
    const Segment& s = chain.segments[i];
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    uint64_t take = std::min<uint64_t>(s.length - skip, bytes);
    if (count == options_.seg_max) return false;
    slot.iov[count++] = iovec{s.host + skip, static_cast<size_t>(take)};
    bytes -= take;
    skip = 0;
  }
  return true;
}

void VirtioBlk::handle_chain(uint16_t q, Chain& chain) {
  const auto& segs = chain.segments;
  if (segs.empty() || !segs.back().writable || segs.back().host == nullptr) {
    set_needs_reset("request without a writable status byte in guest RAM");
    return;
  }
  uint8_t* status = segs.back().host + segs.back().length - 1;
  auto fail = [&](uint8_t code) { finish(q, chain.head, status, code, 1); };

  // Driver-readable descriptors first, then device-writable ones; all in RAM, none empty.
  size_t n = segs.size();
  size_t readable = 0;
  while (readable < n && !segs[readable].writable) ++readable;
  uint64_t in_bytes = 0;
  uint64_t out_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    if (segs[i].host == nullptr || (i >= readable && !segs[i].writable)) return fail(kStatusIoErr);
    (i < readable ? out_bytes : in_bytes) += segs[i].length;
  }
  if (out_bytes < 16) return fail(kStatusIoErr);
  uint8_t header[16];
  gather(chain, 0, readable, 0, header, sizeof header);
  uint32_t type;
  uint64_t sector;
  std::memcpy(&type, header, 4);
  std::memcpy(&sector, header + 8, 8);
  uint64_t out_payload = out_bytes - 16;  // driver -> device data after the header
  uint64_t in_payload = in_bytes - 1;     // device -> driver data before the status byte

  QueueState& qs = state_[q];
  // A head the device still owns (in the backend, or parked) cannot be available again: the
  // driver reused descriptors it gave away.
  if (qs.busy_heads.test(chain.head)) {
    set_needs_reset("descriptor head made available while still in use");
    return;
  }
  auto take_slot = [&]() -> Slot& {
    Slot& s = qs.slots[qs.free.back()];
    qs.free.pop_back();
    s.state = SlotState::kInFlight;
    s.head = chain.head;
    qs.busy_heads.set(chain.head);
    s.generation = qs.generation;
    s.status = status;
    s.num_ranges = 0;
    s.next_range = 0;
    s.is_read = false;
    s.kind = SlotKind::kIo;
    s.bytes = 0;
    s.in_len = 0;
    s.iov_count = 0;
    s.report_max = 0;
    s.report_written = 0;
    s.in_submit = false;
    s.submit_again = false;
    s.append_at.fill(nullptr);
    s.request.fua = false;
    s.request.unmap = false;
    s.request.iov = {};
    s.request.length = 0;
    s.request.offset = 0;
    s.request.zone_report = {};
    return s;
  };

  // Zone requests: only on a zoned drive with ZONED negotiated ("If the VIRTIO_BLK_F_ZONED
  // feature is not negotiated, the device MUST reject ... with VIRTIO_BLK_S_UNSUPP").
  if (is_zone_type(type) && (!zoned_ || !has_feature(kZoned))) return fail(kStatusUnsupp);

  switch (type) {
    case kTypeIn:
    case kTypeOut: {
      bool read = type == kTypeIn;
      if (read ? out_payload != 0 : in_payload != 0) return fail(kStatusIoErr);
      if (!read && read_only_) return fail(kStatusIoErr);
      if (sector > std::numeric_limits<uint64_t>::max() / kSectorSize) return fail(kStatusIoErr);
      uint64_t bytes = read ? in_payload : out_payload;
      Slot& s = take_slot();
      size_t count = 0;
      bool ok = read ? map_iov(chain, readable, n, 0, bytes, s, count)
                     : map_iov(chain, 0, readable, 16, bytes, s, count);
      if (!ok) {  // more data segments than seg_max
        release(s);
        return fail(kStatusIoErr);
      }
      s.is_read = read;
      s.request.op = read ? block::Op::kRead : block::Op::kWrite;
      s.request.offset = sector * kSectorSize;
      s.request.length = bytes;
      s.request.iov = {s.iov.get(), count};
      disk_->submit(s.request);
      return;
    }
    case kTypeFlush: {
      Slot& s = take_slot();
      s.request.op = block::Op::kFlush;
      disk_->submit(s.request);
      return;
    }
    case kTypeZoneOpen:
    case kTypeZoneClose:
    case kTypeZoneFinish:
    case kTypeZoneReset:
    case kTypeZoneResetAll: {
      // No data: header and status byte only. The sector must be a zone start (the zone
      // layer checks); RESET_ALL ignores it.
      if (out_payload != 0 || in_payload != 0) return fail(kStatusIoErr);
      bool all = type == kTypeZoneResetAll;
      if (!all && sector >= capacity_sectors_) return fail(kStatusZoneInvalidCmd);
      Slot& s = take_slot();
      s.kind = SlotKind::kZoneCommand;
      s.request.op = type == kTypeZoneOpen     ? block::Op::kZoneOpen
                     : type == kTypeZoneClose  ? block::Op::kZoneClose
                     : type == kTypeZoneFinish ? block::Op::kZoneFinish
                     : type == kTypeZoneReset  ? block::Op::kZoneReset
                                               : block::Op::kZoneResetAll;
      s.request.offset = all ? 0 : sector * kSectorSize;
      disk_->submit(s.request);
      return;
    }
    case kTypeZoneAppend: {
      // Data out; the device-writable part is the in-header: le64 append_sector first, the
      // status as its last byte. The spec draws it as 9 bytes; Linux posts its unpacked
      // struct { le64 sector; u8 status; }, 16 bytes on 64-bit (12 on i386) with the status
      // read from the last byte, so anything >= 9 bytes is accepted, sector at the start.
      if (in_payload < kAppendSectorBytes) return fail(kStatusIoErr);
      if (read_only_) return fail(kStatusIoErr);
      if (sector >= capacity_sectors_) return fail(kStatusZoneInvalidCmd);
      // "exceeds max_append_sectors: UNSUPP if that is zero, else ZONE_INVALID_CMD".
      if (max_append_sectors_ == 0) return fail(kStatusUnsupp);
      if (out_payload > uint64_t{max_append_sectors_} * kSectorSize) return fail(kStatusZoneInvalidCmd);
      Slot& s = take_slot();
      size_t count = 0;
      if (!map_iov(chain, 0, readable, 16, out_payload, s, count)) {
        release(s);
        return fail(kStatusIoErr);
      }
      size_t k = 0;
      for (size_t i = readable; i < n && k < kAppendSectorBytes; ++i) {
        for (uint32_t b = 0; b < segs[i].length && k < kAppendSectorBytes; ++b) s.append_at[k++] = segs[i].host + b;
      }
      s.kind = SlotKind::kZoneAppend;
      // Used length on success: the whole in-header.
      s.in_len = static_cast<uint32_t>(std::min<uint64_t>(in_bytes, std::numeric_limits<uint32_t>::max()));
      s.request.op = block::Op::kZoneAppend;
      s.request.offset = sector * kSectorSize;
      s.request.length = out_payload;
      s.request.iov = {s.iov.get(), count};
      disk_->submit(s.request);
      return;
    }
    case kTypeZoneReport: {
      // A device-writable reply buffer (often many segments) then the status byte. It must
      // hold the header and at least one descriptor.
      if (out_payload != 0) return fail(kStatusIoErr);
      if (in_payload < kZoneReportHeaderBytes + kZoneDescriptorBytes) return fail(kStatusZoneInvalidCmd);
      if (sector >= capacity_sectors_) return fail(kStatusZoneInvalidCmd);
      Slot& s = take_slot();
      size_t count = 0;
      if (!map_iov(chain, readable, n, 0, in_payload, s, count)) {
        release(s);
        return fail(kStatusIoErr);
      }
      s.kind = SlotKind::kZoneReport;
      s.iov_count = count;
      s.report_max = (in_payload - kZoneReportHeaderBytes) / kZoneDescriptorBytes;
      s.request.op = block::Op::kZoneReport;
      s.request.offset = sector * kSectorSize;
      s.request.zone_report = {s.zones.get(), kReportBatch};
      submit_report(s);
      return;
    }
    case kTypeGetId: {
      uint8_t id[kIdBytes] = {};
      std::memcpy(id, options_.serial.data(), std::min(options_.serial.size(), kIdBytes));
      size_t written = scatter(chain, readable, n, id, std::min<uint64_t>(in_payload, kIdBytes));
      return finish(q, chain.head, status, kStatusOk, static_cast<uint32_t>(written + 1));
    }
    case kTypeDiscard:
    case kTypeWriteZeroes: {
      bool discard = type == kTypeDiscard;
      if (!has_feature(discard ? kDiscard : kWriteZeroes)) return fail(kStatusUnsupp);
      if (read_only_) return fail(kStatusIoErr);
      uint32_t max_seg = discard ? options_.max_discard_seg : options_.max_write_zeroes_seg;
      uint32_t max_sectors = discard ? options_.max_discard_sectors : options_.max_write_zeroes_sectors;
      if (in_payload != 0 || out_payload == 0 || out_payload % 16 != 0) return fail(kStatusIoErr);
      if (out_payload / 16 > max_seg) return fail(kStatusIoErr);
      auto num = static_cast<uint32_t>(out_payload / 16);
      Slot& s = take_slot();
      uint8_t raw[16];
      uint8_t code = kStatusOk;
      for (uint32_t i = 0; i < num; ++i) {
        gather(chain, 0, readable, 16 + uint64_t{i} * 16, raw, 16);
        Range& r = s.ranges[i];
        std::memcpy(&r.sector, raw, 8);
        std::memcpy(&r.num_sectors, raw + 8, 4);
        std::memcpy(&r.flags, raw + 12, 4);
        if ((r.flags & ~kFlagUnmap) || (discard && (r.flags & kFlagUnmap))) {
          code = kStatusUnsupp;  // the spec's answer to unknown flags / unmap on discard
          break;
        }
        if (r.num_sectors > max_sectors || r.sector > capacity_sectors_ ||
            r.num_sectors > capacity_sectors_ - r.sector) {
          code = kStatusIoErr;
        }
      }
      if (code != kStatusOk) {
        release(s);
        return fail(code);
      }
      s.num_ranges = num;
      s.request.op = discard ? block::Op::kDiscard : block::Op::kWriteZeroes;
      submit_range(s);
      return;
    }
    default:
      return fail(kStatusUnsupp);  // GET_LIFETIME, SECURE_ERASE, unknown
  }
}

void VirtioBlk::submit_report(Slot& s) {
  // A report may take several rounds of kReportBatch zones. The zoned backend answers
  // synchronously (inside submit()), so rounds run in this loop rather than by recursion:
  // a completion inside submit() only asks for the next round.
  do {
    s.submit_again = false;
    s.in_submit = true;
    disk_->submit(s.request);
    s.in_submit = false;
  } while (s.submit_again);
}

void VirtioBlk::continue_report(Slot& s) {
  if (!s.result.is_ok()) return finish_slot(s);
  uint64_t got = std::min<uint64_t>(s.request.zones_reported, kReportBatch);
  uint64_t take = std::min(got, s.report_max - s.report_written);
  uint8_t record[kZoneDescriptorBytes];
  for (uint64_t i = 0; i < take; ++i) {
    encode_zone(s.zones[i], record);
    iov_write(s.iov.get(), s.iov_count, kZoneReportHeaderBytes + s.report_written * kZoneDescriptorBytes,
              record, sizeof record);
    ++s.report_written;
  }
  if (take == kReportBatch && s.report_written < s.report_max) {
    const block::ZoneReport& last = s.zones[take - 1];
    uint64_t next = last.start + last.length;
    if (next > last.start && next < capacity_sectors_) {
      s.request.offset = next * kSectorSize;
      if (s.in_submit) {
        s.submit_again = true;
      } else {
        submit_report(s);
      }
      return;
    }
  }
  // The header last: nr_zones = descriptors actually written.
  uint8_t header[kZoneReportHeaderBytes] = {};
  put(header, s.report_written, 8);
  iov_write(s.iov.get(), s.iov_count, 0, header, sizeof header);
  s.bytes = kZoneReportHeaderBytes + s.report_written * kZoneDescriptorBytes;
  finish_slot(s);
}

void VirtioBlk::resume_parked(Slot& s) {
  if (s.kind == SlotKind::kZoneReport) return continue_report(s);
  finish_slot(s);
}

void VirtioBlk::submit_range(Slot& s) {
  const Range& r = s.ranges[s.next_range++];
  s.request.offset = r.sector * kSectorSize;
  s.request.length = uint64_t{r.num_sectors} * kSectorSize;
  s.request.unmap = (r.flags & kFlagUnmap) != 0;
  s.request.iov = {};
  disk_->submit(s.request);
}

void VirtioBlk::Slot::complete(block::Status status, size_t bytes) {
  device->on_complete(*this, status, bytes);
}

void VirtioBlk::on_complete(Slot& s, block::Status status, size_t bytes) {
  std::lock_guard lock(mutex_);
  QueueState& qs = state_[s.queue];
  if (s.generation != qs.generation) {  // the device was reset meanwhile: forget it
    ++stats_.dropped_on_reset;
    release(s);
    return;
  }
  if (s.kind == SlotKind::kZoneReport) {
    // The records are written into guest memory only while bus mastering is on.
    s.result = status;
    if (!dma_allowed()) {
      s.state = SlotState::kParked;
      qs.parked.push_back(s.index);
      ++stats_.parked;
      return;
    }
    return continue_report(s);
  }
  if (status.is_ok() && s.next_range < s.num_ranges) {
    submit_range(s);
    return;
  }
  s.result = status;
  s.bytes = bytes;
  if (!dma_allowed()) {
    s.state = SlotState::kParked;
    qs.parked.push_back(s.index);
    ++stats_.parked;
    return;
  }
  finish_slot(s);
}

void VirtioBlk::finish_slot(Slot& s) {
  uint8_t code = to_virtio_status(s.result, s.kind != SlotKind::kIo);
  uint32_t used = 1;
  if (code == kStatusOk) {
    if (s.is_read || s.kind == SlotKind::kZoneReport) used = static_cast<uint32_t>(s.bytes + 1);
    if (s.kind == SlotKind::kZoneAppend) {
      for (size_t i = 0; i < kAppendSectorBytes; ++i) {
        *s.append_at[i] = static_cast<uint8_t>(s.request.append_sector >> (8 * i));
      }
      used = s.in_len;  // the whole in-header
    }
  }
  uint16_t q = s.queue;
  uint16_t head = s.head;
  uint8_t* status = s.status;
  release(s);
  finish(q, head, status, code, used);
}

void VirtioBlk::release(Slot& s) {
  QueueState& qs = state_[s.queue];
  if (s.generation == qs.generation) qs.busy_heads.reset(s.head);
  s.state = SlotState::kFree;
  qs.free.push_back(s.index);
  if (qs.starved) {
    qs.starved = false;
    kick(s.queue);
  }
}

void VirtioBlk::finish(uint16_t q, uint16_t head, uint8_t* status, uint8_t code, uint32_t used_len) {
  if (code != kStatusOk) ++stats_.errors;
  *status = code;  // before the used element is published (push_used releases)
  SplitQueue& vq = queue(q);
  vq.push_used(head, used_len);
  if (interrupt_deferrals_ > 0 && q < 64) {
    marked_queues_ |= uint64_t{1} << q;
  } else if (vq.needs_interrupt()) {
    signal_queue(q);
  }
}

}  // namespace devices::virtio
