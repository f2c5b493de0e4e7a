// Routes guest PIO or MMIO accesses to the device registered for the address range.
// Registration happens before vCPUs start; afterwards the bus is only read, so lookups need no
// lock. Accesses that hit nothing read as all-ones and are otherwise ignored.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "devices/io_device.h"

namespace vmm {

class IoBus {
 public:
  // `name` ("pio"/"mmio") appears in messages. With `log_unmapped`, the first few unmapped
  // accesses are logged to stderr (debugging aid; never more than kMaxUnmappedLogs lines).
  explicit IoBus(std::string name, bool log_unmapped = false)
      : name_(std::move(name)), log_unmapped_(log_unmapped) {}

  // Throws std::invalid_argument if [base, base + size) is empty, wraps or overlaps a range
  // already registered.
  void add(uint64_t base, uint64_t size, std::shared_ptr<devices::IoDevice> device);

  // Returns true if a device handled the access.
  bool read(uint64_t address, std::span<uint8_t> data);
  bool write(uint64_t address, std::span<const uint8_t> data);

  uint64_t unmapped_accesses() const { return unmapped_.load(); }
  static constexpr uint64_t kMaxUnmappedLogs = 16;

 private:
  struct Range {
    uint64_t size;
    std::shared_ptr<devices::IoDevice> device;
  };
  // The range containing `address` (whole access must fit), or nullptr.
  const std::pair<const uint64_t, Range>* find(uint64_t address, size_t length) const;
  void note_unmapped(const char* kind, uint64_t address, size_t length);

  std::string name_;
  bool log_unmapped_;
  std::map<uint64_t, Range> ranges_;  // keyed by base
  std::atomic<uint64_t> unmapped_{0};
};

}  // namespace vmm
