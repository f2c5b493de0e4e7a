#pragma once
// Shared fixtures for the block tests: real files in a directory that supports O_DIRECT,
// completions that record what they got, and an I/O-thread stand-in that polls the
// completion eventfd.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/request.h"
#include "block/unique_fd.h"

namespace block::testing {

// True if `dir` accepts O_DIRECT opens (tmpfs before Linux 6.6 does not).
inline bool supports_direct(const std::string& dir) {
  std::string probe = dir + "/.direct-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

// A fresh directory for one test, on a file system that supports O_DIRECT when possible:
// TEST_TMPDIR first, then /var/tmp. Removed at the end.
class TempDir {
 public:
  TempDir() {
    std::vector<std::string> candidates;
    if (const char* t = std::getenv("TEST_TMPDIR")) candidates.emplace_back(t);
    candidates.emplace_back("/var/tmp");
    candidates.emplace_back("/tmp");
    for (const std::string& base : candidates) {
      std::string templ = base + "/blocktest.XXXXXX";
      if (::mkdtemp(templ.data()) == nullptr) continue;
      if (path_.empty()) path_ = templ;
      if (supports_direct(templ)) {
        if (templ != path_) std::filesystem::remove_all(path_);
        path_ = templ;
        direct_ok_ = true;
        return;
      }
      if (templ != path_) std::filesystem::remove_all(templ);
    }
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }
  bool direct_ok() const { return direct_ok_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  bool direct_ok_ = false;
};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return v;
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid()) << path;
  ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
}

inline std::vector<uint8_t> read_file(const std::string& path, uint64_t offset, size_t n) {
  std::vector<uint8_t> v(n);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ssize_t got = ::pread(fd.get(), v.data(), n, static_cast<off_t>(offset));
  v.resize(got < 0 ? 0 : static_cast<size_t>(got));
  return v;
}

// A device-side request slot: owns the Request and records its completion.
struct Slot : Completion {
  Request req;
  int completions = 0;
  Status status;
  size_t bytes = 0;

  Slot() { req.completion = this; }
  void complete(Status s, size_t n) override {
    ++completions;
    status = s;
    bytes = n;
  }
};

// Plays the I/O thread: waits on the completion eventfd until `done()` holds. Works for any
// backend with completion_fd()/process_completions() (Backend, zoned::ZonedBackend).
template <typename AnyBackend, typename Done>
bool pump_until(AnyBackend& backend, Done done, int timeout_ms = 10000) {
  int waited = 0;
  while (!done()) {
    pollfd p{backend.completion_fd(), POLLIN, 0};
    int r = ::poll(&p, 1, 10);
    if (r > 0) backend.process_completions();
    if (r == 0 && (waited += 10) > timeout_ms) return false;
  }
  return true;
}

inline bool wait_for(Backend& backend, Slot& slot) {
  return pump_until(backend, [&] { return slot.completions > 0; });
}

}  // namespace block::testing
