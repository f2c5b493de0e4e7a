// ACPI fixed-feature power management registers (ACPI 6.5 section 4.8), the part of a PC
// chipset a non-hardware-reduced FADT points at. One 12-byte port range, laid out as on
// PIIX4/ICH chipsets:
//   +0  PM1a_EVT_BLK  PM1_STS (16 bits, write 1 to clear), PM1_EN (16 bits, read/write)
//   +4  PM1a_CNT_BLK  PM1_CNT (16 bits): SCI_EN always reads 1; SLP_EN with SLP_TYP = kS5SleepType
//                     powers the machine off
//   +6  (unused: reads all-ones)
//   +8  PM_TMR_BLK    24-bit counter at 3.579545 MHz, read-only
// No event ever raises the SCI: the only status bit that can become set is TMR_STS, and the SCI
// line (ISA IRQ 9) is not wired at all, so an enabled event would go unnoticed. Guests do not
// rely on that: Linux uses the PM timer as a clocksource and PM1_CNT to power off, nothing else.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "devices/io_device.h"
#include "devices/machine_control.h"

namespace devices {

class AcpiPm : public IoDevice {
 public:
  // 0x600 as on QEMU's PIIX4/ICH9 machines: free on our PIO bus, outside any fixed BAR.
  static constexpr uint16_t kBase = 0x600;
  static constexpr uint64_t kSize = 12;
  static constexpr uint16_t kEventBlock = kBase;        // PM1a_EVT_BLK
  static constexpr uint8_t kEventBlockLength = 4;
  static constexpr uint16_t kControlBlock = kBase + 4;  // PM1a_CNT_BLK
  static constexpr uint8_t kControlBlockLength = 2;
  static constexpr uint16_t kTimerBlock = kBase + 8;    // PM_TMR_BLK
  static constexpr uint8_t kTimerBlockLength = 4;

  // The SCI's ISA IRQ (FADT SCI_INT), level triggered and active high as the MADT and MP table
  // say. Never asserted (see above).
  static constexpr unsigned kSciIrq = 9;
  // SLP_TYP the DSDT's \_S5 names; any 3-bit value would do, 7 is what ICH chipsets use.
  static constexpr uint8_t kS5SleepType = 7;

  static constexpr uint64_t kTimerHz = 3'579'545;
  // 24 bits (FADT TMR_VAL_EXT clear): the width every OSPM supports, and all Linux's acpi_pm
  // clocksource uses anyway. It wraps every 4.69 s.
  static constexpr uint32_t kTimerMask = 0xFF'FFFF;

  // PM1_STS / PM1_EN bits.
  static constexpr uint16_t kTmrSts = 1u << 0;
  static constexpr uint16_t kEnableBits = 0x4721;  // TMR, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE_DIS
  // PM1_CNT bits.
  static constexpr uint16_t kSciEn = 1u << 0;
  static constexpr uint16_t kSlpEn = 1u << 13;
  static constexpr unsigned kSlpTypShift = 10;

  // Monotonic time since an arbitrary origin; CLOCK_MONOTONIC unless a test injects one.
  using Clock = std::function<std::chrono::nanoseconds()>;
  // Where the one warning about an unsupported sleep state goes; stderr unless injected.
  using Warn = std::function<void(const std::string&)>;

  explicit AcpiPm(MachineControl& control, Clock clock = {}, Warn warn = {});
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint64_t ticks() const;  // timer ticks since construction
  uint8_t read_byte(uint64_t offset, uint64_t now) const;
  void write_byte(uint64_t offset, uint8_t value, uint64_t now);
  void sleep(unsigned type);

  MachineControl& control_;
  Clock clock_;
  Warn warn_;
  std::chrono::nanoseconds start_;
  std::mutex mutex_;
  uint16_t enable_ = 0;
  uint16_t control_bits_ = kSciEn;
  // TMR_STS is set whenever bit 23 of the timer toggles: it is set while the count of 2^23-tick
  // periods differs from the one at the last clear.
  uint64_t timer_period_cleared_ = 0;
  bool warned_ = false;
};

}  // namespace devices
