// End to end through the PCI bus: the guest finds virtio-blk with configuration mechanism #1,
// the BAR allocator places BAR 0 in the 32-bit window, and the common configuration is reached
// through the MMIO window router, as the machine will wire it.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/null_driver.h"
#include "devices/pci/bar_allocator.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/virtio_blk.h"
#include "virtio_test_util.h"

namespace devices::virtio {
namespace {

uint32_t io_read(pci::PciConfigIo& io, uint32_t address, uint32_t reg, size_t size) {
  uint32_t a = address | (reg & 0xFC);
  io.write(0, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&a), 4));
  uint32_t v = 0;
  io.read(4 + (reg & 3), std::span(reinterpret_cast<uint8_t*>(&v), size));
  return v;
}

void io_write(pci::PciConfigIo& io, uint32_t address, uint32_t reg, uint32_t value, size_t size) {
  uint32_t a = address | (reg & 0xFC);
  io.write(0, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&a), 4));
  io.write(4 + (reg & 3), std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&value), size));
}

TEST(VirtioPciBus, GuestEnumeratesAndProgramsDeviceThroughBus) {
  testing::TestRam ram;
  block::Backend backend(std::make_unique<block::NullDriver>(), block::BackendPolicy{}, 64 << 20);
  auto blk = std::make_shared<VirtioBlk>(ram.memory, backend, VirtioBlkOptions{.num_queues = 2});
  testing::FakeHooks hooks;
  blk->set_notify_hooks(&hooks);
  pci::PciBus bus;
  int slot = bus.add(blk);
  pci::BarAllocator alloc(pci::kMmio32WindowStart, pci::kMmio32WindowEnd);
  pci::BarAllocator ports(pci::kIoBarStart, pci::kIoWindowEnd);
  bus.assign_bars(alloc, ports);
  pci::PciConfigIo io(bus);
  pci::PciMmioWindow window(bus, pci::kMmio32WindowStart);

  // Enumerate bus 0 like a guest: vendor ids of every slot.
  int found = -1;
  for (int s = 0; s < pci::kSlotsPerBus; ++s) {
    uint32_t base = 0x8000'0000u | uint32_t(s) << 11;
    if (io_read(io, base, 0, 2) == 0x1AF4 && io_read(io, base, 2, 2) == 0x1042) found = s;
  }
  ASSERT_EQ(found, slot);
  uint32_t dev = 0x8000'0000u | uint32_t(slot) << 11;
  uint32_t bar0 = io_read(io, dev, pci::reg::kBar0, 4) & ~0xFu;
  EXPECT_EQ(bar0, pci::kMmio32WindowStart);
  // Memory decoding off: the BAR does not answer (reads all-ones) and no notify area.
  uint16_t nq = 0;
  window.read(bar0 + 0x12 - pci::kMmio32WindowStart, std::span(reinterpret_cast<uint8_t*>(&nq), 2));
  EXPECT_EQ(nq, 0xFFFF);
  io_write(io, dev, pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  EXPECT_EQ(hooks.area, bar0 + VirtioPciDevice::kNotifyOffset);
  window.read(bar0 + 0x12 - pci::kMmio32WindowStart, std::span(reinterpret_cast<uint8_t*>(&nq), 2));
  EXPECT_EQ(nq, 2);
  // Notify through the window reaches the hook; the guest moving the BAR re-reports the area.
  uint16_t q = 1;
  window.write(bar0 + VirtioPciDevice::kNotifyOffset + 4 - pci::kMmio32WindowStart,
               std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&q), 2));
  EXPECT_EQ(hooks.kicks, std::vector<uint16_t>{1});
  io_write(io, dev, pci::reg::kBar0, 0xE000'0000, 4);
  EXPECT_EQ(hooks.area, 0xE000'0000 + VirtioPciDevice::kNotifyOffset);
  nq = 0;
  window.read(0xE000'0012 - pci::kMmio32WindowStart, std::span(reinterpret_cast<uint8_t*>(&nq), 2));
  EXPECT_EQ(nq, 2);
}

}  // namespace
}  // namespace devices::virtio
