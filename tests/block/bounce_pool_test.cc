#include "block/bounce_pool.h"

#include <cstdint>

#include <gtest/gtest.h>

namespace block {
namespace {

TEST(BouncePoolTest, SlotsAreAlignedAndReturned) {
  BouncePool pool(2, 8192);
  {
    BounceBuffer a = pool.acquire(4096);
    BounceBuffer b = pool.acquire(8192);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 4096, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
    EXPECT_NE(a.data(), b.data());
    EXPECT_EQ(pool.free_slots(), 0u);
  }
  EXPECT_EQ(pool.free_slots(), 2u);
  EXPECT_EQ(pool.heap_fallbacks(), 0u);
}

TEST(BouncePoolTest, OversizeOrExhaustedFallsBackToAlignedHeap) {
  BouncePool pool(1, 4096);
  BounceBuffer a = pool.acquire(4096);
  BounceBuffer b = pool.acquire(4096);      // pool empty
  BounceBuffer c = pool.acquire(1 << 20);   // larger than a slot
  EXPECT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c.data()) % 4096, 0u);
  EXPECT_EQ(pool.heap_fallbacks(), 2u);
  c.data()[(1 << 20) - 1] = std::byte{1};  // the whole buffer is usable
}

TEST(BouncePoolTest, MovedBufferReleasesOnce) {
  BouncePool pool(1, 4096);
  BounceBuffer a = pool.acquire(512);
  BounceBuffer b = std::move(a);
  EXPECT_FALSE(a);
  b.reset();
  EXPECT_EQ(pool.free_slots(), 1u);
  b.reset();
  EXPECT_EQ(pool.free_slots(), 1u);
}

}  // namespace
}  // namespace block
