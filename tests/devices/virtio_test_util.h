#pragma once
// Test doubles and a tiny "guest driver" that programs a virtio-pci device through its BAR and
// builds split virtqueues in a real vmm::GuestMemory, as a guest kernel would.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "devices/interrupt_line.h"
#include "devices/pci/msi_sender.h"
#include "devices/pci/pci_config_space.h"
#include "devices/virtio/notify_hooks.h"
#include "devices/virtio/virtio_pci_device.h"
#include "devices/virtio/virtio_spec.h"
#include "vmm/guest_memory.h"

namespace devices::testing {

class FakeMsi : public pci::MsiSender {
 public:
  void send(uint64_t address, uint32_t data) override {
    {
      std::lock_guard lock(mutex);
      sent.emplace_back(address, data);
    }
    if (on_send) on_send(data);
  }
  size_t count(uint32_t data) {
    std::lock_guard lock(mutex);
    size_t n = 0;
    for (auto& [a, d] : sent) n += d == data;
    return n;
  }
  size_t total() {
    std::lock_guard lock(mutex);
    return sent.size();
  }
  std::mutex mutex;
  std::vector<std::pair<uint64_t, uint32_t>> sent;
  // Runs on the sending thread after each message: a guest's interrupt handler, for tests
  // that need one to run while the device is still completing requests.
  std::function<void(uint32_t data)> on_send;
};

class FakeLine : public InterruptLine {
 public:
  void set_level(bool asserted) override {
    level = asserted;
    ++changes;
  }
  bool level = false;
  int changes = 0;
};

class FakeHooks : public virtio::NotifyHooks {
 public:
  void kick(uint16_t queue) override { kicks.push_back(queue); }
  void notify_area_moved(std::optional<uint64_t> address) override {
    area = address;
    ++moves;
  }
  std::vector<uint16_t> kicks;
  std::optional<uint64_t> area;
  int moves = 0;
};

inline constexpr uint64_t kRamSize = 16 << 20;

// Guest RAM with a bump allocator for test structures.
class TestRam {
 public:
  TestRam() : memory({{0, kRamSize}}) {}
  uint64_t alloc(uint64_t size, uint64_t align = 16) {
    next_ = (next_ + align - 1) & ~(align - 1);
    uint64_t at = next_;
    next_ += size;
    if (next_ > kRamSize) throw std::runtime_error("test RAM exhausted");
    return at;
  }
  uint8_t* ptr(uint64_t address, uint64_t size = 1) { return memory.span(address, size).data(); }
  template <typename T>
  T get(uint64_t address) {
    T v;
    std::memcpy(&v, ptr(address, sizeof v), sizeof v);
    return v;
  }
  template <typename T>
  void set(uint64_t address, T v) {
    std::memcpy(ptr(address, sizeof v), &v, sizeof v);
  }
  vmm::GuestMemory memory;

 private:
  uint64_t next_ = 0x10000;
};

struct Buf {
  uint64_t address;
  uint32_t length;
  bool writable;
};

// Programs a VirtioPciDevice like a guest driver: BAR 0 register accesses only.
class TestDriver {
 public:
  struct Queue {
    uint16_t size = 0;
    uint64_t desc = 0, avail = 0, used = 0;
    uint16_t next_desc = 0;
    uint16_t avail_idx = 0;
    uint16_t seen_used = 0;
  };

  TestDriver(virtio::VirtioPciDevice& dev, TestRam& ram) : dev_(dev), ram_(ram) {}

