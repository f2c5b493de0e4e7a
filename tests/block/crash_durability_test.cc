// A child VMM-like process writes, gets the durability acknowledgement (flush completion, or
// the write's own completion when the write cache is off) and reports it through a pipe; the
// parent SIGKILLs it and checks the data is in the file. This cannot prove power-loss
// durability, but it proves the acknowledged data reached the file through our flush/FUA path
// and that nothing is left in process memory.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "tests/block/test_util.h"

namespace block::testing {
namespace {

constexpr size_t kBytes = 256 * 1024;
constexpr uint64_t kOffset = 1 << 20;

// Runs in the child. Returns only on failure.
int child_main(const std::string& path, const std::string& cache, const std::string& aio, int ack_fd) {
  try {
    std::unique_ptr<Backend> backend =
        Backend::open(parse_drive_options("file=" + path + ",cache=" + cache + ",aio=" + aio));
    alignas(4096) static uint8_t buf[kBytes];
    std::vector<uint8_t> p = pattern(kBytes, 77);
    std::memcpy(buf, p.data(), kBytes);
    iovec v{buf, kBytes};
    Slot write;
    write.req.op = Op::kWrite;
    write.req.offset = kOffset;
    write.req.length = kBytes;
    write.req.iov = {&v, 1};
    backend->submit(write.req);
    if (!wait_for(*backend, write) || !write.status.is_ok()) return 3;
    if (backend->write_cache_enabled()) {
      // Write cache on: only a completed FLUSH promises durability.
      Slot flush;
      flush.req.op = Op::kFlush;
      backend->submit(flush.req);
      if (!wait_for(*backend, flush) || !flush.status.is_ok()) return 4;
    }
    char ack = 'A';
    if (::write(ack_fd, &ack, 1) != 1) return 5;
    for (;;) ::pause();  // killed here, with the backend (ring, threads) still alive
  } catch (const std::exception& e) {
    ::fprintf(stderr, "child: %s\n", e.what());
    return 2;
  }
}

class CrashDurabilityTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(CrashDurabilityTest, AcknowledgedDataSurvivesSigkill) {
  auto [cache, aio] = GetParam();
  TempDir dir;
  if (parse_cache_mode(cache).direct && !dir.direct_ok()) GTEST_SKIP() << "no O_DIRECT-capable directory";
  std::string path = dir.file("disk.img");
  write_file(path, std::vector<uint8_t>(4 << 20, 0));

  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::_exit(child_main(path, cache, aio, fds[1]));
  }
  ::close(fds[1]);
  pollfd p{fds[0], POLLIN, 0};
  char ack = 0;
  bool acked = ::poll(&p, 1, 20000) == 1 && ::read(fds[0], &ack, 1) == 1 && ack == 'A';
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(acked) << "child did not acknowledge; exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(read_file(path, kOffset, kBytes), pattern(kBytes, 77));
  // And the lock died with the process: the image can be reopened read-write.
  EXPECT_NO_THROW(ImageFile::open(path, false, false));
}

INSTANTIATE_TEST_SUITE_P(
    CacheModes, CrashDurabilityTest,
    ::testing::Combine(::testing::Values("writeback", "none", "writethrough", "directsync"),
                       ::testing::Values("io_uring", "threads")),
    [](const auto& info) { return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param); });

}  // namespace
}  // namespace block::testing
