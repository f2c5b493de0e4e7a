// A device reachable through the PIO or MMIO bus. `offset` is relative to the start of the
// range the device was registered at; `data` is 1, 2, 4 or 8 bytes, little-endian.
// Methods are called from vCPU threads concurrently: devices do their own locking.
#pragma once

#include <cstdint>
#include <span>

namespace devices {

class IoDevice {
 public:
  virtual ~IoDevice() = default;
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

}  // namespace devices
