// Port 0x3F0: the guest's init writes the byte 123 here as soon as it starts, so the VMM can
// report the time it took to boot to init.
#pragma once

#include "devices/io_device.h"
#include "devices/machine_control.h"

namespace devices {

class BootMarkerPort : public IoDevice {
 public:
  static constexpr uint16_t kPort = 0x3F0;
  static constexpr uint8_t kInitReached = 123;

  explicit BootMarkerPort(MachineControl& control) : control_(control) {}
  void read(uint64_t, std::span<uint8_t> data) override;
  void write(uint64_t, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
};

}  // namespace devices
