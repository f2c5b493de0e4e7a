#include "devices/acpi_pm.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <optional>

namespace devices {
namespace {

std::chrono::nanoseconds monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void warn_to_stderr(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

constexpr uint64_t kTimerPeriodShift = 23;  // TMR_STS: bit 23 of the timer toggled

}  // namespace

AcpiPm::AcpiPm(MachineControl& control, Clock clock, Warn warn)
    : control_(control),
      clock_(clock ? std::move(clock) : Clock(monotonic_now)),
      warn_(warn ? std::move(warn) : Warn(warn_to_stderr)),
      start_(clock_()) {}

uint64_t AcpiPm::ticks() const {
  // Whole seconds and the rest apart, so that the product cannot overflow 64 bits.
  const int64_t ns = std::max<int64_t>(0, (clock_() - start_).count());
  constexpr int64_t kNsPerSecond = 1'000'000'000;
  return static_cast<uint64_t>(ns / kNsPerSecond) * kTimerHz +
         static_cast<uint64_t>(ns % kNsPerSecond) * kTimerHz / kNsPerSecond;
}

void AcpiPm::read(uint64_t offset, std::span<uint8_t> data) {
  const uint64_t now = ticks();  // once per access: a 4-byte timer read is one sample
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); ++i) data[i] = read_byte(offset + i, now);
}

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data) {
  const uint64_t now = ticks();
  std::optional<unsigned> sleep_type;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t at = offset + i;
      write_byte(at, data[i], now);
      // SLP_EN and SLP_TYP share PM1_CNT's high byte: one byte write decides the sleep.
      if (at == 5 && (data[i] & (kSlpEn >> 8))) sleep_type = (data[i] >> (kSlpTypShift - 8)) & 7;
    }
  }
  // Outside the lock: the exit request reaches other threads.
  if (sleep_type) sleep(*sleep_type);
}

uint8_t AcpiPm::read_byte(uint64_t offset, uint64_t now) const {
  const bool tmr_sts = (now >> kTimerPeriodShift) != timer_period_cleared_;
  const uint16_t status = tmr_sts ? kTmrSts : 0;
  const uint32_t timer = static_cast<uint32_t>(now) & kTimerMask;
  switch (offset) {
    case 0: return static_cast<uint8_t>(status);
    case 1: return static_cast<uint8_t>(status >> 8);
    case 2: return static_cast<uint8_t>(enable_);
    case 3: return static_cast<uint8_t>(enable_ >> 8);
    case 4: return static_cast<uint8_t>(control_bits_);
    case 5: return static_cast<uint8_t>(control_bits_ >> 8);
    case 8: case 9: case 10: case 11:
      return static_cast<uint8_t>(timer >> (8 * (offset - 8)));
    default: return 0xFF;
  }
}

void AcpiPm::write_byte(uint64_t offset, uint8_t value, uint64_t now) {
  switch (offset) {
    case 0:
      // Write 1 to clear; TMR_STS is the only status bit that can be set.
      if (value & kTmrSts) timer_period_cleared_ = now >> kTimerPeriodShift;
      break;
    case 2:
    case 3: {
      const unsigned shift = 8 * static_cast<unsigned>(offset - 2);
      const uint16_t mask = static_cast<uint16_t>(0xFF << shift);
      enable_ = static_cast<uint16_t>((enable_ & ~mask) | ((value << shift) & mask & kEnableBits));
      break;
    }
    case 4:
      // BM_RLD (bit 1) is kept; GBL_RLS (bit 2) is write-only with no BIOS to tell; SCI_EN is
      // fixed at 1: the machine is always in ACPI mode (FADT SMI_CMD = 0).
      control_bits_ = static_cast<uint16_t>((control_bits_ & 0xFF00) | kSciEn | (value & 0x02));
      break;
    case 5:
      // SLP_TYP is kept for reading back; SLP_EN is write-only and reads 0.
      control_bits_ = static_cast<uint16_t>((control_bits_ & 0x00FF) | ((value & 0x1C) << 8));
      break;
    default:
      break;  // status high byte (nothing to clear), gap, timer (read-only)
  }
}

void AcpiPm::sleep(unsigned type) {
  if (type == kS5SleepType) {
    control_.request_exit(0, "guest powered off (ACPI S5)");
    return;
  }
  // The DSDT names no other sleep state, so only a confused guest gets here: say so once.
  std::lock_guard lock(mutex_);
  if (warned_) return;
  warned_ = true;
  warn_("vmm: ACPI PM: guest asked for sleep type " + std::to_string(type) +
        "; only S5 (soft off, type " + std::to_string(kS5SleepType) + ") exists, ignored");
}

}  // namespace devices
