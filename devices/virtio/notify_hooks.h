#pragma once
// What a virtio-pci device needs from the machine to get queue notifications to the I/O thread.
//
// The machine's implementation (see docs/virtio-blk.md):
//  - one eventfd per queue, watched by the I/O loop, whose callback calls
//    VirtioPciDevice::process_queue(queue);
//  - kick(queue) writes that eventfd (so it works from vCPU threads and from the I/O thread
//    itself without recursion);
//  - notify_area_moved() (re)registers KVM_IOEVENTFD for queue q at
//    address + q * VirtioPciDevice::kNotifyOffMultiplier (length 2, no datamatch), so guest
//    notifications normally never exit to user space; with nullopt it deregisters them.
#include <cstdint>
#include <optional>

namespace devices::virtio {

class NotifyHooks {
 public:
  virtual ~NotifyHooks() = default;
  // Arrange for process_queue(queue) to run on the I/O thread soon. Called from vCPU threads
  // (MMIO notify that KVM did not absorb, bus-master re-enabled) and from the I/O thread
  // (more work than one pass handles, slots freed after a reset).
  virtual void kick(uint16_t queue) = 0;
  // The guest-physical address of the notify area changed (BAR moved, memory decoding
  // toggled); nullopt while it does not decode.
  virtual void notify_area_moved(std::optional<uint64_t> address) {}
};

}  // namespace devices::virtio
