#include "vmm/queued_output.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vmm {

void QueuedOutput::write(std::span<const uint8_t> bytes) {
  bool was_empty;
  {
    std::unique_lock lock(mutex_);
    drained_.wait(lock, [&] { return closed_ || queue_.size() < kMaxQueued; });
    if (closed_) return;
    was_empty = queue_.empty();
    queue_.insert(queue_.end(), bytes.begin(), bytes.end());
  }
  if (was_empty) wake_();
}

void QueuedOutput::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  drained_.notify_all();
}

void QueuedOutput::flush() {
  std::vector<uint8_t> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
    drained_.notify_all();
  }
  size_t done = 0;
  while (done < batch.size() && !broken_) {
    const ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, -1);  // non-blocking fd: wait here, on the I/O thread
    } else if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "vmm: serial output: %s; discarding further output\n",
                   std::strerror(errno));
      broken_ = true;
    }
  }
}

}  // namespace vmm
