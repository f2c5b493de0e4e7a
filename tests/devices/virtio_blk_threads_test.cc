// virtio-blk with real threads, the way the machine runs it: a "vCPU" thread programs the
// device and submits requests (MMIO notify -> eventfd), an "I/O thread" polls the queue eventfd
// and the backend's completion eventfd. The vCPU thread toggles bus mastering during I/O
// (blktests block/011 does this through sysfs): every request must still complete, exactly
// once, with the right data on disk.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/drive_options.h"
#include "devices/virtio/virtio_blk.h"
#include "virtio_test_util.h"

namespace devices::virtio {
namespace {

using namespace blk;

class EventfdHooks : public NotifyHooks {
 public:
  EventfdHooks() : fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~EventfdHooks() override { ::close(fd); }
  void kick(uint16_t) override {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, 8);
  }
  int fd;
};

TEST(VirtioBlkThreads, BusMasterToggledDuringIoLosesNothing) {
  testing::TestRam ram;
  testing::TempDir dir;
  std::string path = dir.file("disk.img");
  {
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 4 << 20), 0);
    ::close(fd);
  }
  block::DriveOptions o;
  o.file = path;
  o.aio = block::AioEngine::kThreads;
  auto backend = block::Backend::open(o);
  testing::FakeMsi msi;
  EventfdHooks hooks;
  auto dev = std::make_unique<VirtioBlk>(ram.memory, *backend, VirtioBlkOptions{});
  dev->set_msi_sender(&msi);
  dev->set_notify_hooks(&hooks);
  testing::TestDriver drv(*dev, ram);
  uint64_t features = bit(feature::kVersion1) | bit(feature::kEventIdx) | bit(kFlush) | bit(kSegMax);
  drv.bring_up(features, 1, 64);
  drv.set_used_event(0, 0xFFFF);  // polling driver: no interrupts wanted... 
  drv.set_used_event(0, 0);       // ...but keep them on to exercise the MSI path

  std::atomic<bool> stop{false};
  std::thread io([&] {
    while (!stop.load()) {
      pollfd p[2] = {{hooks.fd, POLLIN, 0}, {backend->completion_fd(), POLLIN, 0}};
      ::poll(p, 2, 5);
      uint64_t v;
      if (::read(hooks.fd, &v, 8) == 8) dev->process_queue(0);
      backend->process_completions();
    }
  });

  constexpr int kSlots = 8;
  constexpr int kRequests = 400;
  constexpr uint32_t kLen = 4096;
  auto& q = drv.queue(0);
  struct Slot {
    uint64_t header, data, status;
    bool busy = false;
    uint32_t seed = 0;
    bool write = false;
  } slots[kSlots];
  for (int s = 0; s < kSlots; ++s) {
    slots[s].header = ram.alloc(16);
    slots[s].data = ram.alloc(kLen, 4096);
    slots[s].status = ram.alloc(1, 1);
  }
  uint32_t last_written[kSlots] = {};
  uint16_t seen_used = 0;
  int submitted = 0, completed = 0, errors = 0, toggles = 0;
  auto* used_idx = reinterpret_cast<uint16_t*>(ram.ptr(q.used + 2, 2));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);

  while (completed < kRequests && std::chrono::steady_clock::now() < deadline) {
    // Submit into free slots.
    for (int s = 0; s < kSlots && submitted < kRequests; ++s) {
      Slot& sl = slots[s];
      if (sl.busy) continue;
      sl.write = submitted % 3 != 2;
      sl.seed = static_cast<uint32_t>(submitted);
      ram.set<uint32_t>(sl.header, sl.write ? kTypeOut : kTypeIn);
      ram.set<uint32_t>(sl.header + 4, 0);
      ram.set<uint64_t>(sl.header + 8, uint64_t(s) * (kLen / 512));
      if (sl.write) std::memset(ram.ptr(sl.data, kLen), static_cast<int>(sl.seed & 0xFF), kLen);
      ram.set<uint8_t>(sl.status, 0xEE);
      auto head = static_cast<uint16_t>(3 * s);
      drv.put_desc(q, q.desc, head, sl.header, 16, ring::kDescNext, head + 1);
      drv.put_desc(q, q.desc, head + 1, sl.data, kLen, ring::kDescNext | (sl.write ? 0 : ring::kDescWrite), head + 2);
      drv.put_desc(q, q.desc, head + 2, sl.status, 1, ring::kDescWrite, 0);
      sl.busy = true;
      drv.publish(0, head);
      drv.write(VirtioPciDevice::kNotifyOffset, 0, 2);  // MMIO notify from this "vCPU"
      ++submitted;
      if (submitted % 25 == 0) {
        // Bus mastering off for a moment, in the middle of I/O: preferably while the backend
        // holds a request, so its completion has to be parked.
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
        while (dev->in_flight() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        drv.set_command(pci::cmd::kMemorySpace);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        drv.set_command(pci::cmd::kMemorySpace | pci::cmd::kBusMaster);
        ++toggles;
      }
    }
    // Reap.
    uint16_t now = std::atomic_ref<uint16_t>(*used_idx).load(std::memory_order_acquire);
    while (seen_used != now) {
      auto [id, len] = drv.used_elem(0, seen_used++);
      ASSERT_EQ(id % 3, 0u);
      int s = static_cast<int>(id / 3);
      ASSERT_LT(s, kSlots);
      Slot& sl = slots[s];
      ASSERT_TRUE(sl.busy) << "completed twice: head " << id;
      sl.busy = false;
      ++completed;
      uint8_t st = ram.get<uint8_t>(sl.status);
      if (st != kStatusOk) ++errors;
      if (sl.write) {
        last_written[s] = sl.seed;
        EXPECT_EQ(len, 1u);
      } else {
        EXPECT_EQ(len, kLen + 1);
        // Reads return what this slot last wrote (slots own their sectors).
        EXPECT_EQ(ram.get<uint8_t>(sl.data), static_cast<uint8_t>(last_written[s] & 0xFF));
      }
    }
    std::this_thread::yield();
  }
  stop = true;
  io.join();
  EXPECT_EQ(completed, kRequests);
  EXPECT_EQ(errors, 0);
  EXPECT_GT(toggles, 10);
  EXPECT_GT(msi.total(), 0u);
  EXPECT_EQ(dev->status() & device_status::kNeedsReset, 0);
  auto st = dev->stats();
  EXPECT_EQ(st.requests, uint64_t{kRequests});
  EXPECT_EQ(st.errors, 0u);
  ::testing::Test::RecordProperty("parked_completions", static_cast<int>(st.parked));
  std::printf("completions parked while bus mastering was off: %llu\n",
              static_cast<unsigned long long>(st.parked));
  // The file holds each slot's last write.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  for (int s = 0; s < kSlots; ++s) {
    uint8_t b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, off_t(s) * kLen), 1);
    EXPECT_EQ(b, static_cast<uint8_t>(last_written[s] & 0xFF)) << s;
  }
  ::close(fd);
  dev.reset();
}

}  // namespace
}  // namespace devices::virtio
