#pragma once
// Aligned bounce buffers for O_DIRECT requests whose guest iovecs or offsets are not aligned.
// The pool is carved out of one mapping made at start-up, so the steady state allocates
// nothing. A request larger than a slot, or arriving while every slot is busy, gets a one-off
// aligned heap buffer (counted in heap_fallbacks()) rather than failing or stalling.
// Single-threaded: acquire and release on the I/O thread.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace block {

class BouncePool;

class BounceBuffer {
 public:
  BounceBuffer() = default;
  BounceBuffer(BounceBuffer&& other) noexcept;
  BounceBuffer& operator=(BounceBuffer&& other) noexcept;
  BounceBuffer(const BounceBuffer&) = delete;
  BounceBuffer& operator=(const BounceBuffer&) = delete;
  ~BounceBuffer() { reset(); }

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  explicit operator bool() const { return data_ != nullptr; }
  void reset();  // gives the slot back to its pool

 private:
  friend class BouncePool;
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  BouncePool* pool_ = nullptr;
  uint32_t slot_ = 0;
  std::unique_ptr<std::byte, FreeDeleter> heap_;
};

class BouncePool {
 public:
  // slot_count buffers of slot_size bytes, each aligned to `alignment` (a power of two that is
  // at least the page size is always fine for O_DIRECT).
  BouncePool(size_t slot_count, size_t slot_size, size_t alignment = 4096);
  ~BouncePool();
  BouncePool(const BouncePool&) = delete;
  BouncePool& operator=(const BouncePool&) = delete;

  BounceBuffer acquire(size_t bytes);

  size_t slot_size() const { return slot_size_; }
  size_t free_slots() const { return free_.size(); }
  uint64_t heap_fallbacks() const { return heap_fallbacks_; }
  uint64_t acquisitions() const { return acquisitions_; }

 private:
  friend class BounceBuffer;
  void release(uint32_t slot) { free_.push_back(slot); }

  size_t slot_size_;
  size_t alignment_;
  size_t mapping_size_ = 0;
  std::byte* mapping_ = nullptr;
  std::vector<uint32_t> free_;  // capacity reserved up front: push_back never allocates
  uint64_t heap_fallbacks_ = 0;
  uint64_t acquisitions_ = 0;
};

}  // namespace block
