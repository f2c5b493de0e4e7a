#include "vmm/key_value.h"

#include <gtest/gtest.h>

namespace vmm {
namespace {

TEST(SplitKeyValues, SplitsPairsInOrder) {
  const auto kv = split_key_values("file=disk.img,if=virtio,cache=none");
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0], (KeyValue{"file", "disk.img"}));
  EXPECT_EQ(kv[1], (KeyValue{"if", "virtio"}));
  EXPECT_EQ(kv[2], (KeyValue{"cache", "none"}));
}

TEST(SplitKeyValues, DoubleCommaIsALiteralComma) {
  const auto kv = split_key_values("file=a,,b.img,format=raw");
  ASSERT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv[0].value, "a,b.img");
}

TEST(SplitKeyValues, EmptyValueAndEqualsInValueAreKept) {
  const auto kv = split_key_values("serial=,opt=a=b");
  ASSERT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv[0].value, "");
  EXPECT_EQ(kv[1].value, "a=b");
}

TEST(SplitKeyValues, ImpliedKeyForFirstBareElement) {
  const auto kv = split_key_values("disk.img,if=virtio", "file");
  ASSERT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv[0], (KeyValue{"file", "disk.img"}));
}

TEST(SplitKeyValues, RejectsMalformedInput) {
  EXPECT_THROW(split_key_values(""), std::invalid_argument);
  EXPECT_THROW(split_key_values("file=a,"), std::invalid_argument);
  EXPECT_THROW(split_key_values("file=a,,,x"), std::invalid_argument);  // "a," then "x"
  EXPECT_THROW(split_key_values("=x"), std::invalid_argument);
  EXPECT_THROW(split_key_values("a=1,a=2"), std::invalid_argument);
  EXPECT_THROW(split_key_values("if=virtio,bare"), std::invalid_argument);
  EXPECT_THROW(split_key_values("bare"), std::invalid_argument);
}

TEST(SplitKeyValues, ErrorNamesTheElement) {
  try {
    split_key_values("file=x,oops");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'oops'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vmm
