// Split virtqueue: activation checks, chain walking (direct, indirect, hostile), used ring
// publication and interrupt suppression.
#include <gtest/gtest.h>

#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/virtqueue.h"
#include "virtio_test_util.h"

namespace devices::virtio {
namespace {

using testing::TestRam;

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    desc = ram.alloc(16 * kSize, 16);
    avail = ram.alloc(6 + 2 * kSize, 2);
    used = ram.alloc(6 + 8 * kSize, 4);
    q.size = kSize;
    q.desc_address = desc;
    q.driver_address = avail;
    q.device_address = used;
  }
  void activate(bool event_idx = false, bool indirect = true) {
    const char* why = "";
    ASSERT_TRUE(q.activate(ram.memory, event_idx, indirect, &why)) << why;
  }
  void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    ram.set<uint64_t>(table + 16 * i, addr);
    ram.set<uint32_t>(table + 16 * i + 8, len);
    ram.set<uint16_t>(table + 16 * i + 12, flags);
    ram.set<uint16_t>(table + 16 * i + 14, next);
  }
  void publish(uint16_t head) {
    ram.set<uint16_t>(avail + 4 + 2 * (avail_idx % kSize), head);
    ++avail_idx;
    ram.set<uint16_t>(avail + 2, avail_idx);
  }
  PopResult pop() { return q.pop(chain, &why); }

  static constexpr uint16_t kSize = 8;
  TestRam ram;
  SplitQueue q;
  Chain chain;
  const char* why = "";
  uint64_t desc = 0, avail = 0, used = 0;
  uint16_t avail_idx = 0;
};

TEST_F(VirtqueueTest, ActivationRejectsBadLayouts) {
  const char* w = "";
  q.size = 6;
  EXPECT_FALSE(q.activate(ram.memory, false, false, &w));  // not a power of two
  q.size = 512;
  EXPECT_FALSE(q.activate(ram.memory, false, false, &w));  // above maximum
  q.size = kSize;
  q.desc_address = testing::kRamSize - 16;                  // runs past RAM
  EXPECT_FALSE(q.activate(ram.memory, false, false, &w));
  q.desc_address = 0x1'0000'0000;                            // not RAM at all
  EXPECT_FALSE(q.activate(ram.memory, false, false, &w));
  EXPECT_STREQ(w, "ring outside guest RAM");
  q.desc_address = desc + 8;                                 // misaligned
  EXPECT_FALSE(q.activate(ram.memory, false, false, &w));
  EXPECT_FALSE(q.enabled);
  q.desc_address = desc;
  EXPECT_TRUE(q.activate(ram.memory, false, false, &w));
  EXPECT_TRUE(q.enabled);
}

TEST_F(VirtqueueTest, WalksDirectChain) {
  activate();
  put_desc(desc, 3, 0x1000, 16, ring::kDescNext, 5);
  put_desc(desc, 5, 0x2000, 512, ring::kDescNext | ring::kDescWrite, 1);
  put_desc(desc, 1, 0x3000, 1, ring::kDescWrite, 0);
  EXPECT_EQ(pop(), PopResult::kEmpty);
  publish(3);
  ASSERT_EQ(pop(), PopResult::kChain);
  EXPECT_EQ(chain.head, 3);
  ASSERT_EQ(chain.segments.size(), 3u);
  EXPECT_FALSE(chain.segments[0].writable);
  EXPECT_EQ(chain.segments[1].length, 512u);
  EXPECT_TRUE(chain.segments[2].writable);
  EXPECT_EQ(chain.segments[2].host, ram.ptr(0x3000));
  EXPECT_EQ(pop(), PopResult::kEmpty);
}

TEST_F(VirtqueueTest, OutOfRamAndZeroLengthBuffersHaveNoHostPointer) {
  activate();
  put_desc(desc, 0, testing::kRamSize - 4, 8, ring::kDescNext, 1);
  put_desc(desc, 1, 0x1000, 0, ring::kDescWrite, 0);
  publish(0);
  ASSERT_EQ(pop(), PopResult::kChain);
  EXPECT_EQ(chain.segments[0].host, nullptr);
  EXPECT_EQ(chain.segments[1].host, nullptr);
}

TEST_F(VirtqueueTest, WalksIndirectTable) {
  activate();
  uint64_t table = ram.alloc(48, 16);
  put_desc(table, 0, 0x1000, 16, ring::kDescNext, 1);
  put_desc(table, 1, 0x2000, 4096, ring::kDescNext, 2);
  put_desc(table, 2, 0x4000, 1, ring::kDescWrite, 0);
  put_desc(desc, 0, table, 48, ring::kDescIndirect, 0);
  publish(0);
  ASSERT_EQ(pop(), PopResult::kChain);
  ASSERT_EQ(chain.segments.size(), 3u);
  EXPECT_EQ(chain.segments[1].length, 4096u);
}

TEST_F(VirtqueueTest, IndirectWithoutFeatureIsBroken) {
  activate(false, /*indirect=*/false);
  uint64_t table = ram.alloc(16, 16);
  put_desc(table, 0, 0x1000, 1, ring::kDescWrite, 0);
  put_desc(desc, 0, table, 16, ring::kDescIndirect, 0);
  publish(0);
  EXPECT_EQ(pop(), PopResult::kBroken);
}

