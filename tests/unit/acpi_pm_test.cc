// The ACPI fixed-feature PM registers: PM1 event/control blocks and the PM timer.
#include "devices/acpi_pm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/fake_devices.h"

namespace devices {
namespace {

using std::chrono::nanoseconds;

constexpr uint64_t kStatus = 0, kEnable = 2, kControl = 4, kTimer = 8;

// An AcpiPm with a hand-driven clock and a recorded warning sink.
struct Rig {
  vmm::testing::FakeMachineControl control;
  std::shared_ptr<nanoseconds> now = std::make_shared<nanoseconds>(1'000'000);
  std::vector<std::string> warnings;
  AcpiPm pm{control, [now = now] { return *now; },
            [this](const std::string& line) { warnings.push_back(line); }};

  uint32_t in(uint64_t offset, size_t size) {
    uint8_t b[4] = {};
    pm.read(offset, std::span(b, size));
    uint32_t v = 0;
    for (size_t i = 0; i < size; ++i) v |= uint32_t{b[i]} << (8 * i);
    return v;
  }
  void out(uint64_t offset, uint32_t value, size_t size) {
    uint8_t b[4];
    for (size_t i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(value >> (8 * i));
    pm.write(offset, std::span<const uint8_t>(b, size));
  }
  // Advances the clock by `ticks` PM timer ticks (rounded up to whole nanoseconds).
  void advance_ticks(uint64_t ticks) {
    *now += nanoseconds((ticks * 1'000'000'000 + AcpiPm::kTimerHz - 1) / AcpiPm::kTimerHz);
  }
};

uint16_t slp(unsigned type) {
  return static_cast<uint16_t>(AcpiPm::kSlpEn | type << AcpiPm::kSlpTypShift);
}

TEST(AcpiPm, TimerCountsAt3579545HzFromZero) {
  Rig r;
  EXPECT_EQ(r.in(kTimer, 4), 0u);
  *r.now += std::chrono::milliseconds(1);
  EXPECT_EQ(r.in(kTimer, 4), 3579u);  // 3579.545 ticks, truncated
  *r.now += std::chrono::seconds(1);
  EXPECT_EQ(r.in(kTimer, 4), 3579u + 3'579'545u);
}

TEST(AcpiPm, TimerIsMonotonicAndWrapsAt24Bits) {
  Rig r;
  uint32_t last = r.in(kTimer, 4);
  for (int i = 0; i < 100; ++i) {
    *r.now += std::chrono::microseconds(37);
    const uint32_t v = r.in(kTimer, 4);
    EXPECT_GT(v, last);
    last = v;
  }
  Rig w;
  w.advance_ticks(AcpiPm::kTimerMask);  // one tick before the wrap
  EXPECT_EQ(w.in(kTimer, 4), AcpiPm::kTimerMask);
  w.advance_ticks(1);
  EXPECT_EQ(w.in(kTimer, 4), 0u);
  w.advance_ticks(5);
  EXPECT_EQ(w.in(kTimer, 4), 5u);
  EXPECT_EQ(w.in(kTimer + 3, 1), 0u);  // the top byte is always 0
}

TEST(AcpiPm, TimerIsReadOnlyAndReadableByteWise) {
  Rig r;
  r.advance_ticks(0x123456);
  r.out(kTimer, 0, 4);
  EXPECT_EQ(r.in(kTimer, 4), 0x123456u);
  EXPECT_EQ(r.in(kTimer, 1), 0x56u);
  EXPECT_EQ(r.in(kTimer + 1, 2), 0x1234u);
  EXPECT_EQ(r.in(kTimer + 2, 1), 0x12u);
}

TEST(AcpiPm, TimerHandlesLongUptimesWithoutOverflow) {
  Rig r;
  *r.now += std::chrono::hours(24 * 365 * 100);  // 100 years: ns * Hz would overflow 64 bits
  const uint64_t seconds = uint64_t{24} * 365 * 100 * 3600;
  EXPECT_EQ(r.in(kTimer, 4), (seconds * AcpiPm::kTimerHz) & AcpiPm::kTimerMask);
}

TEST(AcpiPm, StatusIsWriteOneToClear) {
  Rig r;
  EXPECT_EQ(r.in(kStatus, 2), 0u);
  r.advance_ticks(1u << 23);  // bit 23 of the timer toggles: TMR_STS
  EXPECT_EQ(r.in(kStatus, 2), AcpiPm::kTmrSts);
  r.out(kStatus, 0xFFFE, 2);  // writing 0 to a bit leaves it
  EXPECT_EQ(r.in(kStatus, 2), AcpiPm::kTmrSts);
  r.out(kStatus, AcpiPm::kTmrSts, 2);
  EXPECT_EQ(r.in(kStatus, 2), 0u);
  r.advance_ticks((1u << 23) - 2);
  EXPECT_EQ(r.in(kStatus, 2), 0u);  // not yet the next toggle
  r.advance_ticks(4);
  EXPECT_EQ(r.in(kStatus, 2), AcpiPm::kTmrSts);
  r.out(kStatus, 0xFFFF, 4);  // a dword write over status and enable clears it as well
  EXPECT_EQ(r.in(kStatus, 2), 0u);
}

TEST(AcpiPm, EnableKeepsTheDefinedBits) {
  Rig r;
  EXPECT_EQ(r.in(kEnable, 2), 0u);
  r.out(kEnable, 0x0121, 2);  // TMR_EN, GBL_EN (must stick: ACPICA checks), PWRBTN_EN
  EXPECT_EQ(r.in(kEnable, 2), 0x0121u);
  r.out(kEnable + 1, 0xFF, 1);  // high byte alone; reserved bits stay 0
  EXPECT_EQ(r.in(kEnable, 2), 0x4721u);
  r.out(kEnable, 0, 1);
  EXPECT_EQ(r.in(kEnable, 2), 0x4700u);
  // A dword write at the block's start sets PM1_STS (clear) and PM1_EN at once.
  r.out(kStatus, 0x0001'0000, 4);
  EXPECT_EQ(r.in(kEnable, 2), 0x0001u);
  EXPECT_EQ(r.in(kStatus, 4), 0x0001'0000u);
}

TEST(AcpiPm, SciEnAlwaysReadsOne) {
  Rig r;
  EXPECT_EQ(r.in(kControl, 2) & AcpiPm::kSciEn, AcpiPm::kSciEn);
  r.out(kControl, 0, 2);
  EXPECT_EQ(r.in(kControl, 2), AcpiPm::kSciEn);
  r.out(kControl, 0x0002, 2);  // BM_RLD is kept
  EXPECT_EQ(r.in(kControl, 2), 0x0003u);
  r.out(kControl, 3u << AcpiPm::kSlpTypShift, 2);  // SLP_TYP without SLP_EN reads back
  EXPECT_EQ(r.in(kControl, 2), (3u << AcpiPm::kSlpTypShift) | AcpiPm::kSciEn);
  EXPECT_FALSE(r.control.exit_status);
}

TEST(AcpiPm, SleepTypeOfS5PowersOff) {
  Rig r;
  r.out(kControl, slp(AcpiPm::kS5SleepType) | AcpiPm::kSciEn, 2);
  ASSERT_TRUE(r.control.exit_status);
  EXPECT_EQ(*r.control.exit_status, 0);
  EXPECT_EQ(r.control.exit_reason, "guest powered off (ACPI S5)");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.in(kControl, 2) & AcpiPm::kSlpEn, 0u);  // SLP_EN is write-only
}

TEST(AcpiPm, SleepTypeOfS5PowersOffWithAByteWrite) {
  Rig r;
  r.out(kControl + 1, slp(AcpiPm::kS5SleepType) >> 8, 1);
  EXPECT_EQ(r.control.exit_status, 0);
}

TEST(AcpiPm, OtherSleepTypesAreIgnoredWithOneWarning) {
  Rig r;
  for (unsigned type = 0; type < 8; ++type) {
    if (type == AcpiPm::kS5SleepType) continue;
    r.out(kControl, slp(type), 2);
    r.out(kControl, slp(type), 2);
  }
  EXPECT_FALSE(r.control.exit_status);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("sleep type 0"), std::string::npos) << r.warnings[0];
  EXPECT_EQ(r.in(kControl, 2) & AcpiPm::kSciEn, AcpiPm::kSciEn);
}

TEST(AcpiPm, OddAccessesDoNotCrash) {
  Rig r;
  EXPECT_EQ(r.in(6, 2), 0xFFFFu);  // the gap between the control block and the timer
  EXPECT_EQ(r.in(AcpiPm::kSize, 1), 0xFFu);
  EXPECT_EQ(r.in(AcpiPm::kSize - 1, 4), 0xFFFFFF00u);
  r.out(6, 0xFFFFFFFF, 4);  // gap and timer: ignored
  r.out(AcpiPm::kSize + 100, 0xFF, 1);
  r.out(3, 0x0000'FF00, 3);  // PM1_EN high byte, then PM1_CNT low byte 0xFF
  EXPECT_EQ(r.in(kEnable, 2), 0x0000u);
  EXPECT_EQ(r.in(kControl, 2), 0x0003u);  // only SCI_EN and BM_RLD stick
  r.pm.read(0, std::span<uint8_t>());
  r.pm.write(0, std::span<const uint8_t>());
  EXPECT_FALSE(r.control.exit_status);
}

TEST(AcpiPm, DefaultClockIsMonotonicTime) {
  vmm::testing::FakeMachineControl control;
  AcpiPm pm(control);
  uint8_t a[4], b[4];
  pm.read(kTimer, std::span(a, 4));
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < until) {
  }
  pm.read(kTimer, std::span(b, 4));
  uint32_t va, vb;
  std::memcpy(&va, a, 4);
  std::memcpy(&vb, b, 4);
  EXPECT_GE(vb - va, 7000u);  // 2 ms = 7159 ticks at least (no wrap within 4.6 s of start)
}

}  // namespace
}  // namespace devices
