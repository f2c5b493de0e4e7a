#include "vmm/io_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

namespace vmm {
namespace {

TEST(IoLoop, PostRunsOnTheLoopThreadAndStopEndsRun) {
  IoLoop loop;
  std::thread::id ran_on;
  std::thread thread([&] { loop.run(); });
  loop.post([&] {
    ran_on = std::this_thread::get_id();
    loop.stop();
  });
  const std::thread::id loop_thread = thread.get_id();
  thread.join();
  EXPECT_EQ(ran_on, loop_thread);
}

TEST(IoLoop, TimersFireInOrder) {
  IoLoop loop;
  std::vector<int> order;
  loop.add_timer(std::chrono::milliseconds(20), [&] {
    order.push_back(2);
    loop.stop();
  });
  loop.add_timer(std::chrono::milliseconds(1), [&] { order.push_back(1); });
  const auto start = std::chrono::steady_clock::now();
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
}

TEST(IoLoop, WatchedFdCallbackRunsUntilItDeclines) {
  IoLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string received;
  loop.watch_readable(fds[0], [&] {
    char buf[16];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) {  // EOF: stop watching, then stop the loop
      loop.post([&] { loop.stop(); });
      return false;
    }
    received.append(buf, static_cast<size_t>(n));
    return true;
  });
  std::thread writer([&] {
    ASSERT_EQ(write(fds[1], "abc", 3), 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(write(fds[1], "def", 3), 3);
    close(fds[1]);
  });
  loop.run();
  writer.join();
  close(fds[0]);
  EXPECT_EQ(received, "abcdef");
}

TEST(IoLoop, RunPendingRunsWorkPostedAfterStop) {
  IoLoop loop;
  loop.stop();
  loop.run();
  bool ran = false;
  loop.post([&] { ran = true; });
  loop.run_pending();
  EXPECT_TRUE(ran);
}

TEST(IoLoop, PollersRunWithoutAnyEventOnceTheLoopPolls) {
  IoLoop loop;
  loop.set_poll_max(std::chrono::milliseconds(200));
  int polls = 0;
  // Finds work three times in a row: the loop keeps polling instead of sleeping, and no event
  // is needed after the first wake-up.
  loop.add_poller([&] {
    if (++polls == 3) loop.stop();
    return true;
  });
  loop.post([] {});  // the first, short sleep: polling starts after it
  loop.run();
  EXPECT_EQ(polls, 3);
}

TEST(IoLoop, PollTimeStartsAfterAShortSleepAndDropsAfterALongOne) {
  IoLoop loop;
  const auto max = std::chrono::milliseconds(200);
  loop.set_poll_max(max);
  loop.add_poller([] { return false; });
  EXPECT_EQ(loop.poll_time().count(), 0);  // nothing polls before the loop has slept once
  std::chrono::nanoseconds after_short{}, after_long{-1};
  loop.post([&] {
    after_short = loop.poll_time();
    loop.add_timer(2 * max, [&] {
      after_long = loop.poll_time();
      loop.stop();
    });
  });
  loop.run();
  EXPECT_GT(after_short.count(), 0);
  EXPECT_LE(after_short, max);
  EXPECT_EQ(after_long.count(), 0);  // idle longer than max: polling would only burn a CPU
}

TEST(IoLoop, PollMaxZeroNeverPolls) {
  IoLoop loop;
  loop.set_poll_max(std::chrono::nanoseconds(0));
  int polls = 0;
  loop.add_poller([&] {
    ++polls;
    return true;
  });
  int posts = 0;
  std::function<void()> again = [&] {
    if (++posts < 5) {
      loop.post(again);
    } else {
      loop.stop();
    }
  };
  loop.post(again);
  loop.run();
  EXPECT_EQ(posts, 5);
  EXPECT_EQ(polls, 0);
  EXPECT_EQ(loop.poll_time().count(), 0);
}

}  // namespace
}  // namespace vmm
