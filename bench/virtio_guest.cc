#include "bench/virtio_guest.h"

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "devices/pci/pci_config_space.h"
#include "devices/virtio/virtio_spec.h"

namespace bench {
namespace {

namespace ring = devices::virtio::ring;
namespace status = devices::virtio::device_status;

// virtio-pci common configuration offsets (virtio 1.x, 4.1.4.3).
constexpr uint64_t kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04, kDriverFeatureSelect = 0x08,
                   kDriverFeature = 0x0C, kMsixConfig = 0x10, kDeviceStatus = 0x14, kQueueSelect = 0x16,
                   kQueueSize = 0x18, kQueueMsixVector = 0x1A, kQueueEnable = 0x1C, kQueueDesc = 0x20,
                   kQueueDriver = 0x28, kQueueDevice = 0x30;
constexpr uint32_t kMsiAddress = 0xFEE0'0000;

}  // namespace

VirtioGuest::VirtioGuest(GuestRam& ram, devices::virtio::VirtioBlk& dev, const VirtioGuestOptions& options)
    : ram_(ram), dev_(dev), options_(options) {
  uint32_t per_request = options_.indirect ? 1 : options_.segments + 2;
  if (uint32_t{options_.depth} * per_request > options_.queue_size)
    throw std::invalid_argument("bench: queue too small");
  bring_up();
  build_slots();
}

uint64_t VirtioGuest::read_bar(uint64_t offset, size_t size) {
  uint8_t b[8] = {};
  dev_.bar_read(0, offset, std::span(b, size));
  uint64_t v = 0;
  std::memcpy(&v, b, size);
  return v;
}

void VirtioGuest::write_bar(uint64_t offset, uint64_t value, size_t size) {
  uint8_t b[8];
  std::memcpy(b, &value, sizeof b);
  dev_.bar_write(0, offset, std::span<const uint8_t>(b, size));
}

uint32_t VirtioGuest::read_config(uint32_t offset, size_t size) {
  uint8_t b[4] = {};
  dev_.config_read(offset, std::span(b, size));
  uint32_t v = 0;
  std::memcpy(&v, b, size);
  return v;
}

void VirtioGuest::write_config(uint32_t offset, uint32_t value, size_t size) {
  uint8_t b[4];
  std::memcpy(b, &value, sizeof b);
  dev_.config_write(offset, std::span<const uint8_t>(b, size));
}

void VirtioGuest::bring_up() {
  using namespace devices;
  write_config(pci::reg::kBar0, 0xC000'0000, 4);
  write_config(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  write_bar(kDeviceStatus, status::kAcknowledge, 1);
  write_bar(kDeviceStatus, status::kAcknowledge | status::kDriver, 1);
  // Take everything the device offers (Linux takes nearly all of virtio-blk's bits).
  write_bar(kDeviceFeatureSelect, 0, 4);
  uint64_t features = read_bar(kDeviceFeature, 4);
  write_bar(kDeviceFeatureSelect, 1, 4);
  features |= read_bar(kDeviceFeature, 4) << 32;
  if (!(features & virtio::bit(virtio::feature::kEventIdx)) ||
      (options_.indirect && !(features & virtio::bit(virtio::feature::kIndirectDesc)))) {
    throw std::runtime_error("bench: device lacks EVENT_IDX or INDIRECT_DESC");
  }
  write_bar(kDriverFeatureSelect, 0, 4);
  write_bar(kDriverFeature, features & 0xFFFF'FFFF, 4);
  write_bar(kDriverFeatureSelect, 1, 4);
  write_bar(kDriverFeature, features >> 32, 4);
  write_bar(kDeviceStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk, 1);
  if (!(read_bar(kDeviceStatus, 1) & status::kFeaturesOk))
    throw std::runtime_error("bench: FEATURES_OK refused");

  // MSI-X: vector 0 for configuration changes, vector 1 for queue 0, both unmasked.
  for (uint32_t v = 0; v < 2; ++v) {
    uint64_t e = devices::virtio::VirtioPciDevice::kMsixTableOffset + 16 * v;
    write_bar(e, kMsiAddress, 4);
    write_bar(e + 4, 0, 4);
    write_bar(e + 8, 0x40 + v, 4);
    write_bar(e + 12, 0, 4);
  }
  uint32_t cap = read_config(pci::reg::kCapabilityPointer, 1);
  while (cap != 0 && read_config(cap, 1) != pci::cap_id::kMsix) cap = read_config(cap + 1, 1);
  if (cap == 0) throw std::runtime_error("bench: no MSI-X capability");
  write_config(cap + 2, 0x8000, 2);
  write_bar(kMsixConfig, 0, 2);

  uint16_t size = options_.queue_size;
  desc_ = ram_.alloc(16u * size, 16);
  avail_ = ram_.alloc(6 + 2u * size, 2);
  used_ = ram_.alloc(6 + 8u * size, 4);
  write_bar(kQueueSelect, 0, 2);
  write_bar(kQueueSize, size, 2);
  write_bar(kQueueMsixVector, 1, 2);
  write_bar(kQueueDesc, desc_, 8);
  write_bar(kQueueDriver, avail_, 8);
  write_bar(kQueueDevice, used_, 8);
  write_bar(kQueueEnable, 1, 2);
  write_bar(kDeviceStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk,
            1);
}

void VirtioGuest::put_desc(uint64_t table, uint32_t index, uint64_t address, uint32_t length, uint16_t flags,
                           uint16_t next) {
  uint64_t d = table + 16u * index;
  ram_.put<uint64_t>(d, address);
  ram_.put<uint32_t>(d + 8, length);
  ram_.put<uint16_t>(d + 12, flags);
  ram_.put<uint16_t>(d + 14, next);
}

void VirtioGuest::build_slots() {
  uint16_t size = options_.queue_size;
  avail_host_ = ram_.ptr(avail_, 6 + 2u * size);
  used_host_ = ram_.ptr(used_, 6 + 8u * size);
  uint32_t n = options_.segments + 2;  // header, data..., status
  slots_.resize(options_.depth);
  for (uint16_t s = 0; s < options_.depth; ++s) {
    Slot& slot = slots_[s];
    uint64_t header = ram_.alloc(16, 16);
    uint64_t status = ram_.alloc(1, 1);
    slot.header = ram_.ptr(header, 16);
    slot.status = ram_.ptr(status, 1);
    uint64_t table = options_.indirect ? ram_.alloc(16u * n, 16) : desc_;
    uint32_t first = options_.indirect ? 0 : s * n;
    slot.head = static_cast<uint16_t>(options_.indirect ? s : first);
    put_desc(table, first, header, 16, ring::kDescNext, static_cast<uint16_t>(first + 1));
    for (uint32_t i = 0; i < options_.segments; ++i) {
      uint64_t page = ram_.alloc(4096, 4096);
      ram_.alloc(4096, 4096);  // a gap: no two data pages are contiguous (as in a real guest)
      uint32_t index = first + 1 + i;
      put_desc(table, index, page, 4096, ring::kDescNext, static_cast<uint16_t>(index + 1));
      slot.data_flags.push_back(ram_.ptr(table + 16u * index + 12, 2));
    }
    put_desc(table, first + n - 1, status, 1, ring::kDescWrite, 0);
    if (options_.indirect) put_desc(desc_, s, table, 16u * n, ring::kDescIndirect, 0);
  }
}

namespace {
template <typename T>
void store(uint8_t* at, T value) {
  std::memcpy(at, &value, sizeof value);
}
template <typename T>
T load(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}
}  // namespace

void VirtioGuest::queue(uint16_t slot, bool write, uint64_t sector) {
  Slot& s = slots_[slot];
  store<uint32_t>(s.header, write ? devices::virtio::blk::kTypeOut : devices::virtio::blk::kTypeIn);
  store<uint32_t>(s.header + 4, 0);
  store<uint64_t>(s.header + 8, sector);
  *s.status = 0xFF;
  // Data descriptors are device-writable for reads only.
  uint16_t flags = ring::kDescNext | (write ? 0 : ring::kDescWrite);
  for (uint8_t* f : s.data_flags) store<uint16_t>(f, flags);
  uint16_t size = options_.queue_size;
  store<uint16_t>(avail_host_ + 4 + 2u * (avail_idx_ % size), s.head);
  ++avail_idx_;
  std::atomic_thread_fence(std::memory_order_release);
  store<uint16_t>(avail_host_ + 2, avail_idx_);
}

uint16_t VirtioGuest::reap(std::vector<uint16_t>& done) {
  uint16_t used = load<uint16_t>(used_host_ + 2);
  std::atomic_thread_fence(std::memory_order_acquire);
  auto n = static_cast<uint16_t>(used - used_seen_);
  uint16_t size = options_.queue_size;
  uint32_t per_request = options_.indirect ? 1 : options_.segments + 2;
  for (uint16_t i = 0; i < n; ++i) {
    uint32_t id = load<uint32_t>(used_host_ + 4 + 8u * static_cast<uint16_t>((used_seen_ + i) % size));
    auto slot = static_cast<uint16_t>(id / per_request);
    if (*slots_[slot].status != 0) ++errors_;
    done.push_back(slot);
  }
  used_seen_ = used;
  // used_event (after the available ring): interrupt on the next used entry.
  store<uint16_t>(avail_host_ + 4 + 2u * size, used_seen_);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return n;
}

bool VirtioGuest::kick_prepare() {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // avail idx before avail_event
  uint16_t old = avail_idx_at_kick_prepare_;
  uint16_t now = avail_idx_;
  avail_idx_at_kick_prepare_ = now;
  // avail_event: after the used ring's entries.
  uint16_t event = load<uint16_t>(used_host_ + 4 + 8u * options_.queue_size);
  return static_cast<uint16_t>(now - event - 1) < static_cast<uint16_t>(now - old);
}

}  // namespace bench
