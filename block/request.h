#pragma once
// The one request type where devices and backends meet. A device (virtio-blk, AHCI, IDE)
// translates guest descriptors/PRDs into host iovecs pointing into mapped guest RAM, fills a
// Request it owns (preallocated slots: nothing is allocated per request) and submits it to a
// block::Backend. The block layer never looks at guest memory layout; the device never sees
// a file.
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "block/bounce_pool.h"
#include "block/status.h"

namespace block {

enum class Op : uint8_t {
  kRead,
  kWrite,
  kFlush,        // make every completed write durable (fdatasync)
  kDiscard,      // guest no longer needs the range (punch hole when discard=unmap)
  kWriteZeroes,  // range reads back as zeroes afterwards; Request::unmap allows deallocation
  // Zoned drives only (block::zoned::ZonedBackend); a plain Backend answers kUnsupported.
  // Open/close/finish/reset take the zone start in `offset` (bytes) and no data.
  kZoneReport,    // fill Request::zone_report from the zone containing `offset`
  kZoneOpen,      // explicit open
  kZoneClose,
  kZoneFinish,
  kZoneReset,
  kZoneResetAll,  // every non-empty sequential zone; offset and length must be 0
  kZoneAppend,    // write at the zone's write pointer; `offset` is the zone start.
                  // On success Request::append_sector holds the first sector written.
};

// Zone types and conditions. The numeric values are the ones virtio-blk and ZBC/ZAC use, so a
// device may cast them onto the wire.
enum class ZoneType : uint8_t {
  kConventional = 1,
  kSequentialWriteRequired = 2,
};

enum class ZoneCondition : uint8_t {
  kNotWritePointer = 0,  // conventional zones
  kEmpty = 1,
  kImplicitOpen = 2,
  kExplicitOpen = 3,
  kClosed = 4,
  kReadOnly = 13,
  kFull = 14,
  kOffline = 15,
};

// One REPORT ZONES record (all values in 512-byte sectors). `write_pointer` is meaningful only
// for EMPTY, open and CLOSED zones; conventional and FULL zones report start + length,
// READ-ONLY and OFFLINE zones report ~0 (the spec leaves it undefined; Linux ignores it).
struct ZoneReport {
  uint64_t start = 0;
  uint64_t length = 0;    // zone size (the last zone may be smaller)
  uint64_t capacity = 0;  // writable sectors, <= length
  uint64_t write_pointer = 0;
  ZoneType type = ZoneType::kConventional;
  ZoneCondition condition = ZoneCondition::kNotWritePointer;
};

// Implemented by devices (usually by their request slot). Called exactly once per submitted
// request, on the thread that drives the backend. `bytes` is the payload length for reads and
// writes on success, else 0. The request may be reused (resubmitted) from inside complete().
class Completion {
 public:
  virtual void complete(Status status, size_t bytes) = 0;

 protected:
  ~Completion() = default;
};

struct Request;

namespace detail {

// What the driver actually executes, after the backend applied the cache/discard policy.
enum class Action : uint8_t { kRead, kWrite, kDatasync, kFallocate, kWriteZeroBuffer };

// Block-layer bookkeeping carried inside the request so that queueing and completion need no
// allocation. Devices must not touch it.
struct InFlight {
  bool busy = false;        // submitted and not yet completed (catches double submission)
  Request* next = nullptr;  // intrusive link for the driver's backlog and completion lists
  Action action = Action::kRead;
  int rw_flags = 0;                  // RWF_DSYNC for writes that must be durable (FUA)
  int fallocate_mode = 0;            // FALLOC_FL_* for kFallocate
  bool zero_fallback = false;        // fallocate unsupported -> write zeroes instead
  bool ignore_unsupported = false;   // discard: EOPNOTSUPP just means "nothing to do"
  bool sync_after = false;           // fdatasync once the action succeeded (writethrough)
  bool rmw = false;                  // O_DIRECT read-modify-write: runs alone (see io_steps.h)
  uint64_t file_offset = 0;          // start of the transfer (widened when bouncing)
  uint64_t total = 0;                // bytes to transfer from file_offset
  uint64_t done = 0;                 // bytes already transferred (short I/O resumes here)
  iovec segment{};                   // single segment for resumed/bounced/zero transfers
  BounceBuffer bounce;               // O_DIRECT staging when guest buffers are unaligned
  Status status;                     // result, set when the driver finishes
};

}  // namespace detail

struct Request {
  Op op = Op::kRead;
  bool fua = false;    // this write must be durable when it completes (virtio/ATA FUA)
  bool unmap = false;  // kWriteZeroes: the range may be deallocated
  uint64_t offset = 0;  // bytes; multiple of the logical block size (512)
  uint64_t length = 0;  // bytes; for reads/writes equals the total size of iov
  std::span<const iovec> iov;  // not owned: points into guest RAM
  Completion* completion = nullptr;

  // Zoned drives (see Op). kZoneReport: the output array (its size is the maximum number of
  // records); zones_reported says how many were filled. kZoneAppend: append_sector is the
  // first sector written. Both are set before complete() is called and valid only on success.
  std::span<ZoneReport> zone_report;
  uint64_t zones_reported = 0;
  uint64_t append_sector = 0;

  detail::InFlight in_flight;  // owned by the block layer while submitted
};

namespace detail {

// The single place where a request leaves the block layer.
inline void deliver(Request& req, Status status, size_t bytes) {
  req.in_flight.busy = false;
  req.completion->complete(status, bytes);  // may resubmit req
}

}  // namespace detail

}  // namespace block
