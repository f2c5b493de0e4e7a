#include "vmm/io_loop.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "vmm/system_error.h"

namespace vmm {

IoLoop::IoLoop(unsigned queue_depth) {
  const int err = io_uring_queue_init(queue_depth, &ring_, 0);
  if (err < 0) throw_errno(-err, "io_uring_queue_init");
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_.valid()) {
    io_uring_queue_exit(&ring_);
    throw_errno("eventfd for the I/O loop");
  }
  watch_readable(wake_fd_.get(), [this] {
    uint64_t count;
    while (::read(wake_fd_.get(), &count, sizeof count) > 0) {
    }
    run_posted();
    return true;
  });
}

IoLoop::~IoLoop() { io_uring_queue_exit(&ring_); }

io_uring_sqe* IoLoop::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // Submission queue full: hand what we have to the kernel and try again.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) throw std::runtime_error("io_uring submission queue stays full");
  }
  return sqe;
}

void IoLoop::arm_poll(uint64_t id, int fd) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_poll_add(sqe, fd, POLLIN);
  io_uring_sqe_set_data64(sqe, id);
}

void IoLoop::watch_readable(int fd, ReadyCallback callback) {
  auto op = std::make_unique<Operation>();
  op->fd = fd;
  op->on_ready = std::move(callback);
  const uint64_t id = next_id_++;
  operations_.emplace(id, std::move(op));
  arm_poll(id, fd);
}

void IoLoop::add_timer(std::chrono::nanoseconds delay, Callback callback) {
  auto op = std::make_unique<Operation>();
  op->on_timer = std::move(callback);
  op->timeout.tv_sec = delay.count() / 1'000'000'000;
  op->timeout.tv_nsec = delay.count() % 1'000'000'000;
  const uint64_t id = next_id_++;
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_timeout(sqe, &op->timeout, 0, 0);
  io_uring_sqe_set_data64(sqe, id);
  operations_.emplace(id, std::move(op));
}

void IoLoop::post(Callback callback) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(callback));
  }
  const uint64_t one = 1;
  // A full eventfd counter still wakes the loop, so a failed write can be ignored.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void IoLoop::stop() {
  stopping_.store(true);
  post([] {});
}

void IoLoop::run_posted() {
  // Swap with a kept scratch vector and hand its capacity back: post() then never allocates
  // the queue again in steady state (callbacks small enough for std::function's buffer do not
  // allocate either).
  {
    std::lock_guard lock(posted_mutex_);
    running_.swap(posted_);
  }
  for (Callback& callback : running_) callback();
  running_.clear();
}

void IoLoop::complete(uint64_t id, int result) {
  auto it = operations_.find(id);
  if (it == operations_.end()) return;
  Operation& op = *it->second;
  if (op.on_timer) {
    Callback callback = std::move(op.on_timer);
    operations_.erase(it);
    callback();  // -ETIME is the normal expiry result
    return;
  }
  if (result < 0) {
    std::fprintf(stderr, "vmm: I/O loop: poll on fd %d failed: %s; no longer watching it\n", op.fd,
                 std::strerror(-result));
    operations_.erase(it);
    return;
  }
  // The callback may add operations (rehashing the map), so keep `op` only via the id.
  const bool keep = op.on_ready();
  it = operations_.find(id);
  if (it == operations_.end()) return;
  if (keep) {
    arm_poll(id, it->second->fd);
  } else {
    operations_.erase(it);
  }
}

void IoLoop::add_poller(Poller poller) { pollers_.push_back(std::move(poller)); }

bool IoLoop::poll_for_work() {
  if (pollers_.empty() || poll_time_.count() == 0) return false;
  const auto start = std::chrono::steady_clock::now();
  do {
    bool found = false;
    for (Poller& p : pollers_) found |= p();
    if (found || io_uring_cq_ready(&ring_) > 0) return true;
  } while (std::chrono::steady_clock::now() - start < poll_time_);
  return false;
}

void IoLoop::adapt_poll_time(std::chrono::nanoseconds slept) {
  if (slept > poll_max_) {
    poll_time_ = {};  // idle: polling would only burn a CPU
  } else if (poll_time_ < poll_max_) {
    constexpr std::chrono::nanoseconds kFirst{4000};
    poll_time_ = std::min(poll_max_, poll_time_.count() == 0 ? kFirst : 2 * poll_time_);
  }
}

void IoLoop::run() {
  while (!stopping_.load()) {
    int err;
    if (pollers_.empty() || poll_max_.count() == 0) {
      err = io_uring_submit_and_wait(&ring_, 1);  // polling off: no clock reads per wake-up
    } else if (poll_for_work()) {
      err = io_uring_submit(&ring_);  // work is waiting: no sleep
    } else {
      const auto before = std::chrono::steady_clock::now();
      err = io_uring_submit_and_wait(&ring_, 1);
      adapt_poll_time(std::chrono::steady_clock::now() - before);
    }
    if (err < 0 && err != -EINTR) throw_errno(-err, "io_uring_submit_and_wait");
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      const uint64_t id = io_uring_cqe_get_data64(cqe);
      const int result = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      complete(id, result);
    }
  }
}

}  // namespace vmm
