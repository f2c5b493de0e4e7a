#include "vmm/exit_request.h"

#include <gtest/gtest.h>

#include <thread>

namespace vmm {
namespace {

TEST(ExitRequest, FirstRequestWinsAndWakesWaiter) {
  ExitRequest request(ExitRequest::Clock::now(), [](std::string) {});
  std::thread t([&] { request.request_exit(5, "first"); });
  EXPECT_EQ(request.wait(), 5);
  t.join();
  request.request_exit(0, "second");
  EXPECT_EQ(request.requested(), 5);
  EXPECT_EQ(request.reason(), "first");
}

TEST(ExitRequest, BootMarkerIsReportedOnceWithElapsedTime) {
  std::vector<std::string> lines;
  ExitRequest request(ExitRequest::Clock::now() - std::chrono::milliseconds(1500),
                      [&](std::string line) { lines.push_back(std::move(line)); });
  request.guest_init_reached();
  request.guest_init_reached();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("vmm: guest init reached after 15", 0), 0u) << lines[0];
  EXPECT_EQ(lines[0].substr(lines[0].size() - 4), " ms\n");
  EXPECT_FALSE(request.requested());
}

}  // namespace
}  // namespace vmm
