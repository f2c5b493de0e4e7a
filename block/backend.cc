#include "block/backend.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "block/error.h"
#include "block/io_steps.h"
#include "block/raw_uring_driver.h"
#include "block/threadpool_driver.h"

namespace block {
namespace {

constexpr uint64_t kSector = 512;

uint64_t iov_bytes(std::span<const iovec> iov) {
  uint64_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

void complete_now(Request& req, Status status) { detail::deliver(req, status, 0); }

}  // namespace

std::unique_ptr<Backend> Backend::open(const DriveOptions& options) {
  ImageFile image = ImageFile::open(options.file, options.read_only, options.cache.direct,
                                    cache_mode_name(options.cache));
  detail::IoContext ctx{image.direct(), image.dio_alignment()};
  std::unique_ptr<Driver> driver;
  try {
    if (options.aio == AioEngine::kIoUring) {
      driver = std::make_unique<RawUringDriver>(image.fd(), ctx, RawUringDriver::Options{});
    } else {
      driver = std::make_unique<ThreadPoolDriver>(image.fd(), ctx, ThreadPoolDriver::Options{});
    }
  } catch (const std::system_error& e) {
    // Typically io_uring disabled by the host (sysctl, seccomp): say what to do about it.
    throw BlockError("vmm: -drive file=" + options.file + ": cannot start aio=" +
                     std::string(to_string(options.aio)) + ": " + e.what() +
                     (options.aio == AioEngine::kIoUring ? " (try aio=threads)" : ""));
  }
  BackendPolicy policy{options.cache, options.read_only, options.discard_unmap};
  return std::make_unique<Backend>(std::move(image), std::move(driver), policy);
}

Backend::Backend(std::unique_ptr<Driver> driver, BackendPolicy policy, uint64_t size_bytes,
                 uint32_t physical_block_size)
    : driver_(std::move(driver)),
      policy_(policy),
      size_bytes_(size_bytes),
      physical_block_size_(physical_block_size),
      write_cache_(policy.cache.writeback) {}

Backend::Backend(ImageFile image, std::unique_ptr<Driver> driver, BackendPolicy policy)
    : image_(std::move(image)),
      driver_(std::move(driver)),
      policy_(policy),
      size_bytes_(image_->size()),
      physical_block_size_(image_->physical_block_size()),
      write_cache_(policy.cache.writeback) {
  policy_.read_only = policy_.read_only || image_->read_only();
}

Backend::~Backend() = default;

Geometry Backend::geometry() const {
  Geometry g;
  g.size_bytes = size_bytes_;
  g.physical_block_size = physical_block_size_;
  g.read_only = policy_.read_only;
  g.discard = policy_.discard_unmap && !policy_.read_only;
  g.write_zeroes = !policy_.read_only;
  g.write_cache = write_cache_enabled();
  return g;
}

Status Backend::check_range(const Request& req) const {
  if (req.offset % kSector != 0 || req.length % kSector != 0) return Status::of(StatusCode::kInvalid);
  if (req.offset > size_bytes_ || req.length > size_bytes_ - req.offset) {
    return Status::of(StatusCode::kOutOfRange);
  }
  return Status::ok();
}

void Backend::submit(Request& req) {
  detail::InFlight& f = req.in_flight;
  // A device bug, not a guest error: resetting the state would corrupt the driver's queues.
  if (f.busy) throw std::logic_error("block: request submitted again before it completed");
  f = detail::InFlight{};
  f.busy = true;
  bool modifies = req.op == Op::kWrite || req.op == Op::kDiscard || req.op == Op::kWriteZeroes;
  // Zone requests reach a plain Backend only when the drive is not zoned (the zoned layer,
  // block/zoned/, handles them itself): like a virtio-blk disk without F_ZONED.
  if (req.op >= Op::kZoneReport) return complete_now(req, Status::of(StatusCode::kUnsupported));

  if (req.op == Op::kFlush) {
    // Read-only: nothing can be dirty, and firmware (OVMF) flushes anyway: succeed.
    // Unsafe: accepted, deliberately not executed.
    if (policy_.read_only || policy_.cache.no_flush) return complete_now(req, Status::ok());
    f.action = detail::Action::kDatasync;
    return driver_->submit(req);
  }

  if (Status range = check_range(req); !range.is_ok()) return complete_now(req, range);
  if (modifies && policy_.read_only) return complete_now(req, Status::of(StatusCode::kReadOnly));

  // Durability wanted: the guest asked (FUA) or its write cache is off (writethrough). In
  // unsafe mode nothing is ever made durable on request.
  bool durable = (req.fua || !write_cache_enabled()) && !policy_.cache.no_flush;

  switch (req.op) {
    case Op::kRead:
    case Op::kWrite:
      if (iov_bytes(req.iov) != req.length) return complete_now(req, Status::of(StatusCode::kInvalid));
      if (req.length == 0) return complete_now(req, Status::ok());
      f.action = req.op == Op::kRead ? detail::Action::kRead : detail::Action::kWrite;
      if (req.op == Op::kWrite && durable) f.rw_flags = RWF_DSYNC;
      break;
    case Op::kDiscard:
      // discard=ignore: a hint we may drop, like QEMU.
      if (!policy_.discard_unmap || req.length == 0) return complete_now(req, Status::ok());
      f.action = detail::Action::kFallocate;
      f.fallocate_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
      f.ignore_unsupported = true;
      break;
    case Op::kWriteZeroes:
      if (req.length == 0) return complete_now(req, Status::ok());
      f.action = detail::Action::kFallocate;
      f.fallocate_mode = (req.unmap && policy_.discard_unmap)
                             ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                             : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
      f.zero_fallback = true;
      f.sync_after = durable;
      break;
    case Op::kFlush:
    case Op::kZoneReport:
    case Op::kZoneOpen:
    case Op::kZoneClose:
    case Op::kZoneFinish:
    case Op::kZoneReset:
    case Op::kZoneResetAll:
    case Op::kZoneAppend:
      break;  // handled above
  }
  driver_->submit(req);
}

}  // namespace block
