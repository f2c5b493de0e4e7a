// AHCI and IDE on the real vmm::IoLoop running on its own thread (the machine's wiring minus
// KVM): the test thread plays a vCPU that programs the controllers through their registers;
// the hook posts the work to the loop, which must wake up at once. Every command must finish
// well below QEMU's old 499 ms stall.
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "devices/ahci/ahci.h"
#include "devices/ata/io_loop_hook.h"
#include "devices/ide/ide.h"
#include "ata_test_util.h"
#include "vmm/io_loop.h"

namespace devices {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class LoopThread {
 public:
  explicit LoopThread(block::Backend& backend) {
    loop.watch_readable(backend.completion_fd(), [&backend] {
      backend.process_completions();
      return true;
    });
    thread = std::thread([this] { loop.run(); });
  }
  ~LoopThread() {
    loop.stop();
    thread.join();
    loop.run_pending();
  }
  vmm::IoLoop loop;
  ata::IoLoopHook hook{loop};
  std::thread thread;
};

template <typename F>
Clock::duration wait_for(F done) {
  auto start = Clock::now();
  while (!done()) {
    if (Clock::now() - start > 5s) break;
    std::this_thread::yield();
  }
  return Clock::now() - start;
}

TEST(AtaIoLoop, AhciCommandsWakeTheIoThread) {
  testing::TestRam ram;
  testing::TestDisk disk(1 << 20);
  Clock::duration worst{};
  {
    // Declared before the loop: the loop stops (and drains its posted work) first.
    ahci::AhciController dev(ram.memory, {{disk.backend.get(), {}}});
    LoopThread io(*disk.backend);
    dev.set_io_thread_hook(&io.hook);
    auto rd = [&](uint32_t off) {
      uint32_t v;
      dev.bar_read(5, off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
      return v;
    };
    auto wr = [&](uint32_t off, uint32_t v) { dev.bar_write(5, off, std::span(reinterpret_cast<const uint8_t*>(&v), 4)); };
    uint8_t cmd[2] = {pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 0};
    dev.config_write(pci::reg::kCommand, std::span<const uint8_t>(cmd, 2));
    uint64_t clb = ram.alloc(1024, 1024), fb = ram.alloc(256, 256);
    uint64_t table = ram.alloc(0x100, 128), buf = ram.alloc(4096, 512);
    const uint32_t p = ahci::kPortBase;
    wr(p + ahci::px::kClb, static_cast<uint32_t>(clb));
    wr(p + ahci::px::kFb, static_cast<uint32_t>(fb));
    wr(p + ahci::px::kCmd, ahci::pcmd::kFre);
    wr(p + ahci::px::kCmd, ahci::pcmd::kFre | ahci::pcmd::kSt);
    auto all = testing::pattern(1 << 20, 1);
    for (int i = 0; i < 100; ++i) {
      uint8_t* c = ram.ptr(table, 0x90);
      std::memset(c, 0, 0x90);
      c[0] = ahci::fis::kH2dRegister;
      c[1] = ahci::fis::kH2dCommandBit;
      c[2] = ata::op::kReadDmaExt;
      c[4] = static_cast<uint8_t>(i);
      c[7] = 0x40;
      c[12] = 8;
      ram.set<uint32_t>(table + 0x80, static_cast<uint32_t>(buf));
      ram.set<uint32_t>(table + 0x8C, 4095);
      ram.set<uint32_t>(clb, 5 | 1u << 16);
      ram.set<uint32_t>(clb + 8, static_cast<uint32_t>(table));
      wr(p + ahci::px::kCi, 1);
      worst = std::max(worst, wait_for([&] { return rd(p + ahci::px::kCi) == 0; }));
      ASSERT_EQ(rd(p + ahci::px::kTfd) & 0xFF, ata::st::kReady);
      ASSERT_EQ(std::memcmp(ram.ptr(buf, 4096), all.data() + 512 * i, 4096), 0) << i;
    }
  }
  EXPECT_LT(worst, 250ms);
}

TEST(AtaIoLoop, IdeDmaAndPioWakeTheIoThread) {
  testing::TestRam ram;
  testing::TestDisk disk(1 << 20);
  Clock::duration worst{};
  {
    ide::IdeController dev(ram.memory, {ide::IdeDisk{disk.backend.get(), {}}, {}, {}, {}});
    LoopThread io(*disk.backend);
    dev.set_io_thread_hook(&io.hook);
    uint8_t cmd[2] = {pci::cmd::kIoSpace | pci::cmd::kBusMaster, 0};
    dev.config_write(pci::reg::kCommand, std::span<const uint8_t>(cmd, 2));
    auto out = [&](uint32_t r, uint8_t v) { dev.command_block(0).write(r, std::span<const uint8_t>(&v, 1)); };
    auto in = [&](uint32_t r) {
      uint8_t v;
      dev.command_block(0).read(r, std::span(&v, 1));
      return v;
    };
    auto bm = [&](uint32_t r, uint32_t v, size_t n) {
      dev.bar_write(ide::IdeController::kBmideBar, r, std::span(reinterpret_cast<const uint8_t*>(&v), n));
    };
    uint64_t prdt = ram.alloc(64, 64), buf = ram.alloc(4096, 512);
    ram.set<uint32_t>(prdt, static_cast<uint32_t>(buf));
    ram.set<uint32_t>(prdt + 4, 4096 | ide::bm::kPrdEot);
    bm(ide::bm::kPrdTable, static_cast<uint32_t>(prdt), 4);
    auto all = testing::pattern(1 << 20, 1);
    for (int i = 0; i < 50; ++i) {
      bm(ide::bm::kStatus, ide::bm::kStInterrupt | ide::bm::kStError, 1);
      out(ide::reg::kCount, 8);
      out(ide::reg::kLbaLow, static_cast<uint8_t>(i));
      out(ide::reg::kLbaMid, 0);
      out(ide::reg::kLbaHigh, 0);
      out(ide::reg::kDevice, 0xE0);
      out(ide::reg::kStatus, ata::op::kReadDma);
      bm(ide::bm::kCommand, ide::bm::kCmdToMemory | ide::bm::kCmdStart, 1);
      worst = std::max(worst, wait_for([&] { return (in(ide::reg::kStatus) & ata::st::kBsy) == 0; }));
      bm(ide::bm::kCommand, 0, 1);
      ASSERT_EQ(in(ide::reg::kStatus), ata::st::kReady);
      ASSERT_EQ(std::memcmp(ram.ptr(buf, 4096), all.data() + 512 * i, 4096), 0) << i;
      // And one PIO sector through the data port.
      out(ide::reg::kCount, 1);
      out(ide::reg::kLbaLow, static_cast<uint8_t>(i));
      out(ide::reg::kStatus, ata::op::kReadSectors);
      worst = std::max(worst, wait_for([&] { return (in(ide::reg::kStatus) & ata::st::kBsy) == 0; }));
      uint8_t sector[512];
      for (int w = 0; w < 256; ++w) dev.command_block(0).read(0, std::span(sector + 2 * w, 2));
      ASSERT_EQ(std::memcmp(sector, all.data() + 512 * i, 512), 0) << i;
    }
  }
  EXPECT_LT(worst, 250ms);
}

}  // namespace
}  // namespace devices
