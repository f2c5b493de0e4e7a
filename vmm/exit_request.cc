#include "vmm/exit_request.h"

namespace vmm {

void ExitRequest::request_exit(int status, const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (status_) return;  // the first request wins
  status_ = status;
  reason_ = reason;
  cv_.notify_all();
}

void ExitRequest::guest_init_reached() {
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count();
  {
    std::lock_guard lock(mutex_);
    if (init_reported_) return;
    init_reported_ = true;
  }
  report_("vmm: guest init reached after " + std::to_string(elapsed) + " ms\n");
}

int ExitRequest::wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return status_.has_value(); });
  return *status_;
}

std::optional<int> ExitRequest::requested() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::string ExitRequest::reason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

}  // namespace vmm
