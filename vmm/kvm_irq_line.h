// An InterruptLine wired to a GSI of KVM's in-kernel PIC/IOAPIC.
#pragma once

#include "devices/interrupt_line.h"
#include "vmm/kvm.h"

namespace vmm {

class KvmIrqLine : public devices::InterruptLine {
 public:
  KvmIrqLine(const KvmVm& vm, unsigned gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool asserted) override { vm_.set_irq_line(gsi_, asserted); }

 private:
  const KvmVm& vm_;
  unsigned gsi_;
};

}  // namespace vmm
