// The integration recipe of docs/virtio-blk.md, minus KVM: PCI on the colleague's IoBus
// (0xCF8 on the PIO bus, the 32-bit window on the MMIO bus), virtio-blk queues on eventfds
// watched by the real vmm::IoLoop on its own thread, backend completions on the same loop.
// The test thread plays a vCPU: it programs the device through the buses and notifies through
// MMIO, as a guest does when no ioeventfd absorbs the write.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/drive_options.h"
#include "devices/pci/bar_allocator.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/kvm_queue_notifier.h"
#include "devices/virtio/virtio_blk.h"
#include "virtio_test_util.h"
#include "vmm/io_bus.h"
#include "vmm/io_loop.h"

namespace devices::virtio {
namespace {

using namespace blk;

uint32_t pio_config_read(vmm::IoBus& pio, uint32_t address, size_t size) {
  uint32_t a = address & ~3u;
  pio.write(0xCF8, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&a), 4));
  uint32_t v = 0;
  pio.read(0xCFC + (address & 3), std::span(reinterpret_cast<uint8_t*>(&v), size));
  return v;
}

void pio_config_write(vmm::IoBus& pio, uint32_t address, uint32_t value, size_t size) {
  uint32_t a = address & ~3u;
  pio.write(0xCF8, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&a), 4));
  pio.write(0xCFC + (address & 3), std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&value), size));
}

TEST(IoLoopWiring, RequestsFlowThroughBusesEventfdsAndTheIoThread) {
  testing::TestRam ram;
  testing::TempDir dir;
  std::string path = dir.file("disk.img");
  {
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
  }
  block::DriveOptions options;
  options.file = path;
  options.aio = block::AioEngine::kThreads;
  options.num_queues = 2;
  options.serial = "wired";

  // --- The recipe (declaration order = lifetime order: the hooks outlive the device, the
  // device outlives nothing it points into) ---
  testing::FakeMsi msi;  // KvmMsiSender(vm.fd()) in the machine
  KvmQueueNotifier notifier(-1, uint16_t(options.num_queues), VirtioPciDevice::kNotifyOffMultiplier);
  auto backend = block::Backend::open(options);
  auto blk = std::make_shared<VirtioBlk>(
      ram.memory, *backend,
      VirtioBlkOptions{.serial = options.serial, .num_queues = uint16_t(options.num_queues)});
  blk->set_msi_sender(&msi);
  blk->set_notify_hooks(&notifier);
  pci::PciBus pci;
  int slot = pci.add(blk);
  pci::BarAllocator bars(pci::kMmio32WindowStart, pci::kMmio32WindowEnd);
  pci::BarAllocator ports(pci::kIoBarStart, pci::kIoWindowEnd);
  pci.assign_bars(bars, ports);
  vmm::IoBus pio_bus("pio");
  vmm::IoBus mmio_bus("mmio");
  pio_bus.add(pci::kConfigIoPort, pci::kConfigIoSize, std::make_shared<pci::PciConfigIo>(pci));
  mmio_bus.add(pci::kMmio32WindowStart, pci::kMmio32WindowEnd - pci::kMmio32WindowStart,
               std::make_shared<pci::PciMmioWindow>(pci, pci::kMmio32WindowStart));
  vmm::IoLoop io_loop;
  io_loop.watch_readable(backend->completion_fd(), [&] {
    backend->process_completions();
    return true;
  });
  for (uint16_t q = 0; q < blk->num_queues(); ++q) {
    io_loop.watch_readable(notifier.eventfd(q), [&, q] {
      notifier.consume(q);
      blk->process_queue(q);
      return true;
    });
  }
  std::thread io_thread([&] { io_loop.run(); });
  // --- end of recipe ---

  // The "guest": find the device, enable it, bring it up.
  uint32_t dev = 0x8000'0000u | uint32_t(slot) << 11;
  ASSERT_EQ(pio_config_read(pio_bus, dev, 4), 0x1042'1AF4u);
  uint64_t bar0 = pio_config_read(pio_bus, dev | pci::reg::kBar0, 4) & ~0xFull;
  pio_config_write(pio_bus, dev | pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  EXPECT_EQ(notifier.registered_area(), bar0 + VirtioPciDevice::kNotifyOffset);
  testing::TestDriver drv(*blk, ram);
  ASSERT_TRUE(drv.negotiate(bit(feature::kVersion1) | bit(kFlush) | bit(kMq)));
  drv.enable_msix(3);
  drv.write(0x10, 0, 2);
  drv.setup_queue(0, 16, 1);
  drv.setup_queue(1, 16, 2);
  drv.driver_ok();

  // A write on queue 1, then a read-back on queue 0, each notified through the MMIO bus.
  auto notify = [&](uint16_t q) {
    uint16_t v = q;
    ASSERT_TRUE(mmio_bus.write(bar0 + VirtioPciDevice::kNotifyOffset + 4 * q,
                               std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&v), 2)));
  };
  auto wait_used = [&](uint16_t q, uint16_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto* idx = reinterpret_cast<uint16_t*>(ram.ptr(drv.queue(q).used + 2, 2));
    while (std::atomic_ref<uint16_t>(*idx).load(std::memory_order_acquire) != n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::atomic_ref<uint16_t>(*idx).load(std::memory_order_acquire) == n;
  };
  uint64_t h = ram.alloc(16), data = ram.alloc(4096, 4096), st = ram.alloc(1, 1);
  ram.set<uint32_t>(h, kTypeOut);
  ram.set<uint64_t>(h + 8, 16);
  std::memset(ram.ptr(data, 4096), 0x3C, 4096);
  drv.submit(1, {{h, 16, false}, {data, 4096, false}, {st, 1, true}});
  notify(1);
  ASSERT_TRUE(wait_used(1, 1));
  EXPECT_EQ(ram.get<uint8_t>(st), kStatusOk);
  EXPECT_EQ(msi.count(0x102), 1u);

  uint64_t h2 = ram.alloc(16), data2 = ram.alloc(4096, 4096), st2 = ram.alloc(1, 1);
  ram.set<uint32_t>(h2, kTypeIn);
  ram.set<uint64_t>(h2 + 8, 16);
  drv.submit(0, {{h2, 16, false}, {data2, 4096, true}, {st2, 1, true}});
  notify(0);
  ASSERT_TRUE(wait_used(0, 1));
  EXPECT_EQ(ram.get<uint8_t>(st2), kStatusOk);
  EXPECT_EQ(ram.get<uint8_t>(data2 + 4095), 0x3C);
  EXPECT_EQ(msi.count(0x101), 1u);

  // Shutdown order: stop the I/O loop, then the device (drains), then the backend.
  io_loop.post([&] { io_loop.stop(); });
  io_thread.join();
}

}  // namespace
}  // namespace devices::virtio
