#pragma once
// IoThreadHook over vmm::IoLoop::post(), which queues the callback and wakes the I/O thread
// at once (its eventfd), so a command started by an MMIO/PIO write on a vCPU thread begins
// without waiting for some unrelated event.
#include <utility>

#include "devices/ata/io_thread_hook.h"
#include "vmm/io_loop.h"

namespace devices::ata {

class IoLoopHook final : public IoThreadHook {
 public:
  explicit IoLoopHook(vmm::IoLoop& loop) : loop_(loop) {}
  void post(std::function<void()> work) override { loop_.post(std::move(work)); }

 private:
  vmm::IoLoop& loop_;
};

}  // namespace devices::ata
