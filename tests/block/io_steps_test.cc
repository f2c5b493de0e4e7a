// The driver-independent steps, driven by hand: resuming after short transfers, EOF, errors
// and the write-zeroes fallback, without depending on the kernel to produce them.
#include "block/io_steps.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace block::detail {
namespace {

class IoStepsTest : public ::testing::Test {
 protected:
  void set_up(Action action, std::vector<size_t> lengths, uint64_t offset = 4096) {
    bufs_.clear();
    iov_.clear();
    uint64_t total = 0;
    for (size_t len : lengths) bufs_.emplace_back(len, 0xEE);
    for (auto& b : bufs_) {
      iov_.push_back({b.data(), b.size()});
      total += b.size();
    }
    req_ = Request{};
    req_.offset = offset;
    req_.length = total;
    req_.iov = iov_;
    req_.in_flight.action = action;
    ASSERT_TRUE(prepare(req_, ctx_, pool_).is_ok());
  }

  IoContext ctx_;  // buffered: no alignment rules
  BouncePool pool_{0, 4096};
  std::vector<std::vector<uint8_t>> bufs_;
  std::vector<iovec> iov_;
  Request req_;
};

TEST_F(IoStepsTest, FirstSegmentIsTheGuestIovecArray) {
  set_up(Action::kRead, {512, 1024, 2048});
  Segment s = next_segment(req_);
  EXPECT_EQ(s.iov, iov_.data());
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.offset, 4096u);
}

TEST_F(IoStepsTest, ShortTransferInsideAnIovecResumesWithItsTail) {
  set_up(Action::kRead, {512, 1024, 2048});
  EXPECT_EQ(account(req_, 700, ctx_), Step::kContinue);
  Segment s = next_segment(req_);
  ASSERT_EQ(s.count, 1);
  EXPECT_EQ(s.iov->iov_base, bufs_[1].data() + 188);
  EXPECT_EQ(s.iov->iov_len, 1024u - 188);
  EXPECT_EQ(s.offset, 4096u + 700);
  // Finishing that tail lands on a boundary: the rest of the guest array is used directly.
  EXPECT_EQ(account(req_, 836, ctx_), Step::kContinue);
  s = next_segment(req_);
  EXPECT_EQ(s.iov, iov_.data() + 2);
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.offset, 4096u + 1536);
  EXPECT_EQ(account(req_, 2048, ctx_), Step::kFinished);
  EXPECT_TRUE(req_.in_flight.status.is_ok());
  EXPECT_EQ(finish(req_), 3584u);
}

TEST_F(IoStepsTest, ReadAtEndOfFileZeroFillsTheRest) {
  set_up(Action::kRead, {512, 512});
  EXPECT_EQ(account(req_, 300, ctx_), Step::kContinue);
  EXPECT_EQ(account(req_, 0, ctx_), Step::kFinished);  // EOF
  EXPECT_TRUE(req_.in_flight.status.is_ok());
  EXPECT_EQ(bufs_[0][299], 0xEE);  // "read" data stays
  for (size_t i = 300; i < 512; ++i) ASSERT_EQ(bufs_[0][i], 0) << i;
  EXPECT_EQ(bufs_[1], std::vector<uint8_t>(512, 0));
}

TEST_F(IoStepsTest, EagainAndEintrRetryWithoutProgress) {
  set_up(Action::kWrite, {4096});
  EXPECT_EQ(account(req_, -EAGAIN, ctx_), Step::kContinue);
  EXPECT_EQ(account(req_, -EINTR, ctx_), Step::kContinue);
  EXPECT_EQ(req_.in_flight.done, 0u);
  EXPECT_EQ(next_segment(req_).iov, iov_.data());
}

TEST_F(IoStepsTest, WriteMakingNoProgressFailsInsteadOfLooping) {
  set_up(Action::kWrite, {4096});
  EXPECT_EQ(account(req_, 0, ctx_), Step::kFinished);
  EXPECT_EQ(req_.in_flight.status, Status::from_errno(EIO));
  EXPECT_EQ(finish(req_), 0u);
}

TEST_F(IoStepsTest, HostErrorsBecomeStatuses) {
  set_up(Action::kWrite, {4096});
  EXPECT_EQ(account(req_, -ENOSPC, ctx_), Step::kFinished);
  EXPECT_EQ(req_.in_flight.status.code, StatusCode::kNoSpace);
  set_up(Action::kRead, {4096});
  EXPECT_EQ(account(req_, -EIO, ctx_), Step::kFinished);
  EXPECT_EQ(req_.in_flight.status, (Status{StatusCode::kIoError, EIO}));
}

