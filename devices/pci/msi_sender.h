#pragma once
// Delivers one message-signalled interrupt. The machine implements it with KVM_SIGNAL_MSI (or
// an irqfd bound to a GSI route with this address/data); tests record the messages.
// Called from the I/O thread (queue completions) and from vCPU threads (unmasking a vector
// with a pending bit), so implementations must be thread-safe.
#include <cstdint>

namespace devices::pci {

class MsiSender {
 public:
  virtual ~MsiSender() = default;
  virtual void send(uint64_t address, uint32_t data) = 0;
};

}  // namespace devices::pci
