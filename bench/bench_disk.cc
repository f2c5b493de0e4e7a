#include "bench/bench_disk.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "block/drive_options.h"
#include "block/null_driver.h"
#include "block/raw_uring_driver.h"
#include "block/request_queue.h"
#include "block/unique_fd.h"

namespace bench {
namespace {

// Completes every request in process_completions() with no eventfd: isolates the CPU cost of
// the device model and the block layer's policy from the system calls of a real driver.
class InlineDriver final : public block::Driver {
 public:
  void submit(block::Request& req) override {
    req.in_flight.status = block::Status::ok();
    done_.push_back(&req);
  }
  int completion_fd() const override { return -1; }
  size_t process_completions() override {
    block::detail::RequestQueue ready = done_.take_all();
    size_t n = 0;
    while (block::Request* req = ready.pop_front()) {
      bool transfer = req->op == block::Op::kRead || req->op == block::Op::kWrite;
      block::detail::deliver(*req, block::Status::ok(), transfer ? req->length : 0);
      ++n;
    }
    return n;
  }
  size_t in_flight() const override { return done_.size(); }

 private:
  block::detail::RequestQueue done_;
};

// A data file (not sparse, so cache=none reads hit real blocks), created once per process.
class DataFile {
 public:
  DataFile() {
    std::string templ = bench_dir() + "/kvmm_bench.XXXXXX";
    block::UniqueFd fd(::mkstemp(templ.data()));
    if (!fd.valid()) throw std::runtime_error("bench: cannot create a temp file in " + bench_dir());
    path_ = templ;
    std::vector<char> chunk(1 << 20, 0x5A);
    for (uint64_t off = 0; off < kDiskBytes; off += chunk.size()) {
      if (::pwrite(fd.get(), chunk.data(), chunk.size(), static_cast<off_t>(off)) < 0) {
        throw std::runtime_error("bench: cannot write " + path_);
      }
    }
    ::fsync(fd.get());
  }
  ~DataFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  static std::string bench_dir() {
    const char* dir = std::getenv("TMPDIR");
    return dir != nullptr && *dir != '\0' ? dir : "/var/tmp";
  }
  std::string path_;
};

const DataFile& data_file() {
  static const DataFile file;
  return file;
}

void warm_page_cache(const std::string& path) {
  block::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return;
  std::vector<char> chunk(1 << 20);
  while (::read(fd.get(), chunk.data(), chunk.size()) > 0) {
  }
}

}  // namespace

std::string bench_file_path() { return data_file().path(); }

BenchDisk::BenchDisk(DiskKind kind) : kind_(kind) {
  switch (kind) {
    case DiskKind::kDeviceOnly:
      backend_ = std::make_unique<block::Backend>(std::make_unique<InlineDriver>(), block::BackendPolicy{},
                                                  kDiskBytes);
      break;
    case DiskKind::kNull:
      backend_ = std::make_unique<block::Backend>(std::make_unique<block::NullDriver>(),
                                                  block::BackendPolicy{}, kDiskBytes);
      break;
    case DiskKind::kUringNone:
    case DiskKind::kUringWriteback: {
      const char* cache = kind == DiskKind::kUringNone ? "none" : "writeback";
      backend_ = block::Backend::open(
          block::parse_drive_options("file=" + bench_file_path() + ",cache=" + cache + ",aio=io_uring"));
      // writeback reads are meant to be page-cache hits: earlier O_DIRECT writes (cache=none
      // runs) drop cached pages, so read the whole file back in first.
      if (kind == DiskKind::kUringWriteback) warm_page_cache(bench_file_path());
      break;
    }
  }
}

BenchDisk::~BenchDisk() = default;

bool BenchDisk::wait_for_completions() {
  if (backend_->in_flight() == 0 || backend_->completion_fd() < 0) return false;
  pollfd p{backend_->completion_fd(), POLLIN, 0};
  ::poll(&p, 1, 1000);
  return true;
}

uint64_t BenchDisk::bounce_heap_fallbacks() {
  auto* uring = dynamic_cast<block::RawUringDriver*>(&backend_->driver());
  return uring != nullptr ? uring->bounce_pool().heap_fallbacks() : 0;
}

std::unique_ptr<BenchDisk> open_or_skip(benchmark::State& state, DiskKind kind) {
  try {
    return std::make_unique<BenchDisk>(kind);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
}

}  // namespace bench
