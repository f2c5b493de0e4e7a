// One interrupt wire from a device to the interrupt controller. Devices report the level of
// their interrupt output; the implementation (KVM_IRQ_LINE, or a fake in tests) delivers it.
#pragma once

namespace devices {

class InterruptLine {
 public:
  virtual ~InterruptLine() = default;
  virtual void set_level(bool asserted) = 0;
};

}  // namespace devices
