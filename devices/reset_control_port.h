// The PC reset control register at port 0xCF9: a write with RST_CPU (bit 2) resets the machine,
// which for this VMM means a clean exit with status 0.
#pragma once

#include <atomic>

#include "devices/io_device.h"
#include "devices/machine_control.h"

namespace devices {

class ResetControlPort : public IoDevice {
 public:
  static constexpr uint16_t kPort = 0xCF9;
  static constexpr uint8_t kResetCpu = 0x04;

  explicit ResetControlPort(MachineControl& control) : control_(control) {}
  void read(uint64_t, std::span<uint8_t> data) override;
  void write(uint64_t, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
  std::atomic<uint8_t> value_{0};
};

}  // namespace devices
