#pragma once
// Shared fixtures for the ATA, AHCI and IDE tests: a disk image in a temp file behind a real
// block::Backend (aio=threads), a fake I/O-thread hook that queues posted work, and a pump that
// plays the I/O thread (posted work + backend completions) until everything settled.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/drive_options.h"
#include "devices/ata/io_thread_hook.h"
#include "virtio_test_util.h"

namespace devices::testing {

class FakeIoThread : public ata::IoThreadHook {
 public:
  void post(std::function<void()> work) override {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(work));
    ++posts;
  }
  // Runs what is queued now (and what that queues); returns how many callbacks ran.
  size_t run() {
    size_t n = 0;
    for (;;) {
      std::vector<std::function<void()>> batch;
      {
        std::lock_guard lock(mutex_);
        batch.swap(posted_);
      }
      if (batch.empty()) return n;
      for (auto& f : batch) f();
      n += batch.size();
    }
  }
  size_t pending() {
    std::lock_guard lock(mutex_);
    return posted_.size();
  }
  size_t posts = 0;

 private:
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;
};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9) * 31);
  return v;
}

// A disk image filled with pattern(size, 1) and its backend.
class TestDisk {
 public:
  explicit TestDisk(uint64_t size, bool writeback = true, bool read_only = false) : size_(size) {
    path_ = dir_.file("disk.img");
    int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    auto bytes = pattern(size, 1);
    EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    block::DriveOptions o;
    o.file = path_;
    o.aio = block::AioEngine::kThreads;
    o.cache.writeback = writeback;
    o.read_only = read_only;
    backend = block::Backend::open(o);
  }
  std::vector<uint8_t> file_bytes(uint64_t offset, size_t n) const {
    std::vector<uint8_t> out(n);
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(::pread(fd, out.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    ::close(fd);
    return out;
  }
  // Waits for and processes backend completions (the I/O thread's other half).
  void wait_completions() {
    for (int i = 0; i < 2000 && backend->in_flight() > 0; ++i) {
      pollfd p{backend->completion_fd(), POLLIN, 0};
      ::poll(&p, 1, 1000);
      backend->process_completions();
    }
  }
  uint64_t size() const { return size_; }

  std::unique_ptr<block::Backend> backend;

 private:
  TempDir dir_;
  std::string path_;
  uint64_t size_;
};

// Plays the I/O thread until no posted work and no backend request is left.
inline void pump(FakeIoThread& io, TestDisk& disk) {
  for (int i = 0; i < 5000; ++i) {
    io.run();
    if (disk.backend->in_flight() == 0 && io.pending() == 0) return;
    pollfd p{disk.backend->completion_fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
    disk.backend->process_completions();
  }
  FAIL() << "requests did not complete";
}

}  // namespace devices::testing
