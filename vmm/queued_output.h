// SerialOutput for vCPU threads: bytes are queued in memory and written to the host fd by the
// I/O thread, so a slow terminal or pipe never stalls KVM_RUN. A bounded queue gives
// backpressure instead of unbounded memory if the host side stops reading.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "devices/serial_output.h"

namespace vmm {

class QueuedOutput : public devices::SerialOutput {
 public:
  static constexpr size_t kMaxQueued = 1 << 20;

  // `wake` is called (outside the lock) when the queue turns non-empty; it should arrange for
  // flush() to run on the I/O thread.
  QueuedOutput(int fd, std::function<void()> wake) : fd_(fd), wake_(std::move(wake)) {}

  void write(std::span<const uint8_t> bytes) override;
  // Writes everything queued so far to the fd (blocking). Called on the I/O thread, and once
  // more at shutdown.
  void flush();
  // After close(), writers never wait and output is dropped (shutdown in progress).
  void close();

 private:
  int fd_;
  std::function<void()> wake_;
  std::mutex mutex_;
  std::condition_variable drained_;
  std::vector<uint8_t> queue_;
  bool closed_ = false;
  bool broken_ = false;  // the fd failed (e.g. EPIPE): stop trying
};

}  // namespace vmm
