#pragma once
// The block backends the device benchmarks run against, and the completion half of the I/O
// thread's job for them.
//   device_only  a bench driver that completes in process_completions() without an eventfd:
//                the device model and block layer alone, no system call at all
//   null         block::NullDriver: completes at once; the devices reap it inside their
//                submission batch (Backend::process_ready_completions), so no eventfd write
//                or read either, but through the real driver and the inline-reap path
//   uring_none / uring_writeback
//                block::Backend::open() on a 64 MiB temp file, aio=io_uring, cache=none
//                (O_DIRECT) or cache=writeback (page cache)
#include <cstdint>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "block/backend.h"

namespace bench {

enum class DiskKind { kDeviceOnly, kNull, kUringNone, kUringWriteback };

inline constexpr uint64_t kDiskBytes = 64ull << 20;

class BenchDisk {
 public:
  // Throws block::BlockError (e.g. O_DIRECT not supported where the temp file lives).
  explicit BenchDisk(DiskKind kind);
  ~BenchDisk();
  BenchDisk(const BenchDisk&) = delete;
  BenchDisk& operator=(const BenchDisk&) = delete;

  block::Backend& backend() { return *backend_; }
  // The I/O thread's completion step: waits for the completion fd when the driver works
  // asynchronously and nothing is ready yet (if `wait`), then delivers what is ready.
  size_t reap(bool wait) {
    return reap_via(wait, [this] { return backend_->process_completions(); });
  }
  // The same, delivered by `deliver()`: a device that wraps the backend's completion step
  // (VirtioBlk::process_completions batches its interrupts).
  template <typename Deliver>
  size_t reap_via(bool wait, Deliver&& deliver) {
    size_t n = deliver();
    if (n > 0 || !wait || !wait_for_completions()) return n;
    return deliver();
  }
  // O_DIRECT bounce buffers taken from the heap (aligned_alloc, not operator new) so far.
  uint64_t bounce_heap_fallbacks();

 private:
  // Blocks (up to 1 s) until the completion fd is readable; false if nothing is in flight.
  bool wait_for_completions();
  DiskKind kind_;
  std::unique_ptr<block::Backend> backend_;
};

// The disk of one benchmark run, or null after telling `state` why it was skipped (e.g. no
// O_DIRECT where the temp file lives).
std::unique_ptr<BenchDisk> open_or_skip(benchmark::State& state, DiskKind kind);
// Whether completions come from real asynchronous I/O, so reaping must wait for them.
inline bool completes_asynchronously(DiskKind kind) {
  return kind == DiskKind::kUringNone || kind == DiskKind::kUringWriteback;
}

// Where the benchmark data file lives: $TMPDIR or /var/tmp (not /tmp, often tmpfs).
std::string bench_file_path();

}  // namespace bench
