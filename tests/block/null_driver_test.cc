#include "block/null_driver.h"

#include <poll.h>
#include <unistd.h>

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

bool readable(const Backend& backend) {
  pollfd p{backend.completion_fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// A flush reaches the driver without needing a buffer.
void make_flush(Slot& slot) { slot.req.op = Op::kFlush; }

// Nobody reaps inline inside the batch (e.g. a caller that only batches for io_uring's sake):
// the request must still reach the I/O thread through the eventfd once the batch ends.
TEST(NullDriverTest, NotReapedInsideTheBatchIsSignalledWhenItEnds) {
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, 1 << 20);
  Slot a, b;
  make_flush(a);
  make_flush(b);
  {
    Backend::Batch batch(backend);
    backend.submit(a.req);
    backend.submit(b.req);
    EXPECT_EQ(a.completions + b.completions, 0);
  }
  ASSERT_TRUE(readable(backend));
  EXPECT_EQ(backend.process_completions(), 2u);
  EXPECT_EQ(a.completions, 1);
  EXPECT_EQ(b.completions, 1);
  EXPECT_FALSE(readable(backend));
  EXPECT_EQ(backend.in_flight(), 0u);
}

// What devices do: submit and reap inside one batch. No eventfd write happens at all (the
// counter stays 0, so the I/O thread is not woken for nothing).
TEST(NullDriverTest, ReapedInsideTheBatchWithoutTouchingTheEventfd) {
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, 1 << 20);
  Slot slot;
  make_flush(slot);
  {
    Backend::Batch batch(backend);
    backend.submit(slot.req);
    EXPECT_EQ(slot.completions, 0);  // never inside submit()
    EXPECT_TRUE(backend.driver().completions_ready());
    EXPECT_EQ(backend.process_ready_completions(), 1u);
    EXPECT_EQ(slot.completions, 1);
    EXPECT_FALSE(backend.driver().completions_ready());
  }
  EXPECT_FALSE(readable(backend));
  uint64_t count = 0;
  EXPECT_LT(::read(backend.completion_fd(), &count, sizeof count), 0);  // EAGAIN: never written
  EXPECT_EQ(backend.process_completions(), 0u);
}

// Outside a batch the eventfd is written at submit(); an inline reap then drains it, so a
// level-triggered poller does not spin on a stale signal.
TEST(NullDriverTest, InlineReapOutsideABatchDrainsTheSignal) {
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, 1 << 20);
  Slot slot;
  make_flush(slot);
  backend.submit(slot.req);
  EXPECT_TRUE(readable(backend));
  EXPECT_EQ(backend.process_ready_completions(), 1u);
  EXPECT_FALSE(readable(backend));
}

// A completion delivered by the inline reap submits again (a device continuing a multi-part
// request) and nothing reaps that one inline: the end of the batch must signal it.
TEST(NullDriverTest, ResubmittedFromAnInlineCompletionIsStillSignalled) {
  struct Chaining : Completion {
    Backend* backend = nullptr;
    Request req;
    Slot next;
    int completions = 0;
    void complete(Status, size_t) override {
      if (++completions == 1) backend->submit(next.req);
    }
  } chain;
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, 1 << 20);
  chain.backend = &backend;
  chain.req.completion = &chain;
  chain.req.op = Op::kFlush;
  make_flush(chain.next);
  {
    Backend::Batch batch(backend);
    backend.submit(chain.req);
    EXPECT_EQ(backend.process_ready_completions(), 1u);
    EXPECT_EQ(chain.next.completions, 0);
  }
  ASSERT_TRUE(readable(backend));
  EXPECT_EQ(backend.process_completions(), 1u);
  EXPECT_EQ(chain.next.completions, 1);
  EXPECT_FALSE(readable(backend));
}

// The same outside a batch: a completion that submits from process_completions() re-signals
// (the drain happened before, not after, the deliveries).
TEST(NullDriverTest, ResubmittedFromAnIoThreadCompletionIsSignalled) {
  struct Chaining : Completion {
    Backend* backend = nullptr;
    Request req;
    Slot next;
    void complete(Status, size_t) override { backend->submit(next.req); }
  } chain;
  Backend backend(std::make_unique<NullDriver>(), BackendPolicy{}, 1 << 20);
  chain.backend = &backend;
  chain.req.completion = &chain;
  chain.req.op = Op::kFlush;
  make_flush(chain.next);
  backend.submit(chain.req);
  ASSERT_TRUE(readable(backend));
  EXPECT_EQ(backend.process_completions(), 1u);
  ASSERT_TRUE(readable(backend));
  EXPECT_EQ(backend.process_completions(), 1u);
  EXPECT_EQ(chain.next.completions, 1);
  EXPECT_FALSE(readable(backend));
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
