#include "devices/cmos_rtc.h"

namespace devices {
namespace {

uint8_t bcd(int value) { return static_cast<uint8_t>(((value / 10) << 4) | (value % 10)); }

}  // namespace

CmosRtc::CmosRtc(Clock clock) : clock_(std::move(clock)) {
  ram_[0x0A] = 0x26;  // status A: 32.768 kHz base, 1024 Hz rate, no update in progress
  ram_[0x0B] = 0x02;  // status B: 24-hour mode, BCD
  ram_[0x0D] = 0x80;  // status D: battery good (RTC valid)
}

void CmosRtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (auto& b : data) b = 0xFF;
  if (data.empty()) return;
  data[0] = offset == 1 ? read_data() : index_;
}

void CmosRtc::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (data.empty()) return;
  if (offset == 0) {
    index_ = data[0] & 0x7F;  // bit 7 is the NMI mask
  } else if (index_ >= 0x0A && index_ != 0x0C && index_ != 0x0D) {
    ram_[index_] = data[0];  // the clock itself is not settable
  }
}

uint8_t CmosRtc::read_data() {
  std::time_t now = clock_();
  std::tm t{};
  gmtime_r(&now, &t);
  switch (index_) {
    case 0x00: return bcd(t.tm_sec);
    case 0x02: return bcd(t.tm_min);
    case 0x04: return bcd(t.tm_hour);
    case 0x06: return bcd(t.tm_wday + 1);
    case 0x07: return bcd(t.tm_mday);
    case 0x08: return bcd(t.tm_mon + 1);
    case 0x09: return bcd(t.tm_year % 100);
    case 0x32: return bcd(19 + t.tm_year / 100);  // century
    case 0x0C: return 0;  // no pending RTC interrupts
    default: return ram_[index_];
  }
}

}  // namespace devices
