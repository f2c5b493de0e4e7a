#include "devices/test_exit_port.h"

#include <string>

namespace devices {

void TestExitPort::read(uint64_t, std::span<uint8_t> data) {
  for (auto& b : data) b = 0xFF;
}

void TestExitPort::write(uint64_t, std::span<const uint8_t> data) {
  if (data.empty()) return;
  control_.request_exit(data[0], "guest wrote " + std::to_string(data[0]) + " to port 0xf4");
}

}  // namespace devices
