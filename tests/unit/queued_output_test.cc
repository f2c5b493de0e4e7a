#include "vmm/queued_output.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace vmm {
namespace {

std::string drain(int fd) {
  std::string s;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

TEST(QueuedOutput, QueuesUntilFlushAndWakesOncePerBatch) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int wakes = 0;
  QueuedOutput out(fds[1], [&] { ++wakes; });
  const std::string a = "hello ", b = "world";
  out.write(std::span(reinterpret_cast<const uint8_t*>(a.data()), a.size()));
  out.write(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
  EXPECT_EQ(wakes, 1);  // only the empty -> non-empty transition wakes the I/O thread
  out.flush();
  close(fds[1]);
  EXPECT_EQ(drain(fds[0]), "hello world");
  close(fds[0]);
}

TEST(QueuedOutput, ClosedOutputDropsWrites) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  QueuedOutput out(fds[1], [] {});
  out.close();
  const uint8_t c = 'x';
  out.write(std::span(&c, 1));
  out.flush();
  close(fds[1]);
  EXPECT_EQ(drain(fds[0]), "");
  close(fds[0]);
}

TEST(QueuedOutput, BrokenPipeIsReportedNotFatal) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  signal(SIGPIPE, SIG_IGN);
  QueuedOutput out(fds[1], [] {});
  const uint8_t c = 'x';
  out.write(std::span(&c, 1));
  EXPECT_NO_THROW(out.flush());
  out.write(std::span(&c, 1));
  EXPECT_NO_THROW(out.flush());
  close(fds[1]);
}

}  // namespace
}  // namespace vmm
