// The I/O thread's event loop, built on io_uring. Device work that waits on the host (serial
// input, timers, later ioeventfds and block completions) is registered here with a callback, so
// vCPU threads never block on host I/O.
//
// Threading: run() executes on the I/O thread. watch_readable() and add_timer() may be called
// before run() starts or from callbacks on the I/O thread; post() and stop() from any thread.
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "vmm/unique_fd.h"

namespace vmm {

class IoLoop {
 public:
  using Callback = std::function<void()>;
  // Called when the fd is readable (or hung up / in error). Return true to keep watching.
  using ReadyCallback = std::function<bool()>;

  explicit IoLoop(unsigned queue_depth = 64);
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  void watch_readable(int fd, ReadyCallback callback);
  void add_timer(std::chrono::nanoseconds delay, Callback callback);
  // Runs `callback` on the I/O thread soon.
  void post(Callback callback);

  // Busy-polling before the loop sleeps, like QEMU's iothread poll-max-ns. A poller does the
  // work an event would announce (a virtqueue's new requests, a disk's finished ones) without
  // the event, and returns whether it found any. After a short sleep the loop polls for a
  // while before sleeping again: when work turns up in that time, no kick or completion has
  // to wake this thread (a guest that finds the device already consuming its ring does not
  // even kick). The poll time adapts: it doubles, from 4 us up to `max`, while sleeps are
  // shorter than `max`, and drops to 0 after a longer one. `max` 0 turns polling off.
  // Both only before run() starts, or from callbacks.
  using Poller = std::function<bool()>;
  void add_poller(Poller poller);
  void set_poll_max(std::chrono::nanoseconds max) { poll_max_ = max; }
  std::chrono::nanoseconds poll_time() const { return poll_time_; }  // the current window (tests)

  // Processes events until stop() is called.
  void run();
  void stop();
  // Runs callbacks posted after the loop stopped (call once the I/O thread has been joined).
  void run_pending() { run_posted(); }

 private:
  struct Operation {
    int fd = -1;                     // poll operations
    ReadyCallback on_ready;
    Callback on_timer;               // timer operations
    __kernel_timespec timeout{};     // must stay put while the kernel owns the request
  };

  io_uring_sqe* next_sqe();
  void arm_poll(uint64_t id, int fd);
  void complete(uint64_t id, int result);
  void run_posted();
  // Spins up to poll_time_ until a poller or the ring has work; true if any turned up.
  bool poll_for_work();
  void adapt_poll_time(std::chrono::nanoseconds slept);

  io_uring ring_{};
  UniqueFd wake_fd_;
  std::unordered_map<uint64_t, std::unique_ptr<Operation>> operations_;
  uint64_t next_id_ = 1;
  std::atomic<bool> stopping_{false};
  std::mutex posted_mutex_;
  std::vector<Callback> posted_;
  std::vector<Callback> running_;  // I/O thread only: the batch run_posted() is running
  std::vector<Poller> pollers_;
  std::chrono::nanoseconds poll_max_{0};
  std::chrono::nanoseconds poll_time_{0};
};

}  // namespace vmm
