#pragma once
// Driver-independent steps of executing one request: staging through bounce buffers, choosing
// the next piece after a short transfer, interpreting a syscall/CQE result. Both the io_uring
// and the thread-pool driver run the same steps, so they behave identically.
#include <cstdint>

#include "block/alignment.h"
#include "block/bounce_pool.h"
#include "block/request.h"

namespace block::detail {

struct IoContext {
  bool direct = false;    // the fd has O_DIRECT
  DioAlignment align;     // its constraints (only meaningful when direct)
};

// Where the next transfer of a read/write goes.
struct Segment {
  const iovec* iov;
  int count;
  uint64_t offset;
};

// On the submitting thread, before the first transfer: sets the transfer range and, when the
// guest buffers or range break O_DIRECT rules, stages through a bounce buffer (copying write
// data in). Returns non-ok if the request cannot be executed.
//
// A write that does not cover whole O_DIRECT blocks (512-byte guest sectors on 4K-native host
// storage) becomes a read-modify-write of the widened range: in_flight.rmw is set, the first
// phase reads the edge blocks' old contents into the bounce buffer, the second writes it back
// with the guest data merged in. Because it rewrites bytes outside the request, the driver
// must run it with no other request in flight (in_flight.rmw marks it), or a concurrent write
// to a neighbouring sector could be lost.
Status prepare(Request& req, const IoContext& ctx, BouncePool& pool);

Segment next_segment(Request& req);

enum class Step { kFinished, kContinue };
// Accounts one transfer result (bytes or -errno). kFinished: in_flight.status is final.
// kContinue: issue next_segment() (or the same action again) once more.
Step account(Request& req, int64_t result, const IoContext& ctx);

// On the completing thread: copies bounced read data to the guest, releases the buffer and
// returns the byte count to report.
size_t finish(Request& req);

}  // namespace block::detail
