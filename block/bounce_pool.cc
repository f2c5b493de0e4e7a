#include "block/bounce_pool.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <new>
#include <system_error>
#include <utility>

#include "block/alignment.h"

namespace block {

void BounceBuffer::FreeDeleter::operator()(std::byte* p) const { std::free(p); }

BounceBuffer::BounceBuffer(BounceBuffer&& other) noexcept { *this = std::move(other); }

BounceBuffer& BounceBuffer::operator=(BounceBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    pool_ = std::exchange(other.pool_, nullptr);
    slot_ = other.slot_;
    heap_ = std::move(other.heap_);
  }
  return *this;
}

void BounceBuffer::reset() {
  if (pool_ != nullptr) pool_->release(slot_);
  pool_ = nullptr;
  heap_.reset();
  data_ = nullptr;
  size_ = 0;
}

BouncePool::BouncePool(size_t slot_count, size_t slot_size, size_t alignment)
    : slot_size_(align_up(slot_size, alignment)), alignment_(alignment) {
  free_.reserve(slot_count);
  if (slot_count == 0) return;
  mapping_size_ = slot_count * slot_size_;
  // MAP_NORESERVE: slots cost memory only once an unaligned request actually uses them.
  void* p = ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "block: bounce pool mmap");
  mapping_ = static_cast<std::byte*>(p);
  for (size_t i = slot_count; i > 0; --i) free_.push_back(static_cast<uint32_t>(i - 1));
}

BouncePool::~BouncePool() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

BounceBuffer BouncePool::acquire(size_t bytes) {
  ++acquisitions_;
  BounceBuffer buffer;
  buffer.size_ = bytes;
  if (bytes <= slot_size_ && !free_.empty()) {
    buffer.slot_ = free_.back();
    free_.pop_back();
    buffer.pool_ = this;
    buffer.data_ = mapping_ + static_cast<size_t>(buffer.slot_) * slot_size_;
    return buffer;
  }
  ++heap_fallbacks_;
  void* p = std::aligned_alloc(alignment_, align_up(bytes == 0 ? 1 : bytes, alignment_));
  if (p == nullptr) throw std::bad_alloc();
  buffer.heap_.reset(static_cast<std::byte*>(p));
  buffer.data_ = buffer.heap_.get();
  return buffer;
}

}  // namespace block
