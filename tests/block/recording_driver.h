#pragma once
// Test hook: forwards to a real driver and records what the backend asked it to execute, so
// tests can see RWF_DSYNC on writes, fdatasync for flushes and the fallocate modes.
#include <memory>
#include <vector>

#include "block/driver.h"

namespace block::testing {

struct Recorded {
  detail::Action action;
  int rw_flags;
  int fallocate_mode;
  bool sync_after;
};

class RecordingDriver final : public Driver {
 public:
  explicit RecordingDriver(std::unique_ptr<Driver> inner, std::vector<Recorded>* log)
      : inner_(std::move(inner)), log_(log) {}

  void submit(Request& req) override {
    const detail::InFlight& f = req.in_flight;
    log_->push_back({f.action, f.rw_flags, f.fallocate_mode, f.sync_after});
    inner_->submit(req);
  }
  void begin_batch() override { inner_->begin_batch(); }
  void end_batch() override { inner_->end_batch(); }
  int completion_fd() const override { return inner_->completion_fd(); }
  bool completions_ready() const override { return inner_->completions_ready(); }
  size_t process_completions() override { return inner_->process_completions(); }
  size_t in_flight() const override { return inner_->in_flight(); }
  Driver& inner() { return *inner_; }

 private:
  std::unique_ptr<Driver> inner_;
  std::vector<Recorded>* log_;
};

}  // namespace block::testing
