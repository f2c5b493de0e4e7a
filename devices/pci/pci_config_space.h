#pragma once
// The 256-byte configuration space of one PCI function with a type 0 header: raw bytes plus a
// per-byte mask of guest-writable bits and of write-1-to-clear bits. BAR size probing falls out
// of the masks: the address bits below the BAR size are read-only zero, so writing all-ones
// reads back ~(size - 1) plus the type bits. Capabilities are laid out from 0x40 upwards and
// chained through their next pointers.
//
// Not thread-safe: the owning PciDevice serializes access.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace devices::pci {

inline constexpr size_t kConfigSpaceSize = 256;
inline constexpr int kNumBars = 6;

// Type 0 header register offsets.
namespace reg {
inline constexpr uint32_t kVendorId = 0x00;
inline constexpr uint32_t kDeviceId = 0x02;
inline constexpr uint32_t kCommand = 0x04;
inline constexpr uint32_t kStatus = 0x06;
inline constexpr uint32_t kRevision = 0x08;
inline constexpr uint32_t kClassCode = 0x09;  // prog-if, subclass, class (3 bytes)
inline constexpr uint32_t kHeaderType = 0x0E;
inline constexpr uint32_t kBar0 = 0x10;
inline constexpr uint32_t kSubsystemVendorId = 0x2C;
inline constexpr uint32_t kSubsystemId = 0x2E;
inline constexpr uint32_t kCapabilityPointer = 0x34;
inline constexpr uint32_t kInterruptLine = 0x3C;
inline constexpr uint32_t kInterruptPin = 0x3D;
}  // namespace reg

namespace cmd {
inline constexpr uint16_t kIoSpace = 1 << 0;
inline constexpr uint16_t kMemorySpace = 1 << 1;
inline constexpr uint16_t kBusMaster = 1 << 2;
inline constexpr uint16_t kParityErrorResponse = 1 << 6;
inline constexpr uint16_t kSerr = 1 << 8;
inline constexpr uint16_t kIntxDisable = 1 << 10;
}  // namespace cmd

namespace status {
inline constexpr uint16_t kInterrupt = 1 << 3;
inline constexpr uint16_t kCapabilityList = 1 << 4;
inline constexpr uint16_t kWriteOneToClear = 0xF900;  // parity/abort/SERR error bits
}  // namespace status

namespace cap_id {
inline constexpr uint8_t kMsi = 0x05;
inline constexpr uint8_t kVendor = 0x09;
inline constexpr uint8_t kMsix = 0x11;
}  // namespace cap_id

enum class BarType : uint8_t { kMemory32, kMemory64, kIo };

struct BarInfo {
  BarType type = BarType::kMemory32;
  uint64_t size = 0;  // power of two
  bool prefetchable = false;
};

struct PciIds {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint32_t class_code = 0;  // class << 16 | subclass << 8 | prog-if
  uint8_t revision = 0;
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem = 0;
};

class PciConfigSpace {
 public:
  explicit PciConfigSpace(const PciIds& ids);

  // Guest accesses. Bytes past the end read as 0xFF and ignore writes.
  void read(uint32_t offset, std::span<uint8_t> data) const;
  void write(uint32_t offset, std::span<const uint8_t> data);

  // Device-side raw access: ignores the write masks.
  uint8_t get8(uint32_t offset) const { return bytes_[offset]; }
  uint16_t get16(uint32_t offset) const;
  uint32_t get32(uint32_t offset) const;
  void set8(uint32_t offset, uint8_t value) { bytes_[offset] = value; }
  void set16(uint32_t offset, uint16_t value);
  void set32(uint32_t offset, uint32_t value);
  // Which bits of [offset, offset + size) the guest may write (little-endian `mask`).
  void set_writable(uint32_t offset, size_t size, uint32_t mask);

  // Declares BAR `index` (a 64-bit BAR also takes index + 1). Memory BARs are at least 16
  // bytes, I/O BARs at least 4; sizes are rounded up to a power of two.
  void add_bar(int index, BarType type, uint64_t size, bool prefetchable = false);
  const std::optional<BarInfo>& bar(int index) const { return bars_.at(index); }
  // The address the BAR holds now (whatever the guest wrote, masked to the BAR size).
  uint64_t bar_address(int index) const;
  void set_bar_address(int index, uint64_t address);

  // Appends a capability of `size` bytes (id and next pointer included, so size >= 2) to the
  // chain and returns its offset. Its body is read-only until set_writable() says otherwise.
  // Throws std::length_error when the 256-byte space is full.
  uint8_t add_capability(uint8_t id, size_t size);

  uint16_t command() const { return get16(reg::kCommand); }
  bool bus_master() const { return command() & cmd::kBusMaster; }
  bool memory_enabled() const { return command() & cmd::kMemorySpace; }
  bool io_enabled() const { return command() & cmd::kIoSpace; }
  bool intx_disabled() const { return command() & cmd::kIntxDisable; }
  void set_interrupt_status(bool pending);

 private:
  std::array<uint8_t, kConfigSpaceSize> bytes_{};
  std::array<uint8_t, kConfigSpaceSize> writable_{};
  std::array<uint8_t, kConfigSpaceSize> write_one_to_clear_{};
  std::array<std::optional<BarInfo>, kNumBars> bars_{};
  uint32_t next_capability_ = 0x40;
  uint32_t last_capability_ = 0;
};

}  // namespace devices::pci
