#include "devices/virtio/kvm_queue_notifier.h"

#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace devices::virtio {

KvmQueueNotifier::KvmQueueNotifier(int vm_fd, uint16_t num_queues, uint32_t notify_off_multiplier)
    : vm_fd_(vm_fd), multiplier_(notify_off_multiplier), assigned_(num_queues, false) {
  for (uint16_t q = 0; q < num_queues; ++q) {
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd for virtqueue");
    fds_.emplace_back(fd);
  }
}

KvmQueueNotifier::~KvmQueueNotifier() { notify_area_moved(std::nullopt); }

bool KvmQueueNotifier::consume(uint16_t queue) {
  uint64_t value = 0;
  return ::read(fds_.at(queue).get(), &value, sizeof value) == sizeof value && value != 0;
}

void KvmQueueNotifier::kick(uint16_t queue) {
  if (queue >= fds_.size()) return;
  uint64_t one = 1;
  // EAGAIN only if the counter is saturated: the I/O thread will run anyway.
  [[maybe_unused]] ssize_t n = ::write(fds_[queue].get(), &one, sizeof one);
}

bool KvmQueueNotifier::assign(uint64_t area, uint16_t queue, bool deassign) {
  if (vm_fd_ < 0) return false;
  kvm_ioeventfd io{};
  io.addr = area + uint64_t{queue} * multiplier_;
  io.len = 2;  // the driver writes the 16-bit queue index (no NOTIFICATION_DATA)
  io.fd = fds_[queue].get();
  io.flags = deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0;
  if (::ioctl(vm_fd_, KVM_IOEVENTFD, &io) == 0) return true;
  std::fprintf(stderr, "vmm: KVM_IOEVENTFD %s 0x%llx: %s (notifications will exit to user space)\n",
               deassign ? "deassign" : "assign", static_cast<unsigned long long>(io.addr),
               std::strerror(errno));
  return false;
}

void KvmQueueNotifier::notify_area_moved(std::optional<uint64_t> address) {
  std::lock_guard lock(mutex_);
  if (address == registered_) return;
  if (registered_) {
    for (uint16_t q = 0; q < fds_.size(); ++q) {
      if (assigned_[q]) assign(*registered_, q, true);
      assigned_[q] = false;
    }
  }
  registered_ = address;
  if (address) {
    for (uint16_t q = 0; q < fds_.size(); ++q) assigned_[q] = assign(*address, q, false);
  }
}

std::optional<uint64_t> KvmQueueNotifier::registered_area() {
  std::lock_guard lock(mutex_);
  return registered_;
}

}  // namespace devices::virtio
