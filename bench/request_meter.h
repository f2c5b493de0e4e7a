#pragma once
// Measures one benchmark's timed loop the same way for every device: wall time, this thread's
// CPU time and heap allocations between start() and report(), turned into per-request counters:
//   ns_per_req      wall-clock ns per completed request
//   cpu_ns_per_req  CPU ns of the benchmark thread per request (the I/O thread's share; io_uring
//                   kernel workers are not in it)
//   req_per_s       completed requests per wall-clock second, on this one thread
//   allocs_per_req  operator new calls per request (bench/alloc_counter.cc)
//   irqs_per_req    interrupts the device raised per request (MSI/MSI-X messages, INTx edges)
#include <benchmark/benchmark.h>
#include <time.h>

#include <chrono>
#include <cstdint>

#include "bench/alloc_counter.h"

namespace bench {

class RequestMeter {
 public:
  void start() {
    allocs_ = allocations();
    wall_ = std::chrono::steady_clock::now();
    cpu_ = thread_cpu_ns();
  }

  void report(benchmark::State& state, uint64_t requests, uint64_t interrupts) const {
    int64_t cpu = thread_cpu_ns() - cpu_;
    auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - wall_)
                    .count();
    uint64_t allocs = allocations() - allocs_;
    double n = requests == 0 ? 1.0 : static_cast<double>(requests);
    state.counters["ns_per_req"] = static_cast<double>(wall) / n;
    state.counters["cpu_ns_per_req"] = static_cast<double>(cpu) / n;
    state.counters["req_per_s"] =
        wall > 0 ? static_cast<double>(requests) * 1e9 / static_cast<double>(wall) : 0;
    state.counters["allocs_per_req"] = static_cast<double>(allocs) / n;
    state.counters["irqs_per_req"] = static_cast<double>(interrupts) / n;
    state.SetItemsProcessed(static_cast<int64_t>(requests));
  }

 private:
  static int64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }

  uint64_t allocs_ = 0;
  std::chrono::steady_clock::time_point wall_;
  int64_t cpu_ = 0;
};

// Cheap deterministic random 4 KiB-aligned sector numbers such that a request of
// `request_bytes` stays inside the disk (xorshift64).
class SectorPicker {
 public:
  SectorPicker(uint64_t disk_bytes, uint64_t request_bytes)
      : blocks_((disk_bytes - request_bytes) / 4096 + 1) {}
  uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return (state_ % blocks_) * 8;
  }

 private:
  uint64_t blocks_;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

}  // namespace bench
