// Request lifecycle cost (submit -> completion delivered) through block::Backend, in-process,
// no VM: the null driver isolates the block layer's own overhead; the raw io_uring and thread
// pool drivers add real 4 KiB reads from a page-cached temp file (and O_DIRECT when the temp
// directory supports it). Reported as ns/request (the `per_request` counter).
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "block/backend.h"
#include "block/null_driver.h"

namespace {

using namespace block;

constexpr uint64_t kFileSize = 64 << 20;
constexpr size_t kBlock = 4096;

struct Slot : Completion {
  Request req;
  iovec v{};
  bool done = false;
  void complete(Status, size_t) override { done = true; }
};

// A 64 MiB data file, created once per process and removed at exit.
class BenchFile {
 public:
  BenchFile() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base != nullptr ? base : "/var/tmp") + "/block_bench.XXXXXX";
    int fd = ::mkstemp(templ.data());
    if (fd < 0) std::abort();
    path_ = templ;
    std::vector<uint8_t> chunk(1 << 20, 0x5A);
    for (uint64_t off = 0; off < kFileSize; off += chunk.size()) {
      if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) < 0) std::abort();
    }
    ::close(fd);
  }
  ~BenchFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const BenchFile& bench_file() {
  static const BenchFile file;
  return file;
}

void set_per_request(benchmark::State& state, int64_t requests) {
  state.counters["per_request"] =
      benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Runs `depth` requests at a time: submit a batch, wait for all of it, repeat.
void run_lifecycle(benchmark::State& state, Backend& backend, bool wait_on_fd) {
  const size_t depth = static_cast<size_t>(state.range(0));
  std::vector<Slot> slots(depth);
  std::vector<std::vector<uint8_t>> buffers;
  for (Slot& s : slots) {
    void* p = nullptr;
    if (::posix_memalign(&p, 4096, kBlock) != 0) std::abort();
    s.v = {p, kBlock};
    s.req = Request{.op = Op::kRead, .length = kBlock, .iov = {&s.v, 1}, .completion = &s};
  }
  std::mt19937_64 rng(1);
  const uint64_t blocks = backend.geometry().size_bytes / kBlock;
  int64_t requests = 0;
  for (auto _ : state) {
    {
      Backend::Batch batch(backend);
      for (Slot& s : slots) {
        s.done = false;
        s.req.offset = (rng() % blocks) * kBlock;
        backend.submit(s.req);
      }
    }
    size_t completed = 0;
    while (completed < depth) {
      if (wait_on_fd) {
        pollfd p{backend.completion_fd(), POLLIN, 0};
        ::poll(&p, 1, -1);
      }
      completed += backend.process_completions();
    }
    requests += static_cast<int64_t>(depth);
  }
  for (Slot& s : slots) std::free(s.v.iov_base);
  set_per_request(state, requests);
}

void BM_NullDriver(benchmark::State& state) {
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, kFileSize);
  run_lifecycle(state, backend, /*wait_on_fd=*/false);
}
BENCHMARK(BM_NullDriver)->Arg(1)->Arg(32)->UseRealTime();

void BM_Read4k(benchmark::State& state, const char* cache, const char* aio) {
  std::unique_ptr<Backend> backend;
  try {
    backend = Backend::open(parse_drive_options("file=" + bench_file().path() + ",cache=" + cache + ",aio=" + aio));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  run_lifecycle(state, *backend, /*wait_on_fd=*/true);
}
BENCHMARK_CAPTURE(BM_Read4k, io_uring_writeback, "writeback", "io_uring")->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read4k, io_uring_none, "none", "io_uring")->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK_CAPTURE(BM_Read4k, threads_writeback, "writeback", "threads")->Arg(1)->Arg(32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