TEST_F(VirtqueueTest, LoopIsBroken) {
  activate();
  put_desc(desc, 0, 0x1000, 16, ring::kDescNext, 1);
  put_desc(desc, 1, 0x2000, 16, ring::kDescNext, 0);
  publish(0);
  EXPECT_EQ(pop(), PopResult::kBroken);
  EXPECT_STREQ(why, "descriptor chain loops or is longer than its table");
}

TEST_F(VirtqueueTest, LoopInsideIndirectTableIsBroken) {
  activate();
  uint64_t table = ram.alloc(32, 16);
  put_desc(table, 0, 0x1000, 16, ring::kDescNext, 1);
  put_desc(table, 1, 0x1000, 16, ring::kDescNext, 1);
  put_desc(desc, 0, table, 32, ring::kDescIndirect, 0);
  publish(0);
  EXPECT_EQ(pop(), PopResult::kBroken);
}

TEST_F(VirtqueueTest, NextIndexOutOfRangeIsBroken) {
  activate();
  put_desc(desc, 0, 0x1000, 16, ring::kDescNext, kSize);
  publish(0);
  EXPECT_EQ(pop(), PopResult::kBroken);
}

TEST_F(VirtqueueTest, HeadOutOfRangeIsBroken) {
  activate();
  publish(kSize + 3);
  EXPECT_EQ(pop(), PopResult::kBroken);
}

TEST_F(VirtqueueTest, AvailIndexJumpIsBroken) {
  activate();
  ram.set<uint16_t>(avail + 2, kSize + 1);
  EXPECT_EQ(pop(), PopResult::kBroken);
}

TEST_F(VirtqueueTest, NestedIndirectIsBroken) {
  activate();
  uint64_t inner = ram.alloc(16, 16);
  put_desc(inner, 0, 0x1000, 1, ring::kDescWrite, 0);
  uint64_t outer = ram.alloc(16, 16);
  put_desc(outer, 0, inner, 16, ring::kDescIndirect, 0);
  put_desc(desc, 0, outer, 16, ring::kDescIndirect, 0);
  publish(0);
  EXPECT_EQ(pop(), PopResult::kBroken);
}

TEST_F(VirtqueueTest, BadIndirectTablesAreBroken) {
  activate();
  uint64_t table = ram.alloc(64, 16);
  struct Case {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
  } cases[] = {
      {table, 0, ring::kDescIndirect},                                   // empty
      {table, 24, ring::kDescIndirect},                                  // not a multiple of 16
      {table, 16 * (kSize + 1), ring::kDescIndirect},                    // longer than the queue
      {testing::kRamSize - 16, 32, ring::kDescIndirect},                 // outside RAM
      {table, 16, ring::kDescIndirect | ring::kDescNext},                // INDIRECT with NEXT
  };
  for (const Case& c : cases) {
    put_desc(desc, 0, c.addr, c.len, c.flags, 1);
    put_desc(desc, 1, 0x1000, 1, ring::kDescWrite, 0);
    SplitQueue fresh = q;
    publish(0);
    EXPECT_EQ(pop(), PopResult::kBroken) << c.len;
    q = fresh;
    --avail_idx;
    ram.set<uint16_t>(avail + 2, avail_idx);
  }
}

TEST_F(VirtqueueTest, UsedRingAndNoInterruptFlag) {
  activate();
  q.push_used(5, 513);
  EXPECT_EQ(ram.get<uint16_t>(used + 2), 1);
  EXPECT_EQ(ram.get<uint32_t>(used + 4), 5u);
  EXPECT_EQ(ram.get<uint32_t>(used + 8), 513u);
  EXPECT_TRUE(q.needs_interrupt());
  EXPECT_FALSE(q.needs_interrupt());  // nothing new
  ram.set<uint16_t>(avail, ring::kAvailNoInterrupt);
  q.push_used(6, 1);
  EXPECT_FALSE(q.needs_interrupt());
}

TEST_F(VirtqueueTest, EventIdxSuppressesUntilUsedEvent) {
  activate(/*event_idx=*/true);
  ram.set<uint16_t>(avail + 4 + 2 * kSize, 2);  // used_event: interrupt when idx passes 2
  q.push_used(0, 1);
  EXPECT_FALSE(q.needs_interrupt());  // used idx 1
  q.push_used(1, 1);
  EXPECT_FALSE(q.needs_interrupt());  // used idx 2
  q.push_used(2, 1);
  EXPECT_TRUE(q.needs_interrupt());   // used idx 3 crosses used_event + 1
  // avail_event tells the driver where we are.
  put_desc(desc, 0, 0x1000, 1, ring::kDescWrite, 0);
  publish(0);
  ASSERT_EQ(pop(), PopResult::kChain);
  q.publish_avail_event();
  EXPECT_EQ(ram.get<uint16_t>(used + 4 + 8 * kSize), 1);
}

TEST_F(VirtqueueTest, AvailEventIsNotWrittenWithoutEventIdx) {
  activate(/*event_idx=*/false);
  ram.set<uint16_t>(used + 4 + 8 * kSize, 0xABCD);
  q.publish_avail_event();
  EXPECT_EQ(ram.get<uint16_t>(used + 4 + 8 * kSize), 0xABCD);
}

}  // namespace
}  // namespace devices::virtio
