#include "block/raw_uring_driver.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace block {
namespace {

void init_ring(io_uring& ring, unsigned entries) {
  io_uring_params params{};
  // CLAMP: a too-large depth is reduced rather than refused. SUBMIT_ALL: one bad SQE does not
  // stop the rest of a batch from being submitted.
  params.flags = IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
  int ret = io_uring_queue_init_params(entries, &ring, &params);
  if (ret == -EINVAL) {  // kernel older than 5.18
    params = {};
    ret = io_uring_queue_init_params(entries, &ring, &params);
  }
  if (ret < 0) throw std::system_error(-ret, std::generic_category(), "block: io_uring_queue_init");
}

}  // namespace

RawUringDriver::RawUringDriver(int fd, detail::IoContext ctx, Options options)
    : fd_(fd),
      ctx_(ctx),
      efd_(make_eventfd()),
      pool_(ctx.direct ? options.bounce_slots : 0, options.bounce_slot_size) {
  init_ring(ring_, options.queue_depth);
  capacity_ = ring_.sq.ring_entries;
  int ret = io_uring_register_eventfd(&ring_, efd_.get());
  if (ret < 0) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(-ret, std::generic_category(), "block: io_uring_register_eventfd");
  }
}

RawUringDriver::~RawUringDriver() {
  // The kernel may still write into guest memory for in-flight requests: wait for them
  // (without delivering completions) before the ring and the fd go away.
  flush_submissions();
  while (in_kernel_ > 0) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring_, &cqe) < 0) break;
    io_uring_cqe_seen(&ring_, cqe);
    --in_kernel_;
  }
  io_uring_queue_exit(&ring_);
}

void RawUringDriver::submit(Request& req) {
  Status prepared = detail::prepare(req, ctx_, pool_);
  if (!prepared.is_ok()) {
    req.in_flight.status = prepared;
    finished_.push_back(&req);
    signal_eventfd(efd_.get());
    return;
  }
  // Keep order: once something waits in the backlog, newcomers queue behind it.
  if (!backlog_.empty() || !try_start(req)) {
    backlog_.push_back(&req);
    if (backlog_.size() > backlog_high_water_) backlog_high_water_ = backlog_.size();
  }
  if (batch_depth_ == 0) flush_submissions();
}

void RawUringDriver::end_batch() {
  if (batch_depth_ > 0 && --batch_depth_ == 0) flush_submissions();
}

bool RawUringDriver::try_start(Request& req) {
  if (exclusive_) return false;
  bool rmw = req.in_flight.rmw;
  if (rmw && (in_kernel_ > 0 || !resume_.empty())) return false;  // wait until all else drained
  if (!issue(req)) return false;
  exclusive_ = rmw;
  return true;
}

bool RawUringDriver::issue(Request& req) {
  if (in_kernel_ >= capacity_) return false;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    flush_submissions();
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return false;
  }
  detail::InFlight& f = req.in_flight;
  switch (f.action) {
    case detail::Action::kRead: {
      detail::Segment seg = detail::next_segment(req);
      io_uring_prep_readv(sqe, fd_, seg.iov, seg.count, seg.offset);
      break;
    }
    case detail::Action::kWrite:
    case detail::Action::kWriteZeroBuffer: {
      detail::Segment seg = detail::next_segment(req);
      io_uring_prep_writev2(sqe, fd_, seg.iov, seg.count, seg.offset, f.rw_flags);
      break;
    }
    case detail::Action::kDatasync:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
    case detail::Action::kFallocate:
      io_uring_prep_fallocate(sqe, fd_, f.fallocate_mode, f.file_offset, f.total);
      break;
  }
  io_uring_sqe_set_data(sqe, &req);
  ++in_kernel_;
  ++unsubmitted_;
  return true;
}

void RawUringDriver::flush_submissions() {
  while (unsubmitted_ > 0) {
    int ret = io_uring_submit(&ring_);
    if (ret >= 0) {
      unsubmitted_ = 0;
      return;
    }
    if (ret == -EINTR) continue;
    if (ret == -EAGAIN || ret == -EBUSY) {
      // Kernel short of resources: retry from the next process_completions(), which our
      // own eventfd signal guarantees even if nothing else completes.
      signal_eventfd(efd_.get());
      return;
    }
    throw std::system_error(-ret, std::generic_category(), "block: io_uring_submit");
  }
}

size_t RawUringDriver::process_completions() {
  // Drain first: a CQE posted after the loop below re-signals and wakes the I/O thread again.
  drain_eventfd(efd_.get());
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    Request& req = *static_cast<Request*>(io_uring_cqe_get_data(cqe));
    int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_kernel_;
    if (detail::account(req, result, ctx_) == detail::Step::kContinue) {
      // Short transfer, -EAGAIN, or the next phase (zero fallback, sync, RMW write): go again
      // at once; a started request is never held back behind new ones or the RMW barrier.
      if (!resume_.empty() || !issue(req)) resume_.push_back(&req);
      continue;
    }
    if (req.in_flight.rmw) exclusive_ = false;
    finished_.push_back(&req);
  }
  while (!resume_.empty() && issue(*resume_.front())) resume_.pop_front();
  if (resume_.empty()) {
    while (!backlog_.empty() && try_start(*backlog_.front())) backlog_.pop_front();
  }
  flush_submissions();

  // Completions may submit new requests (even reuse this one): run them last.
  size_t n = 0;
  while (Request* req = finished_.pop_front()) {
    deliver(*req);
    ++n;
  }
  return n;
}

void RawUringDriver::deliver(Request& req) {
  size_t bytes = detail::finish(req);
  detail::deliver(req, req.in_flight.status, bytes);
}

}  // namespace block
