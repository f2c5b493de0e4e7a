#include "block/io_steps.h"

#include <limits.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace block::detail {
namespace {

// Source for write-zeroes when the filesystem cannot fallocate. Immutable; page aligned so
// it also satisfies O_DIRECT.
constexpr size_t kZeroChunk = 128 * 1024;
alignas(4096) const std::byte kZeroes[kZeroChunk] = {};

bool is_transfer(Action action) {
  return action == Action::kRead || action == Action::kWrite;
}

bool iov_aligned(std::span<const iovec> iov, const DioAlignment& align) {
  for (const iovec& v : iov) {
    if (reinterpret_cast<uintptr_t>(v.iov_base) % align.memory != 0) return false;
    if (v.iov_len % align.offset != 0) return false;
  }
  return true;
}

// Copies between a flat buffer and the guest iovecs, starting `skip` bytes into the iovecs.
template <typename Fn>
void for_each_piece(std::span<const iovec> iov, uint64_t skip, uint64_t bytes, Fn fn) {
  uint64_t pos = 0;
  for (const iovec& v : iov) {
    if (bytes == 0) return;
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    size_t n = std::min<uint64_t>(v.iov_len - skip, bytes);
    fn(static_cast<std::byte*>(v.iov_base) + skip, pos, n);
    pos += n;
    bytes -= n;
    skip = 0;
  }
}

// A read hit end of file: the rest of the disk is a hole and reads as zeroes.
void zero_rest(Request& req) {
  InFlight& f = req.in_flight;
  uint64_t rest = f.total - f.done;
  if (f.bounce) {
    std::memset(f.bounce.data() + f.done, 0, rest);
  } else {
    for_each_piece(req.iov, f.done, rest,
                   [](std::byte* dst, uint64_t, size_t n) { std::memset(dst, 0, n); });
  }
  f.done = f.total;
}

// Writethrough write-zeroes: the zeroes must be durable before completion, like a FUA write.
Step sync_or_finish(InFlight& f) {
  if (f.sync_after) {
    f.sync_after = false;
    f.action = Action::kDatasync;
    return Step::kContinue;
  }
  f.status = Status::ok();
  return Step::kFinished;
}

// Guest write data into the bounce buffer, at the request's place in the widened range.
void copy_in(Request& req) {
  std::byte* dst = req.in_flight.bounce.data() + (req.offset - req.in_flight.file_offset);
  for_each_piece(req.iov, 0, req.length,
                 [dst](std::byte* src, uint64_t pos, size_t n) { std::memcpy(dst + pos, src, n); });
}

}  // namespace

Status prepare(Request& req, const IoContext& ctx, BouncePool& pool) {
  InFlight& f = req.in_flight;
  f.file_offset = req.offset;
  f.total = req.length;
  f.done = 0;
  f.status = Status::ok();
  if (!ctx.direct || !is_transfer(f.action)) return Status::ok();

  uint64_t start = align_down(req.offset, ctx.align.offset);
  uint64_t end = align_up(req.offset + req.length, ctx.align.offset);
  bool range_aligned = start == req.offset && end == req.offset + req.length;
  if (range_aligned && iov_aligned(req.iov, ctx.align)) return Status::ok();
  f.bounce = pool.acquire(end - start);
  f.file_offset = start;
  f.total = end - start;
  if (f.action == Action::kWrite) {
    if (!range_aligned) {
      f.rmw = true;
      f.action = Action::kRead;  // phase 1: old contents of the widened range
      return Status::ok();
    }
    copy_in(req);
  }
  return Status::ok();
}

Segment next_segment(Request& req) {
  InFlight& f = req.in_flight;
  uint64_t offset = f.file_offset + f.done;
  if (f.action == Action::kWriteZeroBuffer) {
    f.segment = {const_cast<std::byte*>(kZeroes), std::min<uint64_t>(kZeroChunk, f.total - f.done)};
    return {&f.segment, 1, offset};
  }
  if (f.bounce) {
    f.segment = {f.bounce.data() + f.done, f.total - f.done};
    return {&f.segment, 1, offset};
  }
  uint64_t skip = f.done;
  size_t i = 0;
  while (i < req.iov.size() && skip >= req.iov[i].iov_len) skip -= req.iov[i++].iov_len;
  if (skip != 0) {
    // Resuming inside an iovec: send just its tail; the next round starts on a boundary.
    const iovec& v = req.iov[i];
    f.segment = {static_cast<std::byte*>(v.iov_base) + skip, v.iov_len - skip};
    return {&f.segment, 1, offset};
  }
  int count = static_cast<int>(std::min<size_t>(req.iov.size() - i, IOV_MAX));
  return {req.iov.data() + i, count, offset};
}

Step account(Request& req, int64_t result, const IoContext& ctx) {
  InFlight& f = req.in_flight;
  if (result == -EAGAIN || result == -EINTR) return Step::kContinue;
  if (result < 0) {
    int err = static_cast<int>(-result);
    if (f.action == Action::kFallocate && (err == EOPNOTSUPP || err == ENOSYS)) {
      if (f.ignore_unsupported) {
        f.status = Status::ok();
        return Step::kFinished;
      }
      if (f.zero_fallback) {
        f.action = Action::kWriteZeroBuffer;
        f.done = 0;
        return Step::kContinue;
      }
    }
    f.status = Status::from_errno(err);
    return Step::kFinished;
  }
  if (f.action == Action::kDatasync) {
    f.status = Status::ok();
    return Step::kFinished;
  }
  if (f.action == Action::kFallocate) return sync_or_finish(f);
  if (result == 0) {
    if (f.action == Action::kRead) {
      zero_rest(req);
    } else {
      f.status = Status::from_errno(EIO);  // a write that makes no progress would loop forever
      return Step::kFinished;
    }
  }
  f.done += static_cast<uint64_t>(result);
  if (f.done < f.total && f.action == Action::kRead && ctx.direct &&
      (f.file_offset + f.done) % ctx.align.offset != 0) {
    // O_DIRECT reads only come back short at end of file, and the next offset would be
    // unaligned anyway.
    zero_rest(req);
  }
  if (f.done < f.total) return Step::kContinue;
  if (f.rmw && f.action == Action::kRead) {
    // Phase 2 of read-modify-write: merge the guest data and write the whole blocks back.
    copy_in(req);
    f.action = Action::kWrite;
    f.done = 0;
    return Step::kContinue;
  }
  return sync_or_finish(f);
}

size_t finish(Request& req) {
  InFlight& f = req.in_flight;
  // (An RMW that failed in its read phase is a write: its iovecs are sources, never filled.)
  if (f.bounce && f.action == Action::kRead && !f.rmw && f.status.is_ok()) {
    const std::byte* src = f.bounce.data() + (req.offset - f.file_offset);
    for_each_piece(req.iov, 0, req.length,
                   [src](std::byte* dst, uint64_t pos, size_t n) { std::memcpy(dst, src + pos, n); });
  }
  f.bounce.reset();
  bool transfer = is_transfer(f.action);
  return f.status.is_ok() && transfer ? req.length : 0;
}

}  // namespace block::detail
