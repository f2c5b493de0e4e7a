#include "block/threadpool_driver.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace block {
namespace {

int64_t result_of(ssize_t ret) { return ret < 0 ? -static_cast<int64_t>(errno) : ret; }

}  // namespace

ThreadPoolDriver::ThreadPoolDriver(int fd, detail::IoContext ctx, Options options)
    : fd_(fd),
      ctx_(ctx),
      efd_(make_eventfd()),
      pool_(ctx.direct ? options.bounce_slots : 0, options.bounce_slot_size) {
  unsigned n = options.threads == 0 ? 1 : options.threads;
  workers_.reserve(n);
  for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPoolDriver::~ThreadPoolDriver() {
  {
    std::lock_guard lock(work_mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  workers_.clear();  // joins
}

void ThreadPoolDriver::submit(Request& req) {
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  Status prepared = detail::prepare(req, ctx_, pool_);
  if (!prepared.is_ok()) {
    req.in_flight.status = prepared;
    {
      std::lock_guard lock(done_mutex_);
      done_.push_back(&req);
    }
    signal_eventfd(efd_.get());
    return;
  }
  {
    std::lock_guard lock(work_mutex_);
    work_.push_back(&req);
  }
  work_ready_.notify_one();
}

void ThreadPoolDriver::worker_loop() {
  for (;;) {
    Request* req = nullptr;
    {
      std::unique_lock lock(work_mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;  // stopping, and nothing left to do
      req = work_.pop_front();
    }
    execute(*req);
    bool was_empty;
    {
      std::lock_guard lock(done_mutex_);
      was_empty = done_.empty();
      done_.push_back(req);
    }
    if (was_empty) signal_eventfd(efd_.get());
  }
}

void ThreadPoolDriver::execute(Request& req) {
  detail::InFlight& f = req.in_flight;
  std::unique_lock<std::shared_mutex> exclusive(rmw_lock_, std::defer_lock);
  std::shared_lock<std::shared_mutex> shared(rmw_lock_, std::defer_lock);
  if (f.rmw) {
    exclusive.lock();
  } else {
    shared.lock();
  }
  for (;;) {
    int64_t result = 0;
    switch (f.action) {
      case detail::Action::kRead: {
        detail::Segment seg = detail::next_segment(req);
        result = result_of(::preadv2(fd_, seg.iov, seg.count, static_cast<off_t>(seg.offset), 0));
        break;
      }
      case detail::Action::kWrite:
      case detail::Action::kWriteZeroBuffer: {
        detail::Segment seg = detail::next_segment(req);
        result = result_of(
            ::pwritev2(fd_, seg.iov, seg.count, static_cast<off_t>(seg.offset), f.rw_flags));
        break;
      }
      case detail::Action::kDatasync:
        result = result_of(::fdatasync(fd_));
        break;
      case detail::Action::kFallocate:
        result = result_of(::fallocate(fd_, f.fallocate_mode, static_cast<off_t>(f.file_offset),
                                       static_cast<off_t>(f.total)));
        break;
    }
    if (detail::account(req, result, ctx_) == detail::Step::kFinished) return;
  }
}

size_t ThreadPoolDriver::process_completions() {
  drain_eventfd(efd_.get());
  detail::RequestQueue ready;
  {
    std::lock_guard lock(done_mutex_);
    ready = done_.take_all();
  }
  size_t n = 0;
  while (Request* req = ready.pop_front()) {
    size_t bytes = detail::finish(*req);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    detail::deliver(*req, req->in_flight.status, bytes);
    ++n;
  }
  return n;
}

}  // namespace block
