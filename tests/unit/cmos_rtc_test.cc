#include "devices/cmos_rtc.h"

#include <gtest/gtest.h>

namespace devices {
namespace {

uint8_t read_cmos(CmosRtc& rtc, uint8_t index) {
  rtc.write(0, std::span<const uint8_t>(&index, 1));
  uint8_t v = 0;
  rtc.read(1, std::span(&v, 1));
  return v;
}

TEST(CmosRtc, ClockInBcd) {
  // 2026-11-21 09:45:07 UTC, a Saturday.
  CmosRtc rtc([] { return std::time_t{1795254307}; });
  EXPECT_EQ(read_cmos(rtc, 0x00), 0x07);
  EXPECT_EQ(read_cmos(rtc, 0x02), 0x45);
  EXPECT_EQ(read_cmos(rtc, 0x04), 0x09);
  EXPECT_EQ(read_cmos(rtc, 0x07), 0x21);
  EXPECT_EQ(read_cmos(rtc, 0x08), 0x11);
  EXPECT_EQ(read_cmos(rtc, 0x09), 0x26);
  EXPECT_EQ(read_cmos(rtc, 0x32), 0x20);
  EXPECT_EQ(read_cmos(rtc, 0x06), 0x07);
}

TEST(CmosRtc, StatusRegistersSayValidAndNoUpdateInProgress) {
  CmosRtc rtc;
  EXPECT_EQ(read_cmos(rtc, 0x0A) & 0x80, 0);
  EXPECT_EQ(read_cmos(rtc, 0x0B), 0x02);
  EXPECT_EQ(read_cmos(rtc, 0x0D), 0x80);
  EXPECT_EQ(read_cmos(rtc, 0x8D), 0x80);  // bit 7 of the index is the NMI mask
}

TEST(CmosRtc, NvramBytesAreStorage) {
  CmosRtc rtc;
  const uint8_t index = 0x40, value = 0x5A;
  rtc.write(0, std::span<const uint8_t>(&index, 1));
  rtc.write(1, std::span<const uint8_t>(&value, 1));
  EXPECT_EQ(read_cmos(rtc, 0x40), 0x5A);
}

}  // namespace
}  // namespace devices
