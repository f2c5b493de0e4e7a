#pragma once
// PCI bus 0: up to 32 single-function devices (slot 0 is the host bridge), reached by the guest
// through configuration mechanism #1 (PciConfigIo at I/O ports 0xCF8-0xCFF) and through their
// BARs: PciMmioWindow covers the whole 32-bit MMIO window and PciIoWindow the I/O ports above
// the ISA range; each routes an access to the BAR that decodes it now (the guest may move BARs
// at run time).
//
// Threading: all entry points may be called from any vCPU thread.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <vector>

#include "devices/io_device.h"
#include "devices/pci/bar_allocator.h"
#include "devices/pci/pci_device.h"

namespace devices::pci {

inline constexpr int kSlotsPerBus = 32;
inline constexpr uint16_t kConfigIoPort = 0xCF8;
inline constexpr uint16_t kConfigIoSize = 8;
// I/O BARs decode in [kIoWindowStart, kIoWindowEnd): ports below are ISA/legacy devices'.
// assign_bars places them from kIoBarStart up, where PC firmware puts them.
inline constexpr uint32_t kIoWindowStart = 0x1000;
inline constexpr uint32_t kIoWindowEnd = 0x10000;
inline constexpr uint32_t kIoBarStart = 0xC000;

// Slot 0: a host bridge with no BARs (class 06/00/00).
class HostBridge final : public PciDevice {
 public:
  HostBridge();
  void bar_read(int, uint64_t, std::span<uint8_t> data) override;
  void bar_write(int, uint64_t, std::span<const uint8_t>) override {}
};

class PciBus {
 public:
  PciBus();

  // Puts `device` in the lowest free slot (or `slot`); returns the slot. Throws when full/taken.
  int add(std::shared_ptr<PciDevice> device, int slot = -1);
  PciDevice* device(int slot) const;

  // Programs every unassigned BAR, largest first: memory BARs from `memory`, I/O BARs from
  // `io` (ports). Throws if a window is too small.
  void assign_bars(BarAllocator& memory, BarAllocator& io);

  // Mechanism #1 register access: `address` is the value latched in 0xCF8 (bit 31 enable,
  // bus 23:16, device 15:11, function 10:8, register 7:2), `byte` the byte offset within the
  // dword (0xCFC + byte). Absent devices/functions read all-ones.
  void config_read(uint32_t address, uint32_t byte, std::span<uint8_t> data);
  void config_write(uint32_t address, uint32_t byte, std::span<const uint8_t> data);

  // Guest-physical MMIO access; returns false if no BAR decodes it (reads then are all-ones).
  bool mmio_read(uint64_t address, std::span<uint8_t> data);
  bool mmio_write(uint64_t address, std::span<const uint8_t> data);
  // I/O port access, the same way.
  bool io_read(uint64_t port, std::span<uint8_t> data);
  bool io_write(uint64_t port, std::span<const uint8_t> data);

 private:
  struct Route {
    uint64_t address;
    uint64_t size;
    PciDevice* device;
    int bar;
    bool io;
  };
  PciDevice* target(uint32_t address) const;
  void refresh_routes();
  const Route* find(uint64_t address, size_t size, bool io) const;
  bool route_read(uint64_t address, std::span<uint8_t> data, bool io);
  bool route_write(uint64_t address, std::span<const uint8_t> data, bool io);

  std::array<std::shared_ptr<PciDevice>, kSlotsPerBus> slots_{};
  std::mutex config_mutex_;           // serializes configuration cycles
  mutable std::shared_mutex routes_mutex_;
  std::vector<Route> routes_;         // BARs that decode now
};

// I/O ports 0xCF8..0xCFF: the CONFIG_ADDRESS latch (dword at offset 0) and the CONFIG_DATA
// window (1/2/4-byte accesses at offsets 4..7).
class PciConfigIo final : public IoDevice {
 public:
  explicit PciConfigIo(PciBus& bus) : bus_(bus) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  PciBus& bus_;
  std::mutex mutex_;
  uint32_t address_ = 0;
};

// The 32-bit MMIO window as one IoDevice registered at `base` on the MMIO bus.
class PciMmioWindow final : public IoDevice {
 public:
  PciMmioWindow(PciBus& bus, uint64_t base) : bus_(bus), base_(base) {}
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  PciBus& bus_;
  uint64_t base_;
};

// The PCI I/O port range as one IoDevice registered at `base` on the PIO bus.
class PciIoWindow final : public IoDevice {
 public:
  PciIoWindow(PciBus& bus, uint64_t base) : bus_(bus), base_(base) {}
  void read(uint64_t offset, std::span<uint8_t> data) override { bus_.io_read(base_ + offset, data); }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    bus_.io_write(base_ + offset, data);
  }

 private:
  PciBus& bus_;
  uint64_t base_;
};

}  // namespace devices::pci
