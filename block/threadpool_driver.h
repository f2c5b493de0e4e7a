#pragma once
// Fallback driver (aio=threads): a few worker threads run preadv2/pwritev2 (RWF_DSYNC for
// FUA), fdatasync and fallocate. Completions come back exactly like the io_uring driver's:
// an eventfd becomes readable and the I/O thread calls process_completions(), so devices
// never run on a worker thread.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "block/bounce_pool.h"
#include "block/driver.h"
#include "block/io_steps.h"
#include "block/request_queue.h"
#include "block/unique_fd.h"

namespace block {

class ThreadPoolDriver final : public Driver {
 public:
  struct Options {
    unsigned threads = 4;
    size_t bounce_slots = 16;
    size_t bounce_slot_size = 1 << 20;
  };

  // fd is borrowed (the ImageFile owns it) and must outlive the driver.
  ThreadPoolDriver(int fd, detail::IoContext ctx, Options options);
  // Finishes the queued work (guest memory may be written until then) and joins the workers.
  ~ThreadPoolDriver() override;
  ThreadPoolDriver(const ThreadPoolDriver&) = delete;
  ThreadPoolDriver& operator=(const ThreadPoolDriver&) = delete;

  void submit(Request& req) override;
  int completion_fd() const override { return efd_.get(); }
  size_t process_completions() override;
  size_t in_flight() const override { return in_flight_.load(std::memory_order_relaxed); }

  const BouncePool& bounce_pool() const { return pool_; }

 private:
  void worker_loop();
  void execute(Request& req);  // on a worker thread, synchronously, until finished

  int fd_;
  detail::IoContext ctx_;
  UniqueFd efd_;
  BouncePool pool_;  // touched only on the I/O thread (prepare/finish)
  std::atomic<size_t> in_flight_{0};

  std::mutex work_mutex_;
  std::condition_variable work_ready_;
  detail::RequestQueue work_;
  bool stopping_ = false;

  // Read-modify-write requests run alone (exclusive); everything else shares.
  std::shared_mutex rmw_lock_;

  std::mutex done_mutex_;
  detail::RequestQueue done_;

  std::vector<std::jthread> workers_;  // last: started after everything above exists
};

}  // namespace block
