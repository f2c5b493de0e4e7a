#include "block/zoned/zoned_backend.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "block/error.h"

namespace block::zoned {
namespace {

uint64_t iov_bytes(std::span<const iovec> iov) {
  uint64_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

void zero_iov(std::span<const iovec> iov, uint64_t skip) {
  for (const iovec& v : iov) {
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    std::memset(static_cast<std::byte*>(v.iov_base) + skip, 0, v.iov_len - skip);
    skip = 0;
  }
}

Status error(StatusCode code) { return Status::of(code); }
Status eio() { return Status::from_errno(EIO); }

ZoneGeometry geometry_of(const Backend& inner, const ZonedOptions& options, const std::string& name) {
  Geometry g = inner.geometry();
  return resolve_geometry(options, g.size_bytes, g.physical_block_size, name);
}

ZoneMetadata metadata_of(const std::string& path, const ZoneGeometry& g, const Backend& inner) {
  if (path.empty()) return ZoneMetadata::in_memory(g);
  return ZoneMetadata::open(path, g, inner.geometry().read_only, inner.cache_mode().no_flush);
}

}  // namespace

// One request of ours to the inner backend: a write/append (tracked per zone until it is
// delivered), a read that needs zero fill above the data, or a flush.
struct ZonedBackend::Io final : Completion {
  enum class Kind : uint8_t { kRead, kWrite, kFuaSync, kFlush };
  // kWaiting: pass-through only, a write queued behind the zone's write on the device.
  enum class State : uint8_t { kWaiting, kInFlight, kDone, kFailed };

  ZonedBackend* owner = nullptr;
  Request inner;
  Request* outer = nullptr;  // nullptr: internal (shutdown flush)
  Kind kind = Kind::kRead;
  State state = State::kInFlight;
  bool fua = false;
  bool append = false;
  uint32_t zone = 0;
  uint64_t start = 0;  // sectors: the reserved range / the read's data limit
  uint64_t end = 0;
  uint64_t epoch = 0;
  Status status;
  Io* next = nullptr;
  std::vector<std::pair<uint32_t, std::pair<uint64_t, uint64_t>>> snapshot;  // zone, end, epoch

