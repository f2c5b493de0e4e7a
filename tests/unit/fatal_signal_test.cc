#include "vmm/fatal_signal.h"

#include <signal.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace vmm {
namespace {

TEST(FatalSignal, LineNamesSignalAddressAndThread) {
  char buf[160];
  const int n = format_fatal_signal_line(buf, sizeof buf, SIGSEGV,
                                         reinterpret_cast<const void*>(0xdead0), 4242);
  EXPECT_EQ(std::string(buf, n),
            "vmm: fatal signal SIGSEGV (11) at address 0xdead0 in thread 4242; backtrace follows\n");
  EXPECT_EQ(std::strlen(buf), static_cast<size_t>(n));
}

TEST(FatalSignal, LineIsCutToTheBuffer) {
  char buf[20];
  const int n = format_fatal_signal_line(buf, sizeof buf, SIGBUS, nullptr, 1);
  EXPECT_EQ(n, 19);
  EXPECT_EQ(std::string(buf), "vmm: fatal signal S");
}

TEST(FatalSignalDeathTest, ReportsThenDiesOfTheSameSignal) {
  EXPECT_EXIT(
      {
        install_fatal_signal_reporter();
        ::raise(SIGBUS);
      },
      ::testing::KilledBySignal(SIGBUS), "vmm: fatal signal SIGBUS \\(7\\)");
}

}  // namespace
}  // namespace vmm
