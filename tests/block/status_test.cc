#include "block/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace block {
namespace {

TEST(StatusTest, HostErrnoIsClassified) {
  EXPECT_EQ(Status::from_errno(EIO), (Status{StatusCode::kIoError, EIO}));
  EXPECT_EQ(Status::from_errno(ENOSPC), (Status{StatusCode::kNoSpace, ENOSPC}));
  EXPECT_EQ(Status::from_errno(EDQUOT), (Status{StatusCode::kNoSpace, EDQUOT}));
}

TEST(StatusTest, ReadableText) {
  EXPECT_EQ(to_string(Status::ok()), "ok");
  EXPECT_EQ(to_string(Status::from_errno(EIO)), "I/O error: Input/output error");
  EXPECT_EQ(to_string(Status::of(StatusCode::kReadOnly)), "read-only");
  EXPECT_EQ(to_string(Status::of(StatusCode::kOutOfRange)), "out of range");
}

TEST(StatusTest, ZoneStatusesHaveText) {
  EXPECT_EQ(to_string(Status::of(StatusCode::kZoneInvalidCmd)), "invalid zone command");
  EXPECT_EQ(to_string(Status::of(StatusCode::kZoneUnalignedWp)), "write not at the zone write pointer");
  EXPECT_EQ(to_string(Status::of(StatusCode::kZoneOpenResource)), "too many open zones");
  EXPECT_EQ(to_string(Status::of(StatusCode::kZoneActiveResource)), "too many active zones");
}

}  // namespace
}  // namespace block
