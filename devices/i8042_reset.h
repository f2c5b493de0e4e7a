// Just enough of the PS/2 controller (ports 0x60..0x64) for the guest to reset the machine:
// command 0xFE on port 0x64 pulses the CPU reset line. There is no keyboard. The status register
// reads 0x01: "input buffer empty" lets reset paths send the command at once, and an output
// buffer that never drains makes Linux's probe flush give up after 16 reads and report "no
// controller" immediately, instead of timing out on commands for seconds.
#pragma once

#include "devices/io_device.h"
#include "devices/machine_control.h"

namespace devices {

class I8042Reset : public IoDevice {
 public:
  static constexpr uint16_t kBase = 0x60;
  static constexpr uint64_t kSize = 5;  // 0x60..0x64 (0x61 is KVM's PIT speaker port)
  static constexpr uint64_t kCommandOffset = 4;
  static constexpr uint8_t kCommandPulseReset = 0xFE;
  static constexpr uint8_t kStatus = 0x01;  // output buffer full, input buffer empty

  explicit I8042Reset(MachineControl& control) : control_(control) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
};

}  // namespace devices
