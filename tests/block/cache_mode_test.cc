#include "block/cache_mode.h"

#include <gtest/gtest.h>

#include "block/error.h"

namespace block {
namespace {

struct Row {
  const char* name;
  bool writeback, direct, no_flush;
};

// QEMU's table: cache= is shorthand for three independent switches.
TEST(CacheModeTest, EachNameDecomposesExactlyLikeQemu) {
  for (Row r : {Row{"writeback", true, false, false}, Row{"none", true, true, false},
                Row{"writethrough", false, false, false}, Row{"directsync", false, true, false},
                Row{"unsafe", true, false, true}}) {
    SCOPED_TRACE(r.name);
    CacheMode m = parse_cache_mode(r.name);
    EXPECT_EQ(m.writeback, r.writeback);
    EXPECT_EQ(m.direct, r.direct);
    EXPECT_EQ(m.no_flush, r.no_flush);
    EXPECT_EQ(cache_mode_name(m), r.name);
  }
}

TEST(CacheModeTest, DefaultIsWriteback) { EXPECT_EQ(CacheMode{}, parse_cache_mode("writeback")); }

TEST(CacheModeTest, UnknownNameIsAClearError) {
  try {
    parse_cache_mode("fast");
    FAIL() << "accepted an unknown cache mode";
  } catch (const BlockError& e) {
    EXPECT_STREQ(e.what(),
                 "invalid cache mode 'fast' (expected writeback, none, writethrough, directsync or unsafe)");
  }
  EXPECT_THROW(parse_cache_mode(""), BlockError);
  EXPECT_THROW(parse_cache_mode("None"), BlockError);  // names are case-sensitive, as in QEMU
}

TEST(CacheModeTest, GuestTogglingWriteCacheMapsToTheWritethroughNames) {
  CacheMode m = parse_cache_mode("writeback");
  m.writeback = false;
  EXPECT_EQ(cache_mode_name(m), "writethrough");
  m = parse_cache_mode("none");
  m.writeback = false;
  EXPECT_EQ(cache_mode_name(m), "directsync");
}

}  // namespace
}  // namespace block