  uint64_t read(uint64_t offset, size_t size) {
    uint8_t b[8] = {};
    dev_.bar_read(0, offset, std::span(b, size));
    uint64_t v = 0;
    std::memcpy(&v, b, size);
    return v;
  }
  void write(uint64_t offset, uint64_t value, size_t size) {
    uint8_t b[8];
    std::memcpy(b, &value, 8);
    dev_.bar_write(0, offset, std::span<const uint8_t>(b, size));
  }
  uint32_t cfg_read(uint32_t offset, size_t size) {
    uint8_t b[4] = {};
    dev_.config_read(offset, std::span(b, size));
    uint32_t v = 0;
    std::memcpy(&v, b, size);
    return v;
  }
  void cfg_write(uint32_t offset, uint32_t value, size_t size) {
    uint8_t b[4];
    std::memcpy(b, &value, 4);
    dev_.config_write(offset, std::span<const uint8_t>(b, size));
  }
  void set_command(uint16_t command) { cfg_write(pci::reg::kCommand, command, 2); }
  void enable_device(uint64_t bar_address = 0xC000'0000) {
    cfg_write(pci::reg::kBar0, static_cast<uint32_t>(bar_address), 4);
    set_command(pci::cmd::kMemorySpace | pci::cmd::kBusMaster);
  }

