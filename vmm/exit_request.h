// The machine-wide "please stop" latch: devices and vCPU threads request an exit status, the
// main thread waits for the first request. Also reports the boot-time marker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "devices/machine_control.h"

namespace vmm {

class ExitRequest : public devices::MachineControl {
 public:
  using Clock = std::chrono::steady_clock;
  // `report` prints a line for the user; it must not block the caller for long.
  ExitRequest(Clock::time_point start, std::function<void(std::string)> report)
      : start_(start), report_(std::move(report)) {}

  void request_exit(int status, const std::string& reason) override;
  void guest_init_reached() override;

  // Blocks until an exit is requested; returns its status.
  int wait();
  std::optional<int> requested() const;
  std::string reason() const;

 private:
  Clock::time_point start_;
  std::function<void(std::string)> report_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<int> status_;
  std::string reason_;
  bool init_reported_ = false;
};

}  // namespace vmm
