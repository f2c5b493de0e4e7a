#include "block/null_driver.h"

#include <poll.h>

#include <memory>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "tests/block/test_util.h"

namespace block::testing {
namespace {

TEST(NullDriverTest, CompletesThroughTheEventfdNotInsideSubmit) {
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, 1 << 20);
  std::vector<uint8_t> buf(4096);
  iovec v{buf.data(), buf.size()};
  Slot slot;
  slot.req.op = Op::kRead;
  slot.req.length = 4096;
  slot.req.iov = {&v, 1};
  backend.submit(slot.req);
  EXPECT_EQ(slot.completions, 0);
  pollfd p{backend.completion_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  EXPECT_EQ(backend.process_completions(), 1u);
  EXPECT_EQ(slot.completions, 1);
  EXPECT_TRUE(slot.status.is_ok());
  EXPECT_EQ(slot.bytes, 4096u);
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // drained: the I/O thread does not spin
}

TEST(NullDriverTest, PolicyStillAppliesInFrontOfIt) {
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{.read_only = true}, 1 << 20);
  Slot slot;
  slot.req.op = Op::kWriteZeroes;
  slot.req.length = 512;
  backend.submit(slot.req);
  EXPECT_EQ(slot.completions, 1);  // settled by the policy, before submit() returned
  EXPECT_EQ(slot.status.code, StatusCode::kReadOnly);
}

}  // namespace
}  // namespace block::testing