  void complete(Status s, size_t) override { owner->on_complete(*this, s); }
};

std::unique_ptr<ZonedBackend> ZonedBackend::open(const DriveOptions& options) {
  if (!options.zoned.enabled) throw BlockError("vmm: -drive file=" + options.file + ": not zoned");
  if (is_host_zoned_device(options.file)) {
    const ZonedOptions& z = options.zoned;
    if (z.zone_size != 0 || z.zone_capacity != 0 || z.conventional_zones_set || z.max_open_zones_set ||
        z.max_active_zones_set || z.max_append_sectors != 0) {
      throw BlockError("vmm: -drive file=" + options.file +
                       ": is a zoned block device: its zone geometry and limits come from the device "
                       "(remove the zone_* / *_zones / max_append_sectors options)");
    }
    if (!options.cache.direct) {
      throw BlockError("vmm: -drive file=" + options.file +
                       ": zoned block devices need cache=none or cache=directsync (O_DIRECT)");
    }
    std::unique_ptr<HostZoneDevice> device = HostZoneDevice::open(options.file);
    std::unique_ptr<Backend> inner = Backend::open(options);
    return std::make_unique<ZonedBackend>(std::move(inner), std::move(device), options.file);
  }
  std::unique_ptr<Backend> inner = Backend::open(options);
  return std::make_unique<ZonedBackend>(std::move(inner), options.zoned, metadata_path_for(options.file),
                                        options.file);
}

ZonedBackend::Setup ZonedBackend::setup_from_options(const Backend& inner, const ZonedOptions& options,
                                                     const std::string& metadata_path,
                                                     const std::string& image_name) {
  ZoneGeometry g = geometry_of(inner, options, image_name);
  ZoneMetadata metadata = metadata_of(metadata_path, g, inner);
  return Setup{g, std::move(metadata), nullptr, {}};
}

ZonedBackend::ZonedBackend(std::unique_ptr<Backend> inner, const ZonedOptions& options,
                           const std::string& metadata_path, const std::string& image_name)
    : ZonedBackend(std::move(inner), setup_from_options(*inner, options, metadata_path, image_name)) {}

ZonedBackend::ZonedBackend(std::unique_ptr<Backend> inner, std::unique_ptr<ZoneDevice> device,
                           const std::string& image_name)
    : ZonedBackend(std::move(inner), setup_from_device(*inner, std::move(device), image_name)) {}

ZonedBackend::ZonedBackend(std::unique_ptr<Backend>&& inner, Setup setup)
    : read_only_(inner->geometry().read_only),
      unsafe_(inner->cache_mode().no_flush),
      table_(setup.geometry),
      metadata_(std::move(setup.metadata)),
      runtime_(setup.geometry.nr_zones),
      device_(std::move(setup.device)),
      inner_(std::move(inner)) {
  const ZoneGeometry& g = table_.geometry();
  for (uint32_t z = g.conventional_zones; z < g.nr_zones; ++z) {
    if (device_) {
      load_zone(z, setup.device_zones[z], true);
      continue;
    }
    const PersistedZone& p = metadata_.loaded()[z];
    ZoneRuntime& rt = runtime_[z];
    if (p.corrupt) {
      table_.inject(z, ZoneCondition::kOffline);
    } else if (!table_.restore(z, p.condition, p.data_end)) {
      table_.inject(z, ZoneCondition::kOffline);  // values impossible for this zone
    }
    rt.durable = table_.zone(z).data_end;
    rt.persisted_condition = p.condition;
    rt.persisted_end = p.data_end;
  }
}

ZonedBackend::~ZonedBackend() {
  try {
    flush_for_shutdown();
  } catch (...) {
    // Nothing sensible to do in a destructor; the data is flushed on the next clean run.
  }
}

void ZonedBackend::flush_for_shutdown() {
  if (read_only_ || dirty_.empty()) return;
  Io& io = acquire();
  io.kind = Io::Kind::kFlush;
  for (uint32_t z : dirty_) {
    io.snapshot.push_back({z, {table_.zone(z).data_end, runtime_[z].epoch}});
    runtime_[z].dirty = false;
  }
  dirty_.clear();
  io.inner.op = Op::kFlush;
  shutdown_flush_done_ = false;
  inner_->submit(io.inner);
  for (int waited = 0; !shutdown_flush_done_ && waited < 30000; waited += 10) {
    pollfd p{inner_->completion_fd(), POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) inner_->process_completions();
  }
}

Geometry ZonedBackend::geometry() const {
  Geometry g = inner_->geometry();
  g.size_bytes = table_.geometry().disk_sectors * kSectorSize;
  g.discard = false;
  g.write_zeroes = false;
  g.physical_block_size = table_.geometry().write_granularity;
  return g;
}

ZonedConfig ZonedBackend::zoned_config() const {
  const ZoneGeometry& g = table_.geometry();
  ZonedConfig c;
  c.capacity_sectors = g.disk_sectors;
  c.nr_zones = g.nr_zones;
  c.zone_sectors = static_cast<uint32_t>(g.zone_sectors);
  c.max_open_zones = g.max_open_zones;
  c.max_active_zones = g.max_active_zones;
  c.max_append_sectors = g.max_append_sectors;
  c.write_granularity = g.write_granularity;
  return c;
}

size_t ZonedBackend::report_zones(uint64_t sector, std::span<ZoneReport> out) const {
  const ZoneGeometry& g = table_.geometry();
  if (sector >= g.disk_sectors) return 0;
  size_t n = 0;
  for (uint32_t z = g.zone_of(sector); z < g.nr_zones && n < out.size(); ++z) out[n++] = table_.report(z);
  return n;
}

Status ZonedBackend::inject_condition(uint32_t zone, ZoneCondition condition) {
  if (device_) return error(StatusCode::kUnsupported);
  if (zone >= runtime_.size() || runtime_[zone].writes != 0) return error(StatusCode::kInvalid);
  if (!table_.inject(zone, condition)) return error(StatusCode::kInvalid);
  return persist(zone, true);
}

// ---- submission ---------------------------------------------------------------------------

void ZonedBackend::submit(Request& req) {
  if (req.in_flight.busy) throw std::logic_error("block: request submitted again before it completed");
  req.zones_reported = 0;
  req.append_sector = 0;
  dispatch(req, false);
}

void ZonedBackend::dispatch(Request& req, bool from_held) {
  req.in_flight.busy = true;  // ours until delivered (or handed to the inner backend)
  if (req.offset % kSectorSize != 0 || req.length % kSectorSize != 0) {
    return detail::deliver(req, error(StatusCode::kInvalid), 0);
  }
  switch (req.op) {
    case Op::kRead:
      return handle_read(req);
    case Op::kWrite:
      return handle_write(req, false, from_held);
    case Op::kZoneAppend:
      return handle_write(req, true, from_held);
    case Op::kFlush:
      return handle_flush(req);
    case Op::kDiscard:
    case Op::kWriteZeroes:
      return handle_conventional(req);
    case Op::kZoneReport:
      return handle_report(req);
    case Op::kZoneOpen:
    case Op::kZoneClose:
    case Op::kZoneFinish:
    case Op::kZoneReset:
    case Op::kZoneResetAll:
      return handle_management(req, from_held);
  }
  detail::deliver(req, error(StatusCode::kUnsupported), 0);
}

void ZonedBackend::hold(Request& req) { held_.push_back(&req); }

bool ZonedBackend::blocked(const Request& req) const {
  if (req.op == Op::kZoneResetAll) return zone_writes_ != 0;
  if (req.op == Op::kZoneReset || req.op == Op::kZoneFinish) {
    std::optional<uint32_t> z = table_.sequential_zone_at(req.offset / kSectorSize);
    return z && runtime_[*z].writes != 0;
  }
  return false;
}

void ZonedBackend::drain_held() {
  while (!held_.empty() && !blocked(*held_.front())) dispatch(*held_.pop_front(), true);
}

void ZonedBackend::handle_read(Request& req) {
  uint64_t sector = req.offset / kSectorSize;
  uint64_t sectors = req.length / kSectorSize;
  if (iov_bytes(req.iov) != req.length) return detail::deliver(req, error(StatusCode::kInvalid), 0);
  if (Status s = table_.check_read(sector, sectors); !s.is_ok()) return detail::deliver(req, s, 0);
  const ZoneGeometry& g = table_.geometry();
  uint64_t end = sector + sectors;
  if (sectors == 0 || g.is_conventional(g.zone_of(end - 1))) {
    req.in_flight.busy = false;
    return inner_->submit(req);
  }
  uint32_t zone = g.zone_of(sector);
  uint64_t data_end = table_.zone(zone).data_end;
  if (data_end >= end) {
    req.in_flight.busy = false;
    return inner_->submit(req);
  }
  if (data_end <= sector) {  // nothing written there: zeroes, no I/O
    zero_iov(req.iov, 0);
    return detail::deliver(req, Status::ok(), req.length);
  }
  Io& io = acquire();
  io.kind = Io::Kind::kRead;
  io.outer = &req;
  io.zone = zone;
  io.start = data_end;  // zero from here
  io.inner.op = Op::kRead;
  io.inner.offset = req.offset;
  io.inner.length = req.length;
  io.inner.iov = req.iov;
  inner_->submit(io.inner);
}

void ZonedBackend::handle_write(Request& req, bool append, bool from_held) {
  if (read_only_) return detail::deliver(req, error(StatusCode::kReadOnly), 0);
  if (iov_bytes(req.iov) != req.length) return detail::deliver(req, error(StatusCode::kInvalid), 0);
  const ZoneGeometry& g = table_.geometry();
  uint64_t sector = req.offset / kSectorSize;
  uint64_t sectors = req.length / kSectorSize;
  if (sector >= g.disk_sectors) return detail::deliver(req, error(StatusCode::kOutOfRange), 0);
  uint32_t zone = g.zone_of(sector);
  if (!append && g.is_conventional(zone)) return handle_conventional(req);
  if (!append && sectors == 0) return detail::deliver(req, Status::ok(), 0);
  if (append && sectors == 0) return detail::deliver(req, error(StatusCode::kZoneInvalidCmd), 0);
  if (!held_.empty() && !from_held) return hold(req);
  ZoneRuntime& rt = runtime_[zone];
  if (rt.failed) return detail::deliver(req, eio(), 0);

  uint64_t start = 0;
  if (Status s = table_.reserve_write(sector, sectors, append, &start); !s.is_ok()) {
    return detail::deliver(req, s, 0);
  }
  Io& io = acquire();
  io.kind = Io::Kind::kWrite;
  io.outer = &req;
  io.zone = zone;
  io.start = start;
  io.end = start + sectors;
  io.append = append;
  io.epoch = rt.epoch;
  io.fua = (req.fua || !inner_->write_cache_enabled()) && !unsafe_;
  // A host zoned device needs a zone's writes to arrive in write-pointer order, which
  // concurrent submissions do not guarantee (io_uring retries a write that would block from a
  // worker thread, after later ones). So, pass-through: one write per zone on the device.
  const bool wait_turn = device_ && rt.tail != nullptr;
  if (rt.tail != nullptr) {
    rt.tail->next = &io;
  } else {
    rt.head = &io;
  }
  rt.tail = &io;
  ++rt.writes;
  ++zone_writes_;
  io.inner.op = Op::kWrite;
  io.inner.fua = req.fua;
  io.inner.offset = start * kSectorSize;
  io.inner.length = req.length;
  io.inner.iov = req.iov;
  if (wait_turn) {
    io.state = Io::State::kWaiting;
    return;
  }
  inner_->submit(io.inner);
}

// Pass-through: the zone's write on the device completed; start the next queued one, or, after
// a failure, fail them all (their sectors were reserved behind the failed write).
void ZonedBackend::start_next_write(uint32_t zone, bool failed) {
  for (Io* io = runtime_[zone].head; io != nullptr; io = io->next) {
    if (io->state != Io::State::kWaiting) continue;
    if (failed) {
      io->state = Io::State::kFailed;
      io->status = eio();
      continue;
    }
    io->state = Io::State::kInFlight;
    inner_->submit(io->inner);
    return;
  }
}

void ZonedBackend::handle_conventional(Request& req) {
  if (read_only_) return detail::deliver(req, error(StatusCode::kReadOnly), 0);
  Status s = table_.check_conventional(req.offset / kSectorSize, req.length / kSectorSize);
  if (!s.is_ok()) return detail::deliver(req, s, 0);
  req.in_flight.busy = false;
  inner_->submit(req);
}

void ZonedBackend::handle_flush(Request& req) {
  Io& io = acquire();
  io.kind = Io::Kind::kFlush;
  io.outer = &req;
  // Everything that completed so far is covered by this flush: its write pointers may be
  // persisted once the image's fdatasync has succeeded, not those of later completions.
  for (uint32_t z : dirty_) {
    io.snapshot.push_back({z, {table_.zone(z).data_end, runtime_[z].epoch}});
    runtime_[z].dirty = false;
  }
  dirty_.clear();
  io.inner.op = Op::kFlush;
  inner_->submit(io.inner);
}

void ZonedBackend::handle_report(Request& req) {
  uint64_t sector = req.offset / kSectorSize;
  if (sector >= table_.geometry().disk_sectors) return detail::deliver(req, error(StatusCode::kOutOfRange), 0);
  req.zones_reported = report_zones(sector, req.zone_report);
  detail::deliver(req, Status::ok(), 0);
}

void ZonedBackend::handle_management(Request& req, bool from_held) {
  if (read_only_) return detail::deliver(req, error(StatusCode::kReadOnly), 0);
  if ((!held_.empty() && !from_held) || blocked(req)) return hold(req);
  const ZoneGeometry& g = table_.geometry();
  if (req.op == Op::kZoneResetAll) {
    if (req.offset != 0 || req.length != 0) return detail::deliver(req, error(StatusCode::kInvalid), 0);
    std::vector<uint32_t> changed;
    for (uint32_t z = g.conventional_zones; z < g.nr_zones; ++z) {
      ZoneCondition c = table_.zone(z).condition;
      if (is_active(c) || c == ZoneCondition::kFull) changed.push_back(z);
    }
    table_.reset_all();
    Status result;
    for (uint32_t z : changed) {
      after_reset(z);
      if (device_) {
        Status s = device_command(Op::kZoneReset, z);
        if (!s.is_ok() && result.is_ok()) result = s;
      }
    }
    Status persisted = persist_zones(changed);
    if (result.is_ok() && persisted.is_ok()) {
      for (uint32_t z : changed) release_space(z);
    }
    return detail::deliver(req, result.is_ok() ? persisted : result, 0);
  }
  uint64_t sector = req.offset / kSectorSize;
  if (req.length != 0) return detail::deliver(req, error(StatusCode::kInvalid), 0);
  if (sector >= g.disk_sectors) return detail::deliver(req, error(StatusCode::kOutOfRange), 0);
  std::optional<uint32_t> zone = table_.sequential_zone_at(sector);
  if (!zone) return detail::deliver(req, error(StatusCode::kZoneInvalidCmd), 0);
  if (runtime_[*zone].failed) return detail::deliver(req, eio(), 0);
  Status s;
  const Zone before = table_.zone(*zone);
  switch (req.op) {
    case Op::kZoneOpen:
      s = table_.open(sector);
      break;
    case Op::kZoneClose:
      s = table_.close(sector);
      break;
    case Op::kZoneFinish:
      s = table_.finish(sector);
      break;
    default:
      s = table_.reset(sector);
      if (s.is_ok()) after_reset(*zone);
      break;
  }
  const Zone& after = table_.zone(*zone);
  bool changed = before.condition != after.condition || before.write_pointer != after.write_pointer;
  if (s.is_ok() && device_ && changed) s = device_command(req.op, *zone);
  if (s.is_ok()) s = persist(*zone, true);  // no I/O unless the persistent state changed
  if (s.is_ok() && req.op == Op::kZoneReset && changed) release_space(*zone);
  detail::deliver(req, s, 0);
}

void ZonedBackend::release_space(uint32_t zone) {
  const int fd = inner_->image_fd();
  if (device_ || read_only_ || fd < 0) return;
  const ZoneGeometry& g = table_.geometry();
  const auto start = static_cast<off_t>(g.zone_start(zone) * kSectorSize);
  const auto length = static_cast<off_t>(g.zone_length(zone) * kSectorSize);
  // Best effort: without hole punching (EOPNOTSUPP) the stale bytes just stay; reads above the
  // write pointer return zeroes either way.
  (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, length);
}

void ZonedBackend::after_reset(uint32_t zone) {
  ZoneRuntime& rt = runtime_[zone];
  ++rt.epoch;
  rt.durable = table_.geometry().zone_start(zone);
}

// ---- completion ---------------------------------------------------------------------------

void ZonedBackend::on_complete(Io& io, Status status) {
  switch (io.kind) {
    case Io::Kind::kRead: {
      Request& req = *io.outer;
      if (status.is_ok()) zero_iov(req.iov, (io.start * kSectorSize) - req.offset);
      release(io);
      detail::deliver(req, status, status.is_ok() ? req.length : 0);
      return;
    }
    case Io::Kind::kWrite:
      io.state = status.is_ok() ? Io::State::kDone : Io::State::kFailed;
      io.status = status;
      if (!status.is_ok()) runtime_[io.zone].failed = true;
      if (device_) start_next_write(io.zone, !status.is_ok());
      settle(io.zone);
      drain_held();
      return;
    case Io::Kind::kFuaSync: {
      ZoneRuntime& rt = runtime_[io.zone];
      if (status.is_ok() && rt.epoch == io.epoch) {
        rt.durable = std::max(rt.durable, io.end);
        status = persist(io.zone, true);
      }
      Request& req = *io.outer;
      uint64_t sector = io.start;
      bool append = io.append;
      release(io);
      if (append && status.is_ok()) req.append_sector = sector;
      detail::deliver(req, status, status.is_ok() ? req.length : 0);
      return;
    }
    case Io::Kind::kFlush:
      return finish_flush(io, status);
  }
}

void ZonedBackend::settle(uint32_t zone) {
  ZoneRuntime& rt = runtime_[zone];
  Io* ready = nullptr;
  Io** ready_tail = &ready;
  auto take_head = [&] {
    Io* io = rt.head;
    rt.head = io->next;
    if (rt.head == nullptr) rt.tail = nullptr;
    io->next = nullptr;
    --rt.writes;
    --zone_writes_;
    *ready_tail = io;
    ready_tail = &io->next;
    return io;
  };
  bool durable_moved = false;
  while (rt.head != nullptr && rt.head->state == Io::State::kDone) {
    Io* io = take_head();
    table_.commit(zone, io->end);
    if (io->fua && rt.durable == io->start) {
      rt.durable = io->end;  // FUA data directly continuing durable data
      durable_moved = true;
    }
    if (table_.zone(zone).data_end > rt.durable) mark_dirty(zone);
  }
  if (rt.failed && rt.head != nullptr && rt.head->state == Io::State::kFailed) {
    bool later_in_flight = false;
    for (Io* io = rt.head; io != nullptr; io = io->next) later_in_flight |= io->state == Io::State::kInFlight;
    if (!later_in_flight) {
      table_.roll_back(zone, rt.head->start);
      while (rt.head != nullptr) {
        Io* io = take_head();
        if (io->state == Io::State::kDone) io->status = eio();  // beyond the failed write
      }
      rt.failed = false;
      // A device may have written part of the failed request: its write pointer decides.
      if (device_) resync_from_device(zone);
    }
  }
  Status persisted = durable_moved ? persist(zone, true) : Status::ok();

  while (ready != nullptr) {
    Io& io = *ready;
    ready = io.next;
    io.next = nullptr;
    Status s = io.status;
    if (s.is_ok() && io.fua && !persisted.is_ok()) s = persisted;
    if (s.is_ok() && io.fua && rt.durable < io.end && rt.epoch == io.epoch) {
      // FUA write above data that is not durable yet (an earlier write without FUA): flush
      // the image, then the write pointer covering this write can be persisted.
      io.kind = Io::Kind::kFuaSync;
      io.end = table_.zone(zone).data_end;
      io.inner = Request{};
      io.inner.op = Op::kFlush;
      io.inner.completion = &io;
      inner_->submit(io.inner);
      continue;
    }
    Request& req = *io.outer;
    if (io.append && s.is_ok()) req.append_sector = io.start;
    release(io);
    detail::deliver(req, s, s.is_ok() ? req.length : 0);
  }
}

void ZonedBackend::finish_flush(Io& io, Status status) {
  std::vector<uint32_t> zones;
  zones.reserve(io.snapshot.size());
  for (auto& [z, v] : io.snapshot) {
    ZoneRuntime& rt = runtime_[z];
    if (status.is_ok() && rt.epoch == v.second) rt.durable = std::max(rt.durable, v.first);
    if (table_.zone(z).data_end > rt.durable) mark_dirty(z);
    zones.push_back(z);
  }
  if (status.is_ok()) status = persist_zones(zones);
  Request* req = io.outer;
  release(io);
  if (req == nullptr) {
    shutdown_flush_done_ = true;
    return;
  }
  detail::deliver(*req, status, 0);
}

ZonedBackend::Io& ZonedBackend::acquire() {
  if (free_.empty()) {
    pool_.push_back(std::make_unique<Io>());
    free_.push_back(pool_.back().get());
  }
  Io& io = *free_.back();
  free_.pop_back();
  io.owner = this;
  io.inner = Request{};
  io.inner.completion = &io;
  io.outer = nullptr;
  io.state = Io::State::kInFlight;
  io.fua = io.append = false;
  io.zone = 0;
  io.start = io.end = 0;
  io.status = Status::ok();
  io.next = nullptr;
  io.snapshot.clear();
  return io;
}

void ZonedBackend::release(Io& io) { free_.push_back(&io); }

}  // namespace block::zoned
