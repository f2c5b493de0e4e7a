#pragma once
// How an MMIO/PIO-driven storage controller (AHCI, IDE) gets work onto the VMM's I/O thread.
// Commands start on a vCPU thread (a PxCI write, a BMIDE start bit, an IDE command register
// write) but every block::Backend call must happen on the I/O thread, and the I/O thread must
// be woken at once (QEMU's AHCI once left requests waiting up to 499 ms because it queued I/O
// from the vCPU thread without waking its event loop).
//
// The machine implements it with vmm::IoLoop::post(), which runs the callback on the I/O
// thread and wakes it. Tests collect the callbacks and run them when they like.
#include <functional>

namespace devices::ata {

class IoThreadHook {
 public:
  virtual ~IoThreadHook() = default;
  // Runs `work` on the I/O thread soon; must not block and must wake the I/O thread.
  virtual void post(std::function<void()> work) = 0;
};

}  // namespace devices::ata
