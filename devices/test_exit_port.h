// Test harness port 0xF4: a guest write of byte V ends the VMM with exit status V.
#pragma once

#include "devices/io_device.h"
#include "devices/machine_control.h"

namespace devices {

class TestExitPort : public IoDevice {
 public:
  static constexpr uint16_t kPort = 0xF4;

  explicit TestExitPort(MachineControl& control) : control_(control) {}
  void read(uint64_t, std::span<uint8_t> data) override;
  void write(uint64_t, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
};

}  // namespace devices
