// The ports through which the guest stops the machine or reports progress.
#include <gtest/gtest.h>

#include "devices/boot_marker_port.h"
#include "devices/i8042_reset.h"
#include "devices/reset_control_port.h"
#include "devices/test_exit_port.h"
#include "tests/unit/fake_devices.h"

namespace devices {
namespace {

void out(IoDevice& d, uint64_t offset, uint8_t v) { d.write(offset, std::span<const uint8_t>(&v, 1)); }
uint8_t in(IoDevice& d, uint64_t offset) {
  uint8_t v = 0;
  d.read(offset, std::span(&v, 1));
  return v;
}

TEST(TestExitPort, ExitsWithTheWrittenByte) {
  vmm::testing::FakeMachineControl control;
  TestExitPort port(control);
  out(port, 0, 42);
  EXPECT_EQ(control.exit_status, 42);
  EXPECT_NE(control.exit_reason.find("0xf4"), std::string::npos);
  out(port, 0, 3);  // the first request wins
  EXPECT_EQ(control.exit_status, 42);
}

TEST(TestExitPort, ZeroIsAValidStatus) {
  vmm::testing::FakeMachineControl control;
  TestExitPort port(control);
  out(port, 0, 0);
  EXPECT_EQ(control.exit_status, 0);
  EXPECT_EQ(in(port, 0), 0xFF);
}

TEST(I8042Reset, CommandFeResets) {
  vmm::testing::FakeMachineControl control;
  I8042Reset kbd(control);
  out(kbd, 0, 0xFE);  // the data port does not reset
  out(kbd, I8042Reset::kCommandOffset, 0xAA);
  EXPECT_FALSE(control.exit_status);
  out(kbd, I8042Reset::kCommandOffset, 0xFE);
  EXPECT_EQ(control.exit_status, 0);
}

TEST(I8042Reset, StatusLetsResetProceedAndProbesFail) {
  vmm::testing::FakeMachineControl control;
  I8042Reset kbd(control);
  const uint8_t status = in(kbd, I8042Reset::kCommandOffset);
  EXPECT_EQ(status & 0x02, 0);  // input buffer empty: reset code need not wait
  EXPECT_EQ(status & 0x01, 1);  // never-draining output: Linux's flush gives up at once
}

TEST(ResetControlPort, OnlyTheResetCpuBitResets) {
  vmm::testing::FakeMachineControl control;
  ResetControlPort cf9(control);
  out(cf9, 0, 0x02);  // SYS_RST alone only arms the type of reset
  EXPECT_FALSE(control.exit_status);
  EXPECT_EQ(in(cf9, 0), 0x02);
  out(cf9, 0, 0x06);
  EXPECT_EQ(control.exit_status, 0);
}

TEST(BootMarkerPort, ReportsOnlyTheMarkerByte) {
  vmm::testing::FakeMachineControl control;
  BootMarkerPort marker(control);
  out(marker, 0, 122);
  EXPECT_EQ(control.init_reached, 0);
  out(marker, 0, 123);
  EXPECT_EQ(control.init_reached, 1);
  const uint8_t wide[2] = {123, 0};
  marker.write(0, std::span<const uint8_t>(wide, 2));  // not a 1-byte write
  EXPECT_EQ(control.init_reached, 1);
  EXPECT_FALSE(control.exit_status);
}

}  // namespace
}  // namespace devices