TEST_F(IoStepsTest, UnsupportedFallocateFallsBackToWritingZeroes) {
  set_up(Action::kFallocate, {});
  req_.length = 300 * 1024;
  req_.in_flight.zero_fallback = true;
  req_.in_flight.fallocate_mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
  ASSERT_TRUE(prepare(req_, ctx_, pool_).is_ok());
  EXPECT_EQ(account(req_, -EOPNOTSUPP, ctx_), Step::kContinue);
  EXPECT_EQ(req_.in_flight.action, Action::kWriteZeroBuffer);
  Segment s = next_segment(req_);
  ASSERT_EQ(s.count, 1);
  EXPECT_EQ(s.iov->iov_len, 128u * 1024);
  const auto* z = static_cast<const uint8_t*>(s.iov->iov_base);
  EXPECT_EQ(z[0], 0);
  EXPECT_EQ(z[128 * 1024 - 1], 0);
  EXPECT_EQ(account(req_, 128 * 1024, ctx_), Step::kContinue);
  EXPECT_EQ(account(req_, 128 * 1024, ctx_), Step::kContinue);
  EXPECT_EQ(next_segment(req_).iov->iov_len, 44u * 1024);  // the remainder
  EXPECT_EQ(account(req_, 44 * 1024, ctx_), Step::kFinished);
  EXPECT_TRUE(req_.in_flight.status.is_ok());
}

TEST_F(IoStepsTest, UnsupportedDiscardIsJustDropped) {
  set_up(Action::kFallocate, {});
  req_.in_flight.ignore_unsupported = true;
  EXPECT_EQ(account(req_, -EOPNOTSUPP, ctx_), Step::kFinished);
  EXPECT_TRUE(req_.in_flight.status.is_ok());
}

TEST_F(IoStepsTest, WritethroughWriteZeroesSyncsBeforeFinishing) {
  set_up(Action::kFallocate, {});
  req_.in_flight.sync_after = true;
  EXPECT_EQ(account(req_, 0, ctx_), Step::kContinue);
  EXPECT_EQ(req_.in_flight.action, Action::kDatasync);
  EXPECT_EQ(account(req_, 0, ctx_), Step::kFinished);
  EXPECT_TRUE(req_.in_flight.status.is_ok());
}

TEST(IoStepsDirectTest, UnalignedDirectWriteBecomesReadModifyWrite) {
  IoContext ctx{.direct = true, .align = {4096, 4096}};
  BouncePool pool(1, 8192);
  std::vector<uint8_t> guest(512, 0xAB);
  iovec v{guest.data(), guest.size()};
  Request req;
  req.offset = 4096 + 1024;
  req.length = 512;
  req.iov = {&v, 1};
  req.in_flight.action = Action::kWrite;
  ASSERT_TRUE(prepare(req, ctx, pool).is_ok());
  EXPECT_TRUE(req.in_flight.rmw);
  EXPECT_EQ(req.in_flight.action, Action::kRead);
  EXPECT_EQ(req.in_flight.file_offset, 4096u);
  EXPECT_EQ(req.in_flight.total, 4096u);
  // Phase 1 reads the old block into the bounce buffer (simulated), phase 2 writes it back.
  std::memset(req.in_flight.bounce.data(), 0x11, 4096);
  EXPECT_EQ(account(req, 4096, ctx), Step::kContinue);
  EXPECT_EQ(req.in_flight.action, Action::kWrite);
  const auto* block = reinterpret_cast<const uint8_t*>(req.in_flight.bounce.data());
  EXPECT_EQ(block[1023], 0x11);
  EXPECT_EQ(block[1024], 0xAB);
  EXPECT_EQ(block[1535], 0xAB);
  EXPECT_EQ(block[1536], 0x11);
  Segment s = next_segment(req);
  EXPECT_EQ(s.offset, 4096u);
  EXPECT_EQ(s.iov->iov_len, 4096u);
  EXPECT_EQ(account(req, 4096, ctx), Step::kFinished);
  EXPECT_EQ(finish(req), 512u);
  EXPECT_EQ(guest, std::vector<uint8_t>(512, 0xAB));
  EXPECT_EQ(pool.free_slots(), 1u);
}

TEST(IoStepsDirectTest, FailedReadPhaseNeverWritesIntoGuestSourceBuffers) {
  IoContext ctx{.direct = true, .align = {4096, 4096}};
  BouncePool pool(1, 8192);
  std::vector<uint8_t> guest(512, 0xAB);
  iovec v{guest.data(), guest.size()};
  Request req;
  req.offset = 512;
  req.length = 512;
  req.iov = {&v, 1};
  req.in_flight.action = Action::kWrite;
  ASSERT_TRUE(prepare(req, ctx, pool).is_ok());
  std::memset(req.in_flight.bounce.data(), 0x11, 4096);
  EXPECT_EQ(account(req, -EIO, ctx), Step::kFinished);
  EXPECT_EQ(finish(req), 0u);
  EXPECT_EQ(guest, std::vector<uint8_t>(512, 0xAB));
}

}  // namespace
}  // namespace block::detail
