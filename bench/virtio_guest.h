#pragma once
// A minimal virtio-blk guest driver for the host-only benchmarks. It brings a VirtioBlk up
// through BAR 0 the way Linux does (features incl. EVENT_IDX and INDIRECT_DESC, MSI-X vector 1
// for queue 0), owns `depth` request slots whose buffers, descriptors and indirect tables are
// built once, and per request only writes the header and one available-ring entry, as a
// driver's hot path does. Completions are read from the used ring; used_event is re-armed after
// each reap, so the device interrupts once per reap round (Linux's behaviour with EVENT_IDX).
#include <cstdint>
#include <vector>

#include "bench/guest_ram.h"
#include "devices/virtio/virtio_blk.h"

namespace bench {

struct VirtioGuestOptions {
  uint16_t depth = 1;     // request slots (requests in flight at most)
  uint32_t segments = 1;  // data descriptors per request, 4 KiB each, not contiguous
  bool indirect = true;   // one indirect table per request (what Linux does)
  uint16_t queue_size = 256;
};

class VirtioGuest {
 public:
  VirtioGuest(GuestRam& ram, devices::virtio::VirtioBlk& dev, const VirtioGuestOptions& options);

  // Fills slot `slot`'s header (IN or OUT at `sector`) and makes it available (no notify).
  void queue(uint16_t slot, bool write, uint64_t sector);
  // Reads the used ring: appends completed slot numbers to `done` and re-arms used_event.
  // Returns how many completed.
  uint16_t reap(std::vector<uint16_t>& done);
  // Linux's virtqueue_kick_prepare() with EVENT_IDX: whether the buffers made available since
  // the last call must be notified (the device's avail_event is among them).
  bool kick_prepare();

  uint64_t errors() const { return errors_; }
  uint32_t request_bytes() const { return options_.segments * 4096; }

 private:
  // Host pointers into guest RAM, resolved once: the guest side of the hot path should cost
  // next to nothing so that the numbers are the device's.
  struct Slot {
    uint8_t* header = nullptr;
    uint8_t* status = nullptr;
    std::vector<uint8_t*> data_flags;  // the flags field of each data descriptor
    uint16_t head = 0;
  };
  uint64_t read_bar(uint64_t offset, size_t size);
  void write_bar(uint64_t offset, uint64_t value, size_t size);
  void write_config(uint32_t offset, uint32_t value, size_t size);
  uint32_t read_config(uint32_t offset, size_t size);
  void put_desc(uint64_t table, uint32_t index, uint64_t address, uint32_t length, uint16_t flags,
                uint16_t next);
  void bring_up();
  void build_slots();

  GuestRam& ram_;
  devices::virtio::VirtioBlk& dev_;
  VirtioGuestOptions options_;
  uint64_t desc_ = 0, avail_ = 0, used_ = 0;
  uint8_t* avail_host_ = nullptr;
  uint8_t* used_host_ = nullptr;
  uint16_t avail_idx_ = 0;
  uint16_t avail_idx_at_kick_prepare_ = 0;
  uint16_t used_seen_ = 0;
  std::vector<Slot> slots_;
  uint64_t errors_ = 0;
};

}  // namespace bench
