#pragma once
// Helpers for the zoned tests: a request slot with zone results, an I/O-thread stand-in for
// ZonedBackend, and ManualDriver, a memory disk whose requests complete only when the test
// says so (and fail if it says so), to exercise in-flight write-pointer handling.
#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/driver.h"
#include "block/request_queue.h"
#include "block/unique_fd.h"
#include "block/zoned/zoned_backend.h"
#include "tests/block/test_util.h"

namespace block {
inline void PrintTo(const Status& s, std::ostream* os) { *os << to_string(s); }
}  // namespace block

namespace block::zoned::testing {

constexpr uint64_t kSector = 512;

struct ZSlot : Completion {
  Request req;
  std::vector<uint8_t> buf;
  iovec iov{};
  int completions = 0;
  Status status;
  size_t bytes = 0;
  uint64_t append_sector = ~uint64_t{0};
  int order = -1;           // global completion order (set from a shared counter)
  int* counter = nullptr;

  ZSlot() { req.completion = this; }
  void complete(Status s, size_t n) override {
    ++completions;
    status = s;
    bytes = n;
    append_sector = req.append_sector;
    if (counter) order = (*counter)++;
  }
  // Prepares an I/O with its own buffer of `bytes` (filled with `fill` for writes).
  void io(Op op, uint64_t offset, size_t nbytes, uint8_t fill = 0) {
    req.op = op;
    req.offset = offset;
    req.length = nbytes;
    buf.assign(nbytes, fill);
    iov = {buf.data(), nbytes};
    req.iov = {&iov, 1};
  }
  void zone_op(Op op, uint64_t offset) {
    req.op = op;
    req.offset = offset;
    req.length = 0;
    req.iov = {};
  }
};

using block::testing::pump_until;

// Submits and waits; returns the status.
inline Status run(ZonedBackend& backend, ZSlot& slot) {
  slot.completions = 0;
  backend.submit(slot.req);
  EXPECT_TRUE(pump_until(backend, [&] { return slot.completions > 0; }));
  EXPECT_EQ(slot.completions, 1);
  return slot.status;
}

inline Status zone_op(ZonedBackend& backend, Op op, uint64_t sector) {
  ZSlot s;
  s.zone_op(op, sector * kSector);
  return run(backend, s);
}

inline Status write_at(ZonedBackend& backend, uint64_t sector, size_t nbytes, uint8_t fill = 0xab,
                       bool fua = false) {
  ZSlot s;
  s.io(Op::kWrite, sector * kSector, nbytes, fill);
  s.req.fua = fua;
  return run(backend, s);
}

inline ZoneReport report_one(ZonedBackend& backend, uint64_t sector) {
  ZoneReport r;
  EXPECT_EQ(backend.report_zones(sector, {&r, 1}), 1u);
  return r;
}

inline Status code(StatusCode c) { return Status::of(c); }

// A memory disk. Requests wait in `pending` until finish()/finish_all(); completions are
// delivered from process_completions() like a real driver.
class ManualDriver final : public Driver {
 public:
  explicit ManualDriver(size_t bytes) : disk(bytes, 0), efd_(make_eventfd()) {}

  void submit(Request& req) override {
    pending.push_back(&req);
    if (immediate) finish(pending.size() - 1);
  }
  int completion_fd() const override { return efd_.get(); }
  // With report_ready, finished requests are reported ready, so a submitter may reap them
  // inside its batch (what RawUringDriver's completion queue would allow).
  bool completions_ready() const override { return report_ready && !ready_.empty(); }
  size_t in_flight() const override { return pending.size() + ready_.size(); }
  size_t process_completions() override {
    drain_eventfd(efd_.get());
    detail::RequestQueue ready = ready_.take_all();
    size_t n = 0;
    while (Request* r = ready.pop_front()) {
      detail::InFlight& f = r->in_flight;
      bool transfer = f.action == detail::Action::kRead || f.action == detail::Action::kWrite;
      detail::deliver(*r, f.status, f.status.is_ok() && transfer ? r->length : 0);
      ++n;
    }
    return n;
  }

  // Executes pending[i] (or fails it with EIO) and makes its completion ready.
  void finish(size_t i, bool ok = true) {
    Request* r = pending.at(i);
    pending.erase(pending.begin() + static_cast<long>(i));
    detail::InFlight& f = r->in_flight;
    f.status = ok ? Status::ok() : Status::from_errno(EIO);
    if (ok) execute(*r);
    ready_.push_back(r);
    signal_eventfd(efd_.get());
  }
  void finish_all() {
    while (!pending.empty()) finish(0);
  }

  std::vector<uint8_t> disk;
  std::vector<Request*> pending;
  bool immediate = false;  // complete at once (e.g. for the final flush at teardown)
  bool report_ready = false;

 private:
  void execute(Request& r) {
    uint64_t pos = r.offset;
    switch (r.in_flight.action) {
      case detail::Action::kRead:
        for (const iovec& v : r.iov) {
          std::memcpy(v.iov_base, disk.data() + pos, v.iov_len);
          pos += v.iov_len;
        }
        break;
      case detail::Action::kWrite:
        for (const iovec& v : r.iov) {
          std::memcpy(disk.data() + pos, v.iov_base, v.iov_len);
          pos += v.iov_len;
        }
        break;
      default:
        break;
    }
  }

  UniqueFd efd_;
  detail::RequestQueue ready_;
};

}  // namespace block::zoned::testing
