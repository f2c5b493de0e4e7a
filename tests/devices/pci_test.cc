// PCI: configuration space masks, BAR sizing, capability chain, mechanism #1, BAR allocation,
// MMIO routing, INTx.
#include <cstring>
#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>

#include "devices/pci/bar_allocator.h"
#include "devices/pci/pci_bus.h"
#include "devices/pci/pci_config_space.h"
#include "devices/pci/pci_device.h"
#include "virtio_test_util.h"

namespace devices::pci {
namespace {

class TestDevice : public PciDevice {
 public:
  TestDevice() : PciDevice(PciIds{.vendor = 0x1234, .device = 0x5678, .class_code = 0x010203, .revision = 7}) {
    config_.add_bar(0, BarType::kMemory32, 0x1000);
    config_.add_bar(2, BarType::kMemory64, 0x10000, true);
    cap_a = config_.add_capability(cap_id::kVendor, 8);
    cap_b = config_.add_capability(cap_id::kMsi, 10);
  }
  void bar_read(int index, uint64_t offset, std::span<uint8_t> data) override {
    last_read = {index, offset};
    std::memset(data.data(), 0xAB, data.size());
  }
  void bar_write(int index, uint64_t offset, std::span<const uint8_t> data) override {
    last_write = {index, offset};
    std::memcpy(&written, data.data(), std::min<size_t>(data.size(), 8));
  }
  void raise(bool on) {
    std::lock_guard lock(mutex_);
    set_intx(on);
  }
  std::pair<int, uint64_t> last_read{-1, 0}, last_write{-1, 0};
  uint64_t written = 0;
  uint8_t cap_a = 0, cap_b = 0;
};

uint32_t cf_read(PciConfigIo& io, uint32_t address, uint32_t byte, size_t size) {
  uint8_t b[4];
  std::memcpy(b, &address, 4);
  io.write(0, std::span<const uint8_t>(b, 4));
  uint8_t out[4] = {};
  io.read(4 + byte, std::span(out, size));
  uint32_t v = 0;
  std::memcpy(&v, out, size);
  return v;
}

void cf_write(PciConfigIo& io, uint32_t address, uint32_t byte, uint32_t value, size_t size) {
  uint8_t b[4];
  std::memcpy(b, &address, 4);
  io.write(0, std::span<const uint8_t>(b, 4));
  std::memcpy(b, &value, 4);
  io.write(4 + byte, std::span<const uint8_t>(b, size));
}

uint32_t addr(int slot, uint32_t reg, int function = 0) {
  return 0x8000'0000u | uint32_t(slot) << 11 | uint32_t(function) << 8 | reg;
}

TEST(PciConfigSpace, HeaderFieldsAndReadOnlyBits) {
  PciConfigSpace c(PciIds{.vendor = 0x1AF4, .device = 0x1042, .class_code = 0x018000, .revision = 1});
  EXPECT_EQ(c.get16(reg::kVendorId), 0x1AF4);
  EXPECT_EQ(c.get16(reg::kDeviceId), 0x1042);
  EXPECT_EQ(c.get8(reg::kRevision), 1);
  EXPECT_EQ(c.get8(0x0B), 0x01);
  EXPECT_EQ(c.get8(0x0A), 0x80);
  uint8_t ones[4] = {0xFF, 0xFF, 0xFF, 0xFF};
  c.write(reg::kVendorId, ones);  // read-only
  EXPECT_EQ(c.get16(reg::kVendorId), 0x1AF4);
  c.write(reg::kCommand, std::span<const uint8_t>(ones, 2));
  EXPECT_EQ(c.command(), cmd::kIoSpace | cmd::kMemorySpace | cmd::kBusMaster | cmd::kParityErrorResponse |
                             cmd::kSerr | cmd::kIntxDisable);
  EXPECT_TRUE(c.bus_master());
  // Status error bits are write-one-to-clear.
  c.set16(reg::kStatus, 0x8000 | status::kCapabilityList);
  uint8_t clear[2] = {0x00, 0x80};
  c.write(reg::kStatus, clear);
  EXPECT_EQ(c.get16(reg::kStatus), status::kCapabilityList);
  uint8_t out[2];
  c.read(0xFF, std::span(out, 2));  // past the end
  EXPECT_EQ(out[1], 0xFF);
}

TEST(PciConfigSpace, BarSizingWithAllOnes) {
  TestDevice dev;
  uint32_t ones = 0xFFFFFFFF;
  auto w = [&](uint32_t off, uint32_t v) {
    dev.config_write(off, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
  };
  auto r = [&](uint32_t off) {
    uint32_t v;
    dev.config_read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  };
  w(reg::kBar0, ones);
  EXPECT_EQ(r(reg::kBar0), 0xFFFFF000u);  // 4 KiB, 32-bit, non-prefetchable
  w(reg::kBar0 + 4, ones);
  EXPECT_EQ(r(reg::kBar0 + 4), 0u);       // BAR 1 not implemented
  w(reg::kBar0 + 8, ones);
  w(reg::kBar0 + 12, ones);
  EXPECT_EQ(r(reg::kBar0 + 8), 0xFFFF0000u | 0xC);  // 64 KiB, 64-bit, prefetchable
  EXPECT_EQ(r(reg::kBar0 + 12), 0xFFFFFFFFu);
  w(reg::kBar0 + 8, 0xD000'0000);
  w(reg::kBar0 + 12, 0x1);
  EXPECT_EQ(dev.config_space().bar_address(2), 0x1'D000'0000u);
  w(0x30, ones);
  EXPECT_EQ(r(0x30), 0u);  // no expansion ROM
}

TEST(PciConfigSpace, CapabilityChainWalk) {
  TestDevice dev;
  PciConfigSpace& c = dev.config_space();
  EXPECT_TRUE(c.get16(reg::kStatus) & status::kCapabilityList);
  std::vector<uint8_t> ids;
  for (uint8_t at = c.get8(reg::kCapabilityPointer); at != 0; at = c.get8(at + 1)) {
    ASSERT_GE(at, 0x40);
    ASSERT_EQ(at % 4, 0);
    ids.push_back(c.get8(at));
  }
  EXPECT_EQ(ids, (std::vector<uint8_t>{cap_id::kVendor, cap_id::kMsi}));
  EXPECT_EQ(dev.cap_b, dev.cap_a + 8);
  EXPECT_THROW(c.add_capability(0x10, 200), std::length_error);
}

TEST(PciBus, ConfigMechanism1Accesses) {
  PciBus bus;
  auto dev = std::make_shared<TestDevice>();
  int slot = bus.add(dev);
  EXPECT_EQ(slot, 1);
  PciConfigIo io(bus);
  // Host bridge at slot 0.
  EXPECT_EQ(cf_read(io, addr(0, 0x08), 3, 1), 0x06u);
  // Dword, word and byte reads at 0xCFC..0xCFF.
  EXPECT_EQ(cf_read(io, addr(1, 0x00), 0, 4), 0x5678'1234u);
  EXPECT_EQ(cf_read(io, addr(1, 0x00), 2, 2), 0x5678u);
  EXPECT_EQ(cf_read(io, addr(1, 0x00), 1, 1), 0x12u);
  EXPECT_EQ(cf_read(io, addr(1, 0x08), 0, 1), 7u);
  // Absent slot, function != 0, bus != 0, enable bit clear: all-ones.
  EXPECT_EQ(cf_read(io, addr(5, 0x00), 0, 4), 0xFFFF'FFFFu);
  EXPECT_EQ(cf_read(io, addr(1, 0x00, 1), 0, 4), 0xFFFF'FFFFu);
  EXPECT_EQ(cf_read(io, addr(1, 0x00) | (1u << 16), 0, 4), 0xFFFF'FFFFu);
  EXPECT_EQ(cf_read(io, addr(1, 0x00) & 0x7FFF'FFFF, 0, 4), 0xFFFF'FFFFu);
  // Word write at 0xCFE lands in the upper half of the dword (status is W1C, so use BAR0+2).
  cf_write(io, addr(1, reg::kBar0), 2, 0xE000, 2);
  EXPECT_EQ(dev->config_space().bar_address(0), 0xE000'0000u);
  // Byte write at 0xCFD: command high byte (INTx disable).
  cf_write(io, addr(1, reg::kCommand), 1, 0x04, 1);
  EXPECT_TRUE(dev->config_space().intx_disabled());
  // CONFIG_ADDRESS reads back (reserved bits zero); a byte write to 0xCFB is ignored.
  uint8_t b = 0x01;
  io.write(3, std::span<const uint8_t>(&b, 1));
  uint32_t latched = 0;
  io.read(0, std::span(reinterpret_cast<uint8_t*>(&latched), 4));
  EXPECT_EQ(latched, addr(1, reg::kCommand));
}

TEST(BarAllocator, NaturalAlignmentAndExhaustion) {
  BarAllocator a(kMmio32WindowStart, kMmio32WindowEnd);
  EXPECT_EQ(a.allocate(0x1000), 0xC000'0000u);
  EXPECT_EQ(a.allocate(0x8000), 0xC000'8000u);  // aligned to its size
  EXPECT_EQ(a.allocate(10), 0xC001'0000u);      // rounded to 16
  auto big = a.allocate(0x1000'0000);
  ASSERT_TRUE(big);
  EXPECT_EQ(*big % 0x1000'0000, 0u);
  EXPECT_FALSE(a.allocate(0x8000'0000));
  BarAllocator small(0x1000, 0x3000);
  EXPECT_TRUE(small.allocate(0x1000));
  EXPECT_TRUE(small.allocate(0x1000));
  EXPECT_FALSE(small.allocate(0x1000));
}

TEST(PciBus, AssignsBarsAndRoutesMmio) {
  PciBus bus;
  auto dev = std::make_shared<TestDevice>();
  bus.add(dev);
  BarAllocator alloc(kMmio32WindowStart, kMmio32WindowEnd);
  BarAllocator ports(kIoBarStart, kIoWindowEnd);
  bus.assign_bars(alloc, ports);
  uint64_t bar0 = dev->config_space().bar_address(0);
  uint64_t bar2 = dev->config_space().bar_address(2);
  EXPECT_EQ(bar2, 0xC000'0000u);  // largest first
  EXPECT_EQ(bar0, 0xC001'0000u);
  PciMmioWindow window(bus, kMmio32WindowStart);
  uint8_t buf[4];
  // Memory decoding is off until the command register enables it.
  EXPECT_FALSE(bus.mmio_read(bar0 + 4, buf));
  PciConfigIo io(bus);
  cf_write(io, addr(1, reg::kCommand), 0, cmd::kMemorySpace, 2);
  window.read(bar0 + 4 - kMmio32WindowStart, buf);
  EXPECT_EQ(dev->last_read, (std::pair<int, uint64_t>{0, 4}));
  EXPECT_EQ(buf[0], 0xAB);
  uint32_t v = 0x11223344;
  window.write(bar2 + 0x20 - kMmio32WindowStart, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(dev->last_write, (std::pair<int, uint64_t>{2, 0x20}));
  EXPECT_EQ(dev->written & 0xFFFFFFFF, 0x11223344u);
  // An access straddling the end of the BAR goes nowhere.
  EXPECT_FALSE(bus.mmio_read(bar0 + 0xFFE, buf));
  // The guest moves BAR 0: the old address stops decoding, the new one works.
  cf_write(io, addr(1, reg::kBar0), 0, 0xD000'0000, 4);
  EXPECT_FALSE(bus.mmio_read(bar0, buf));
  EXPECT_TRUE(bus.mmio_read(0xD000'0010, buf));
  EXPECT_EQ(dev->last_read, (std::pair<int, uint64_t>{0, 0x10}));
  // Sizing (all-ones) makes the BAR decode nothing sensible inside the window.
  cf_write(io, addr(1, reg::kBar0), 0, 0xFFFF'FFFF, 4);
  EXPECT_FALSE(bus.mmio_read(0xD000'0010, buf));
}

// A function with an I/O BAR (like PIIX IDE's bus-master BAR 4) next to its memory BARs.
class IoBarDevice : public TestDevice {
 public:
  IoBarDevice() { config_.add_bar(4, BarType::kIo, 16); }
};

TEST(PciBus, AssignsIoBarsFromThePortWindowAndFollowsMoves) {
  PciBus bus;
  auto dev = std::make_shared<IoBarDevice>();
  bus.add(dev);
  BarAllocator memory(kMmio32WindowStart, kMmio32WindowEnd);
  BarAllocator ports(kIoBarStart, kIoWindowEnd);
  bus.assign_bars(memory, ports);
  EXPECT_EQ(dev->config_space().bar_address(4), kIoBarStart);
  EXPECT_EQ(dev->config_space().bar_address(2), 0xC000'0000u);  // memory BARs unaffected
  PciConfigIo io(bus);
  PciIoWindow window(bus, kIoWindowStart);
  uint8_t buf[2];
  // I/O decoding is off until the command register enables it; memory enable is not enough.
  cf_write(io, addr(1, reg::kCommand), 0, cmd::kMemorySpace, 2);
  EXPECT_FALSE(bus.io_read(kIoBarStart, buf));
  EXPECT_EQ(buf[0], 0xFF);
  cf_write(io, addr(1, reg::kCommand), 0, cmd::kIoSpace, 2);
  window.read(kIoBarStart + 2 - kIoWindowStart, std::span(buf, 1));
  EXPECT_EQ(dev->last_read, (std::pair<int, uint64_t>{4, 2}));
  EXPECT_EQ(buf[0], 0xAB);
  // A port access never reaches a memory BAR at the same number, nor the reverse.
  EXPECT_FALSE(bus.mmio_read(kIoBarStart, buf));
  // An access straddling the BAR's end goes nowhere.
  EXPECT_FALSE(bus.io_read(kIoBarStart + 15, buf));
  // The guest moves BAR 4: the old ports stop decoding, the new ones work.
  cf_write(io, addr(1, reg::kBar0 + 16), 0, 0xD001, 4);
  EXPECT_EQ(dev->config_space().bar_address(4), 0xD000u);
  EXPECT_FALSE(bus.io_read(kIoBarStart, buf));
  const uint16_t v = 0x0908;
  window.write(0xD004 - kIoWindowStart, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 2));
  EXPECT_EQ(dev->last_write, (std::pair<int, uint64_t>{4, 4}));
  EXPECT_EQ(dev->written & 0xFFFF, 0x0908u);
  // Sizing (all-ones) moves it out of the port range.
  cf_write(io, addr(1, reg::kBar0 + 16), 0, 0xFFFF'FFFF, 4);
  EXPECT_FALSE(bus.io_read(0xD000, buf));
}

TEST(PciBus, IoWindowExhaustionIsAnError) {
  PciBus bus;
  bus.add(std::make_shared<IoBarDevice>());
  bus.add(std::make_shared<IoBarDevice>());
  BarAllocator memory(kMmio32WindowStart, kMmio32WindowEnd);
  BarAllocator ports(0xFFF0, kIoWindowEnd);  // room for one 16-port BAR
  EXPECT_THROW(bus.assign_bars(memory, ports), std::length_error);
}

TEST(PciDevice, IntxFollowsLevelAndDisableBit) {
  TestDevice dev;
  testing::FakeLine line;
  dev.connect_intx(&line, 11);
  EXPECT_EQ(dev.config_space().get8(reg::kInterruptPin), 1);
  EXPECT_EQ(dev.config_space().get8(reg::kInterruptLine), 11);
  dev.raise(true);
  EXPECT_TRUE(line.level);
  EXPECT_TRUE(dev.config_space().get16(reg::kStatus) & status::kInterrupt);
  uint16_t disable = cmd::kIntxDisable;
  dev.config_write(reg::kCommand, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&disable), 2));
  EXPECT_FALSE(line.level);
  EXPECT_TRUE(dev.config_space().get16(reg::kStatus) & status::kInterrupt);  // still pending
  uint16_t enable = 0;
  dev.config_write(reg::kCommand, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&enable), 2));
  EXPECT_TRUE(line.level);
  dev.raise(false);
  EXPECT_FALSE(line.level);
}

}  // namespace
}  // namespace devices::pci
