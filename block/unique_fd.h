#pragma once
// RAII owner of a file descriptor, plus the eventfd helpers every driver uses to wake the
// VMM's I/O thread.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

namespace block {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Non-blocking eventfd: drivers signal it when completions are ready.
inline UniqueFd make_eventfd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "block: eventfd");
  return UniqueFd(fd);
}

inline void signal_eventfd(int fd) {
  uint64_t one = 1;
  // EAGAIN only happens when the counter would overflow, i.e. it is already signalled.
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

// Resets the counter so the next signal wakes the poller again.
inline void drain_eventfd(int fd) {
  uint64_t value;
  while (::read(fd, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

}  // namespace block
