#pragma once
// What the machine gives a device, reduced to counters for the host-only benchmarks: an MSI
// sender and an interrupt line that count what the device raised, a NotifyHooks that remembers
// a virtio self-kick, and an IoThreadHook that queues posted work without allocating (a fixed
// ring of std::function whose small captures stay inside the object). The benchmark thread
// plays the I/O thread and runs the posted work itself.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <utility>

#include "devices/ata/io_thread_hook.h"
#include "devices/interrupt_line.h"
#include "devices/pci/msi_sender.h"
#include "devices/virtio/notify_hooks.h"

namespace bench {

class CountingMsi final : public devices::pci::MsiSender {
 public:
  void send(uint64_t, uint32_t) override { ++sent; }
  uint64_t sent = 0;
};

// Counts rising edges: one per interrupt the guest would take.
class CountingLine final : public devices::InterruptLine {
 public:
  void set_level(bool asserted) override {
    if (asserted && !level) ++raised;
    level = asserted;
  }
  bool level = false;
  uint64_t raised = 0;
};

class KickFlag final : public devices::virtio::NotifyHooks {
 public:
  void kick(uint16_t) override { pending = true; }
  bool take() { return std::exchange(pending, false); }
  bool pending = false;
};

class PostedWork final : public devices::ata::IoThreadHook {
 public:
  void post(std::function<void()> work) override {
    if (count_ == ring_.size()) std::abort();  // a benchmark bug: the devices post one per port
    ring_[(head_ + count_++) % ring_.size()] = std::move(work);
  }
  // Runs everything queued, including what the callbacks post.
  void run() {
    while (count_ > 0) {
      std::function<void()> work = std::move(ring_[head_]);
      head_ = (head_ + 1) % ring_.size();
      --count_;
      work();
    }
  }

 private:
  std::array<std::function<void()>, 16> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace bench
