#include "devices/reset_control_port.h"

namespace devices {

void ResetControlPort::read(uint64_t, std::span<uint8_t> data) {
  for (auto& b : data) b = 0;
  if (!data.empty()) data[0] = value_.load();
}

void ResetControlPort::write(uint64_t, std::span<const uint8_t> data) {
  if (data.empty()) return;
  // Bit 1 (SYS_RST) only selects hard vs. soft reset; the reset happens when bit 2 is written.
  value_.store(data[0] & 0x0E);
  if (data[0] & kResetCpu) control_.request_exit(0, "guest reset via port 0xcf9");
}

}  // namespace devices
