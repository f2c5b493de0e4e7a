#include "devices/virtio/virtqueue.h"

#include <atomic>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "devices/virtio/virtio_spec.h"

namespace devices::virtio {
namespace {

struct Desc {
  uint64_t address;
  uint32_t length;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

uint16_t load_acquire16(uint8_t* p) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(std::memory_order_acquire);
}

uint16_t load_relaxed16(uint8_t* p) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(std::memory_order_relaxed);
}

void store16(uint8_t* p, uint16_t v, std::memory_order order) {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, order);
}

}  // namespace

uint8_t* guest_ptr(const vmm::GuestMemory& memory, uint64_t address, uint64_t length) {
  if (length == 0) return nullptr;
  try {
    return memory.span(address, length).data();
  } catch (const std::out_of_range&) {
    return nullptr;
  }
}

bool SplitQueue::activate(const vmm::GuestMemory& memory, bool event_idx, bool indirect,
                          const char** why) {
  desc_ = avail_ = used_ = nullptr;
  enabled = false;
  if (size == 0 || size > kMaxSize || !std::has_single_bit(size)) {
    *why = "queue size is not a power of two within the maximum";
    return false;
  }
  if (desc_address % 16 != 0 || driver_address % 2 != 0 || device_address % 4 != 0) {
    *why = "misaligned ring address";
    return false;
  }
  uint8_t* d = guest_ptr(memory, desc_address, uint64_t{size} * ring::kDescSize);
  uint8_t* a = guest_ptr(memory, driver_address, 6 + uint64_t{2} * size);
  uint8_t* u = guest_ptr(memory, device_address, 6 + uint64_t{ring::kUsedElemSize} * size);
  if (d == nullptr || a == nullptr || u == nullptr) {
    *why = "ring outside guest RAM";
    return false;
  }
  memory_ = &memory;
  desc_ = d;
  avail_ = a;
  used_ = u;
  event_idx_ = event_idx;
  indirect_ = indirect;
  last_avail_ = 0;
  used_idx_ = 0;
  signalled_used_ = 0;
  enabled = true;
  return true;
}

void SplitQueue::reset() { *this = SplitQueue{}; }

bool SplitQueue::has_available() const {
  return desc_ != nullptr && load_acquire16(avail_ + 2) != last_avail_;
}

PopResult SplitQueue::pop(Chain& chain, const char** why) {
  if (desc_ == nullptr) return PopResult::kEmpty;
  uint16_t avail_idx = load_acquire16(avail_ + 2);
  auto pending = static_cast<uint16_t>(avail_idx - last_avail_);
  if (pending == 0) return PopResult::kEmpty;
  if (pending > size) {
    *why = "available index moved more than the queue size";
    return PopResult::kBroken;
  }
  uint16_t head = load_relaxed16(avail_ + 4 + 2 * (last_avail_ % size));
  if (head >= size) {
    *why = "head descriptor index out of range";
    return PopResult::kBroken;
  }
  if (!walk(head, chain, why)) return PopResult::kBroken;
  ++last_avail_;
  return PopResult::kChain;
}

bool SplitQueue::walk(uint16_t head, Chain& chain, const char** why) const {
  chain.head = head;
  chain.segments.clear();
  const uint8_t* table = desc_;
  uint32_t table_entries = size;
  uint32_t seen = 0;  // descriptors visited in the current table
  bool in_indirect = false;
  uint32_t index = head;
  for (;;) {
    if (seen++ >= table_entries) {
      *why = "descriptor chain loops or is longer than its table";
      return false;
    }
    Desc d;
    std::memcpy(&d, table + size_t{index} * ring::kDescSize, sizeof d);
    if (d.flags & ring::kDescIndirect) {
      if (!indirect_) {
        *why = "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
        return false;
      }
      if (in_indirect) {
        *why = "indirect descriptor inside an indirect table";
        return false;
      }
      if (d.flags & ring::kDescNext) {
        *why = "indirect descriptor with NEXT set";
        return false;
      }
      if (d.length == 0 || d.length % ring::kDescSize != 0 || d.length / ring::kDescSize > size) {
        *why = "indirect table length invalid";
        return false;
      }
      const uint8_t* t = guest_ptr(*memory_, d.address, d.length);
      if (t == nullptr) {
        *why = "indirect table outside guest RAM";
        return false;
      }
      table = t;
      table_entries = d.length / ring::kDescSize;
      seen = 0;
      in_indirect = true;
      index = 0;
      continue;
    }
    chain.segments.push_back(Segment{d.address, d.length, (d.flags & ring::kDescWrite) != 0,
                                     guest_ptr(*memory_, d.address, d.length)});
    if (!(d.flags & ring::kDescNext)) return true;
    index = d.next;
    if (index >= table_entries) {
      *why = "next descriptor index out of range";
      return false;
    }
  }
}

void SplitQueue::publish_avail_event() {
  if (desc_ == nullptr || !event_idx_) return;
  store16(used_ + 4 + ring::kUsedElemSize * size, last_avail_, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // before re-reading avail idx
}

void SplitQueue::push_used(uint16_t head, uint32_t length) {
  if (desc_ == nullptr) return;
  uint8_t* elem = used_ + 4 + ring::kUsedElemSize * (used_idx_ % size);
  uint32_t id = head;
  std::memcpy(elem, &id, 4);
  std::memcpy(elem + 4, &length, 4);
  ++used_idx_;
  store16(used_ + 2, used_idx_, std::memory_order_release);
}

bool SplitQueue::needs_interrupt() {
  if (desc_ == nullptr) return false;
  std::atomic_thread_fence(std::memory_order_seq_cst);  // used idx visible before we read
  uint16_t old = signalled_used_;
  uint16_t now = used_idx_;
  signalled_used_ = now;
  if (old == now) return false;
  if (event_idx_) {
    uint16_t used_event = load_relaxed16(avail_ + 4 + 2 * size);
    return static_cast<uint16_t>(now - used_event - 1) < static_cast<uint16_t>(now - old);
  }
  return !(load_relaxed16(avail_) & ring::kAvailNoInterrupt);
}

}  // namespace devices::virtio
