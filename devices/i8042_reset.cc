#include "devices/i8042_reset.h"

namespace devices {

void I8042Reset::read(uint64_t offset, std::span<uint8_t> data) {
  for (auto& b : data) b = 0xFF;
  if (offset == kCommandOffset && !data.empty()) data[0] = kStatus;
}

void I8042Reset::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == kCommandOffset && !data.empty() && data[0] == kCommandPulseReset) {
    control_.request_exit(0, "guest reset via i8042");
  }
}

}  // namespace devices
