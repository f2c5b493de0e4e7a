#pragma once
// Raw image on io_uring. One ring per driver (per queue later), no thread of its own: the
// kernel signals an eventfd registered with the ring and the I/O thread reaps.
#include <liburing.h>

#include <cstddef>
#include <cstdint>

#include "block/bounce_pool.h"
#include "block/driver.h"
#include "block/io_steps.h"
#include "block/request_queue.h"
#include "block/unique_fd.h"

namespace block {

class RawUringDriver final : public Driver {
 public:
  struct Options {
    unsigned queue_depth = 128;          // ring entries = max requests in the kernel at once
    size_t bounce_slots = 16;            // O_DIRECT staging buffers (used only when unaligned)
    size_t bounce_slot_size = 1 << 20;
  };

  // fd is borrowed (the ImageFile owns it) and must outlive the driver.
  RawUringDriver(int fd, detail::IoContext ctx, Options options);
  ~RawUringDriver() override;
  RawUringDriver(const RawUringDriver&) = delete;
  RawUringDriver& operator=(const RawUringDriver&) = delete;

  void submit(Request& req) override;
  void begin_batch() override { ++batch_depth_; }
  void end_batch() override;
  int completion_fd() const override { return efd_.get(); }
  size_t process_completions() override;
  size_t in_flight() const override {
    return in_kernel_ + resume_.size() + backlog_.size() + finished_.size();
  }

  // Introspection for tests and benchmarks.
  unsigned ring_entries() const { return ring_.sq.ring_entries; }
  const BouncePool& bounce_pool() const { return pool_; }
  uint64_t backlog_high_water() const { return backlog_high_water_; }

 private:
  bool issue(Request& req);  // false: no room, keep it in the backlog
  bool try_start(Request& req);  // issue() plus the read-modify-write exclusion
  void flush_submissions();
  void deliver(Request& req);

  int fd_;
  detail::IoContext ctx_;
  io_uring ring_{};
  UniqueFd efd_;
  BouncePool pool_;
  unsigned capacity_ = 0;    // never more requests in the kernel than the CQ can take
  unsigned in_kernel_ = 0;
  unsigned unsubmitted_ = 0;  // SQEs prepared but not yet handed to the kernel
  int batch_depth_ = 0;
  bool exclusive_ = false;         // a read-modify-write is running: nothing else may start
  detail::RequestQueue resume_;    // already started, next piece waiting for ring space
  detail::RequestQueue backlog_;   // not started: waiting for ring space (SQ full), in order
  detail::RequestQueue finished_;  // to be delivered from process_completions()
  uint64_t backlog_high_water_ = 0;
};

}  // namespace block
