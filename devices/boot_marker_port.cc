#include "devices/boot_marker_port.h"

namespace devices {

void BootMarkerPort::read(uint64_t, std::span<uint8_t> data) {
  for (auto& b : data) b = 0xFF;
}

void BootMarkerPort::write(uint64_t, std::span<const uint8_t> data) {
  if (data.size() == 1 && data[0] == kInitReached) control_.guest_init_reached();
}

}  // namespace devices
