#pragma once
// The guest side of a virtio-pci device for the fuzzer: BAR 0 register accesses (as a guest
// kernel makes them) and a fixed ring layout in FuzzRam. Nothing here validates anything: the
// point is to hand the device whatever the input says.
#include <cstdint>
#include <cstring>
#include <span>

#include "devices/pci/pci_config_space.h"
#include "devices/virtio/virtio_pci_device.h"
#include "devices/virtio/virtio_spec.h"
#include "tests/fuzz/fuzz_ram.h"

namespace kvmm::fuzz {

class VirtioGuest {
 public:
  static constexpr uint16_t kMaxQueues = 2;
  // Queue q: descriptors, available and used ring in one 8 KiB block from 0x1000.
  static constexpr uint64_t queue_base(uint16_t q) { return 0x1000 + 0x2000 * uint64_t{q}; }
  static constexpr uint64_t desc_table(uint16_t q) { return queue_base(q); }
  static constexpr uint64_t avail_ring(uint16_t q) { return queue_base(q) + 0x1000; }
  static constexpr uint64_t used_ring(uint16_t q) { return queue_base(q) + 0x1800; }
  // Eight indirect tables of 16 descriptors.
  static constexpr uint64_t indirect_table(unsigned t) { return 0x8000 + 0x100 * uint64_t{t % 8}; }

  VirtioGuest(devices::virtio::VirtioPciDevice& dev, FuzzRam& ram) : dev_(dev), ram_(ram) {}

  void bar_write(uint64_t offset, uint64_t value, size_t size) {
    uint8_t b[8];
    std::memcpy(b, &value, sizeof b);
    dev_.bar_write(0, offset, std::span<const uint8_t>(b, size));
  }
  uint64_t bar_read(uint64_t offset, size_t size) {
    uint8_t b[8] = {};
    dev_.bar_read(0, offset, std::span<uint8_t>(b, size));
    uint64_t v = 0;
    std::memcpy(&v, b, sizeof v);
    return v;
  }
  void config_write(uint32_t offset, uint32_t value, size_t size) {
    uint8_t b[4];
    std::memcpy(b, &value, sizeof b);
    dev_.config_write(offset, std::span<const uint8_t>(b, size));
  }

  // Memory decoding + bus mastering, feature negotiation, optional MSI-X, queues, DRIVER_OK.
  void bring_up(uint64_t features, uint16_t queues, uint16_t queue_size, bool msix) {
    using namespace devices::virtio::device_status;
    namespace pci = devices::pci;
    config_write(pci::reg::kBar0, 0xC000'0000u, 4);
    config_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
    bar_write(0x14, 0, 1);  // reset
    bar_write(0x14, kAcknowledge | kDriver, 1);
    bar_write(0x08, 0, 4);
    bar_write(0x0C, features & 0xFFFF'FFFF, 4);
    bar_write(0x08, 1, 4);
    bar_write(0x0C, features >> 32, 4);
    bar_write(0x14, kAcknowledge | kDriver | kFeaturesOk, 1);
    if (msix) {
      for (uint16_t v = 0; v <= queues; ++v) {
        uint64_t e = devices::virtio::VirtioPciDevice::kMsixTableOffset + 16 * uint64_t{v};
        bar_write(e, 0xFEE0'0000, 4);
        bar_write(e + 8, 0x100 + v, 4);
        bar_write(e + 12, 0, 4);
      }
      config_write(msix_capability() + 2, 0x8000, 2);
      bar_write(0x10, 0, 2);
    }
    for (uint16_t q = 0; q < queues; ++q) {
      std::memset(ram_.host(queue_base(q), 0x2000), 0, 0x2000);
      next_desc_[q] = 0;
      avail_idx_[q] = 0;
      bar_write(0x16, q, 2);
      bar_write(0x18, queue_size, 2);
      bar_write(0x1A, msix ? q + 1 : devices::virtio::kNoVector, 2);
      bar_write(0x20, desc_table(q), 8);
      bar_write(0x28, avail_ring(q), 8);
      bar_write(0x30, used_ring(q), 8);
      bar_write(0x1C, 1, 2);
    }
    bar_write(0x14, kAcknowledge | kDriver | kFeaturesOk | kDriverOk, 1);
  }

  void put_desc(uint64_t table, uint16_t index, uint64_t address, uint32_t length, uint16_t flags,
                uint16_t next) {
    uint64_t d = table + 16 * uint64_t{index};
    ram_.put<uint64_t>(d, address);
    ram_.put<uint32_t>(d + 8, length);
    ram_.put<uint16_t>(d + 12, flags);
    ram_.put<uint16_t>(d + 14, next);
  }
  // Next free ring slot of queue q (wraps; the driver may overwrite chains in flight).
  uint16_t take_desc(uint16_t q, uint16_t size) { return static_cast<uint16_t>(next_desc_[q]++ % size); }

  void publish(uint16_t q, uint16_t size, uint16_t head) {
    ram_.put<uint16_t>(avail_ring(q) + 4 + 2 * uint64_t(avail_idx_[q] % size), head);
    ++avail_idx_[q];
    ram_.put<uint16_t>(avail_ring(q) + 2, avail_idx_[q]);
  }
  void set_avail_idx(uint16_t q, uint16_t idx) {
    avail_idx_[q] = idx;
    ram_.put<uint16_t>(avail_ring(q) + 2, idx);
  }

 private:
  uint8_t msix_capability() {
    uint8_t b[1];
    dev_.config_read(devices::pci::reg::kCapabilityPointer, b);
    uint8_t at = b[0];
    for (int hops = 0; at != 0 && hops < 16; ++hops) {
      uint8_t id[2];
      dev_.config_read(at, std::span<uint8_t>(id, 2));
      if (id[0] == devices::pci::cap_id::kMsix) return at;
      at = id[1];
    }
    return 0;
  }

  devices::virtio::VirtioPciDevice& dev_;
  FuzzRam& ram_;
  uint16_t next_desc_[kMaxQueues] = {};
  uint16_t avail_idx_[kMaxQueues] = {};
};

}  // namespace kvmm::fuzz
