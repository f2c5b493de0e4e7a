// Where the UART's transmitted bytes go. Implementations must not block the calling vCPU
// thread on host I/O for long.
#pragma once

#include <cstdint>
#include <span>

namespace devices {

class SerialOutput {
 public:
  virtual ~SerialOutput() = default;
  virtual void write(std::span<const uint8_t> bytes) = 0;
};

}  // namespace devices
