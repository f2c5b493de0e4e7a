#pragma once
// Completes every request successfully without touching any file or guest memory. For
// benchmarks of the request lifecycle and for device tests that need no disk.
#include "block/driver.h"
#include "block/request_queue.h"
#include "block/unique_fd.h"

namespace block {

class NullDriver final : public Driver {
 public:
  NullDriver();

  void submit(Request& req) override;
  int completion_fd() const override { return efd_.get(); }
  size_t process_completions() override;
  size_t in_flight() const override { return done_.size(); }

 private:
  UniqueFd efd_;
  detail::RequestQueue done_;
};

}  // namespace block
