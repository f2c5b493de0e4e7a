#pragma once
// Completes every request successfully without touching any file or guest memory. For
// benchmarks of the request lifecycle and for device tests that need no disk.
//
// Requests are finished the moment they are submitted, so completions_ready() is true at
// once and a device that reaps inside its batch (Backend::process_ready_completions) costs no
// system call. The eventfd is written only for what is still undelivered when the outermost
// batch ends (or when submit() returns, outside a batch), once per burst.
#include "block/driver.h"
#include "block/request_queue.h"
#include "block/unique_fd.h"

namespace block {

class NullDriver final : public Driver {
 public:
  NullDriver();

  void submit(Request& req) override;
  void begin_batch() override { ++batch_depth_; }
  void end_batch() override;
  int completion_fd() const override { return efd_.get(); }
  bool completions_ready() const override { return !done_.empty(); }
  size_t process_completions() override;
  size_t in_flight() const override { return done_.size(); }

 private:
  // Keeps the invariant "outside a batch, done_ not empty => efd_ readable".
  void signal_if_pending();

  UniqueFd efd_;
  detail::RequestQueue done_;
  int batch_depth_ = 0;
  bool signalled_ = false;  // efd_'s counter is non-zero (only this class writes and reads it)
};

}  // namespace block
