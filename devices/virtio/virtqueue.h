#pragma once
// The device side of a split virtqueue in guest memory. Everything the guest controls is
// validated: ring addresses/sizes (at activation), the available index (never more than the
// queue size ahead), head and next indices, chain length (loops), indirect tables (length,
// placement, nesting). A descriptor is copied out of guest memory once before it is used.
// Buffers are resolved to host pointers; a buffer that is not entirely guest RAM keeps
// host == nullptr for the device to reject the request.
//
// Memory ordering: the available index is read with acquire semantics before the ring entries
// it covers; the used element is written before the used index is published with release
// semantics; a full fence separates publishing from reading the driver's suppression fields.
//
// Not thread-safe: the device calls it under its lock, from the I/O thread.
#include <cstdint>
#include <vector>

#include "vmm/guest_memory.h"

namespace devices::virtio {

struct Segment {
  uint64_t address = 0;
  uint32_t length = 0;
  bool writable = false;
  uint8_t* host = nullptr;  // nullptr: not (entirely) guest RAM, or length 0
};

struct Chain {
  uint16_t head = 0;
  std::vector<Segment> segments;
};

enum class PopResult { kEmpty, kChain, kBroken };

class SplitQueue {
 public:
  static constexpr uint16_t kMaxSize = 256;

  // Driver-programmed configuration (the transport writes these while the queue is disabled).
  uint16_t size = kMaxSize;
  uint64_t desc_address = 0;
  uint64_t driver_address = 0;  // available ring
  uint64_t device_address = 0;  // used ring
  uint16_t msix_vector = 0xFFFF;
  bool enabled = false;

  // Validates the layout against guest RAM and caches host pointers. On failure returns false,
  // leaves the queue disabled and sets *why.
  bool activate(const vmm::GuestMemory& memory, bool event_idx, bool indirect, const char** why);
  // Back to the reset state (size = max, addresses 0, disabled).
  void reset();

  // Takes the next available chain. kBroken means the driver corrupted the ring (bad index,
  // loop, bad indirect table): the device should set DEVICE_NEEDS_RESET; *why says what.
  PopResult pop(Chain& chain, const char** why);
  // True if the driver has published buffers not popped yet (acquire read of avail idx).
  bool has_available() const;
  // EVENT_IDX: asks for a notification once the driver publishes past last_avail().
  void publish_avail_event();

  void push_used(uint16_t head, uint32_t length);
  // Whether the driver wants an interrupt for the used entries pushed since the last call
  // (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
  bool needs_interrupt();

  uint16_t last_avail() const { return last_avail_; }
  uint16_t used_index() const { return used_idx_; }
  bool active() const { return desc_ != nullptr; }

 private:
  bool walk(uint16_t head, Chain& chain, const char** why) const;

  const vmm::GuestMemory* memory_ = nullptr;
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  bool event_idx_ = false;
  bool indirect_ = false;
  uint16_t last_avail_ = 0;
  uint16_t used_idx_ = 0;
  uint16_t signalled_used_ = 0;  // used index at the last interrupt decision
};

// Host pointer for [address, address + length) if it is all guest RAM (and length > 0).
uint8_t* guest_ptr(const vmm::GuestMemory& memory, uint64_t address, uint64_t length);

}  // namespace devices::virtio
