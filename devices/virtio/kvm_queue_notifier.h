#pragma once
// NotifyHooks for a KVM machine: one eventfd per virtqueue, registered with KVM_IOEVENTFD at the
// queue's notify address so guest notifications are absorbed by KVM and wake the I/O thread
// without a vCPU exit to user space. kick() writes the same eventfd, so MMIO notifications
// that KVM did not absorb (odd access sizes, before registration) and device-internal kicks
// take the same path.
//
// Wiring (I/O thread):
//   for q: io_loop.watch_readable(notifier.eventfd(q), [&, q] {
//     notifier.consume(q);
//     blk.process_queue(q);
//     return true;
//   });
//
// Thread-safe: notify_area_moved() runs on vCPU threads (BAR/command writes), kick() anywhere.
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "devices/virtio/notify_hooks.h"
#include "vmm/unique_fd.h"

namespace devices::virtio {

class KvmQueueNotifier final : public NotifyHooks {
 public:
  // Throws std::system_error if an eventfd cannot be created. With vm_fd < 0 nothing is
  // registered with KVM (every notification takes the MMIO path to kick()): tests, or a host
  // without ioeventfd support.
  KvmQueueNotifier(int vm_fd, uint16_t num_queues, uint32_t notify_off_multiplier);
  ~KvmQueueNotifier() override;

  int eventfd(uint16_t queue) const { return fds_.at(queue).get(); }
  // Clears the eventfd counter; true if it had been signalled.
  bool consume(uint16_t queue);

  void kick(uint16_t queue) override;
  void notify_area_moved(std::optional<uint64_t> address) override;

  // Where the device's notify area is now (KVM absorbs notifications there when vm_fd >= 0).
  std::optional<uint64_t> registered_area();

 private:
  bool assign(uint64_t area, uint16_t queue, bool deassign);

  int vm_fd_;
  uint32_t multiplier_;
  std::vector<vmm::UniqueFd> fds_;
  std::mutex mutex_;
  std::optional<uint64_t> registered_;
  std::vector<bool> assigned_;
};

}  // namespace devices::virtio
