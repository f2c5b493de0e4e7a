// A minimal MC146818 CMOS/RTC at ports 0x70 (index) / 0x71 (data): the clock registers show
// the host's UTC time in BCD, never "update in progress"; other bytes are plain storage.
#pragma once

#include <array>
#include <ctime>
#include <functional>
#include <mutex>

#include "devices/io_device.h"

namespace devices {

class CmosRtc : public IoDevice {
 public:
  static constexpr uint16_t kBase = 0x70;
  static constexpr uint64_t kSize = 2;
  using Clock = std::function<std::time_t()>;

  explicit CmosRtc(Clock clock = [] { return std::time(nullptr); });
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint8_t read_data();

  std::mutex mutex_;
  Clock clock_;
  uint8_t index_ = 0;
  std::array<uint8_t, 128> ram_{};
};

}  // namespace devices