  uint8_t status() { return static_cast<uint8_t>(read(0x14, 1)); }
  void set_status(uint8_t s) { write(0x14, s, 1); }
  uint64_t device_features() {
    write(0x00, 0, 4);
    uint64_t lo = read(0x04, 4);
    write(0x00, 1, 4);
    return lo | read(0x04, 4) << 32;
  }
  // ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck.
  bool negotiate(uint64_t features) {
    using namespace virtio::device_status;
    set_status(kAcknowledge);
    set_status(kAcknowledge | kDriver);
    write(0x08, 0, 4);
    write(0x0C, features & 0xFFFFFFFF, 4);
    write(0x08, 1, 4);
    write(0x0C, features >> 32, 4);
    set_status(kAcknowledge | kDriver | kFeaturesOk);
    return status() & kFeaturesOk;
  }
  void driver_ok() {
    using namespace virtio::device_status;
    set_status(kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
  }
  // Turns MSI-X on with vector i -> (0xFEE00000, data 0x100 + i), all unmasked.
  void enable_msix(uint16_t vectors) {
    for (uint16_t v = 0; v < vectors; ++v) {
      uint64_t e = virtio::VirtioPciDevice::kMsixTableOffset + 16 * v;
      write(e, 0xFEE0'0000, 4);
      write(e + 4, 0, 4);
      write(e + 8, 0x100 + v, 4);
      write(e + 12, 0, 4);
    }
    uint8_t cap = msix_cap();
    cfg_write(cap + 2, 0x8000, 2);
  }
  uint8_t msix_cap() {
    uint8_t at = static_cast<uint8_t>(cfg_read(pci::reg::kCapabilityPointer, 1));
    while (at != 0) {
      if (cfg_read(at, 1) == pci::cap_id::kMsix) return at;
      at = static_cast<uint8_t>(cfg_read(at + 1, 1));
    }
    return 0;
  }
  Queue& setup_queue(uint16_t q, uint16_t size, uint16_t vector) {
    Queue& qu = queues_[q];
    qu = Queue{};
    qu.size = size;
    qu.desc = ram_.alloc(16u * size, 16);
    qu.avail = ram_.alloc(6 + 2u * size, 2);
    qu.used = ram_.alloc(6 + 8u * size, 4);
    std::memset(ram_.ptr(qu.desc, 16u * size), 0, 16u * size);
    std::memset(ram_.ptr(qu.avail, 6 + 2u * size), 0, 6 + 2u * size);
    std::memset(ram_.ptr(qu.used, 6 + 8u * size), 0, 6 + 8u * size);
    write(0x16, q, 2);
    write(0x18, size, 2);
    write(0x1A, vector, 2);
    write(0x20, qu.desc, 8);
    write(0x28, qu.avail, 8);
    write(0x30, qu.used, 8);
    write(0x1C, 1, 2);
    return qu;
  }
  // Full bring-up with one queue per `queues`, MSI-X vector q+1 for queue q, vector 0 config.
  void bring_up(uint64_t features, uint16_t queues = 1, uint16_t size = 16) {
    enable_device();
    ASSERT_TRUE(negotiate(features));
    enable_msix(queues + 1);
    write(0x10, 0, 2);  // config vector 0
    for (uint16_t q = 0; q < queues; ++q) setup_queue(q, size, static_cast<uint16_t>(q + 1));
    driver_ok();
  }

  void put_desc(Queue& qu, uint64_t table, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next) {
    uint64_t d = table + 16u * index;
    ram_.set<uint64_t>(d, addr);
    ram_.set<uint32_t>(d + 8, len);
    ram_.set<uint16_t>(d + 12, flags);
    ram_.set<uint16_t>(d + 14, next);
  }
  // Writes a direct chain into the descriptor table and returns its head (not yet published).
  uint16_t make_chain(uint16_t q, const std::vector<Buf>& bufs) {
    Queue& qu = queues_[q];
    uint16_t head = qu.next_desc;
    for (size_t i = 0; i < bufs.size(); ++i) {
      uint16_t idx = static_cast<uint16_t>((head + i) % qu.size);
      bool last = i + 1 == bufs.size();
      uint16_t flags = (bufs[i].writable ? virtio::ring::kDescWrite : 0) | (last ? 0 : virtio::ring::kDescNext);
      put_desc(qu, qu.desc, idx, bufs[i].address, bufs[i].length, flags,
               static_cast<uint16_t>((idx + 1) % qu.size));
    }
    qu.next_desc = static_cast<uint16_t>((head + bufs.size()) % qu.size);
    return head;
  }
  // An indirect table holding `bufs`, referenced by one descriptor in the ring.
  uint16_t make_indirect(uint16_t q, const std::vector<Buf>& bufs) {
    Queue& qu = queues_[q];
    uint64_t table = ram_.alloc(16 * bufs.size(), 16);
    for (size_t i = 0; i < bufs.size(); ++i) {
      bool last = i + 1 == bufs.size();
      uint16_t flags = (bufs[i].writable ? virtio::ring::kDescWrite : 0) | (last ? 0 : virtio::ring::kDescNext);
      put_desc(qu, table, static_cast<uint16_t>(i), bufs[i].address, bufs[i].length, flags,
               static_cast<uint16_t>(i + 1));
    }
    uint16_t head = qu.next_desc;
    put_desc(qu, qu.desc, head, table, static_cast<uint32_t>(16 * bufs.size()), virtio::ring::kDescIndirect, 0);
    qu.next_desc = static_cast<uint16_t>((head + 1) % qu.size);
    return head;
  }
  void publish(uint16_t q, uint16_t head) {
    Queue& qu = queues_[q];
    ram_.set<uint16_t>(qu.avail + 4 + 2 * (qu.avail_idx % qu.size), head);
    ++qu.avail_idx;
    std::atomic_thread_fence(std::memory_order_release);
    ram_.set<uint16_t>(qu.avail + 2, qu.avail_idx);
  }
  uint16_t submit(uint16_t q, const std::vector<Buf>& bufs) {
    uint16_t head = make_chain(q, bufs);
    publish(q, head);
    return head;
  }
  uint16_t used_idx(uint16_t q) { return ram_.get<uint16_t>(queues_[q].used + 2); }
  std::pair<uint32_t, uint32_t> used_elem(uint16_t q, uint16_t i) {
    Queue& qu = queues_[q];
    uint64_t e = qu.used + 4 + 8u * (i % qu.size);
    return {ram_.get<uint32_t>(e), ram_.get<uint32_t>(e + 4)};
  }
  void set_used_event(uint16_t q, uint16_t v) {
    Queue& qu = queues_[q];
    ram_.set<uint16_t>(qu.avail + 4 + 2 * qu.size, v);
  }
  uint16_t avail_event(uint16_t q) {
    Queue& qu = queues_[q];
    return ram_.get<uint16_t>(qu.used + 4 + 8 * qu.size);
  }
  void set_avail_flags(uint16_t q, uint16_t f) { ram_.set<uint16_t>(queues_[q].avail, f); }
  Queue& queue(uint16_t q) { return queues_[q]; }

 private:
  virtio::VirtioPciDevice& dev_;
  TestRam& ram_;
  Queue queues_[8];
};

// A temp directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/vblk.XXXXXX";
    if (::mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace devices::testing
