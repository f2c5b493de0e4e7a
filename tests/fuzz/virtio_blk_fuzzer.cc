// libFuzzer target: virtio-blk (plain and zoned) over the virtio-pci transport, with split
// virtqueues in fake guest RAM. The input is a small program: a header choosing the disk and
// the negotiated features, then operations that build requests (well-formed or not), write raw
// descriptors and indirect tables, move the available index, poke RAM and registers, toggle
// bus mastering, reset the device, kick queues and pump backend completions.
//
// Input: u8 disk (bits 0-1: 0 null, 1 temp file, 2 zoned, 3 read-only; bit 2: a u32 follows
// whose bit i fails the i-th backend request with EIO, see CheckingDriver), u8 features, u8
// queue size (log2), u8 misc; then ops until the input ends (see the Op enum; make_seeds.py).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "block/backend.h"
#include "block/zoned/zoned_backend.h"
#include "devices/virtio/notify_hooks.h"
#include "devices/virtio/virtio_blk.h"
#include "tests/fuzz/byte_reader.h"
#include "tests/fuzz/fuzz_disks.h"
#include "tests/fuzz/fuzz_ram.h"
#include "tests/fuzz/virtio_guest.h"

namespace kvmm::fuzz {
namespace {

using namespace devices::virtio;
using namespace devices::virtio::blk;

constexpr uint64_t kDiskBytes = 1 << 20;  // zoned: 16 zones of 64 KiB
constexpr uint16_t kMaxQueueSize = 16;
constexpr uint64_t kDataBase = 0x10000;   // request buffers: [kDataBase, FuzzRam::kLowSize)
constexpr int kMaxOps = 96;

enum Op : uint8_t {
  kRequest,        // a request built from parameters (the usual path)
  kRawDesc,        // one descriptor, any values
  kIndirectEntry,  // one entry of an indirect table, any values
  kPublish,        // put any head index into the available ring
  kAvailIdx,       // set the available index to anything
  kKick,           // process_queue(q) for any q
  kPump,           // deliver backend completions
  kPoke,           // raw bytes anywhere in RAM (rings included)
  kBarWrite,       // any BAR 0 register write
  kConfigWrite,    // PCI configuration write (bus mastering, MSI-X, BAR)
  kBringUp,        // reset + full bring-up again
  kEventIdx,       // used_event / avail flags
  kOpCount,
};

constexpr uint32_t kTypes[] = {kTypeIn,         kTypeOut,          kTypeFlush,      kTypeGetId,
                               kTypeGetLifetime, kTypeDiscard,     kTypeWriteZeroes, kTypeSecureErase,
                               kTypeZoneAppend, kTypeZoneReport,   kTypeZoneOpen,   kTypeZoneClose,
                               kTypeZoneFinish, kTypeZoneReset,    kTypeZoneResetAll};

class Kicks final : public NotifyHooks {
 public:
  void kick(uint16_t queue) override { pending.push_back(queue); }
  std::vector<uint16_t> pending;
};

// The backend the input chose (borrowed), behind the BlkDisk surface VirtioBlk uses.
struct Disk {
  block::Backend* plain = nullptr;
  block::zoned::ZonedBackend* zoned = nullptr;
  std::unique_ptr<BlkDisk> blk() const { return zoned ? make_blk_disk(*zoned) : make_blk_disk(*plain); }
  int completion_fd() const { return zoned ? zoned->completion_fd() : plain->completion_fd(); }
  size_t process_completions() const { return zoned ? zoned->process_completions() : plain->process_completions(); }
};

class Harness {
 public:
  Harness(FuzzRam& ram, const Disk& disk, bool slow_disk, const VirtioBlkOptions& options)
      : ram_(ram), disk_(disk), slow_(slow_disk), dev_(ram.memory, disk.blk(), options), guest_(dev_, ram) {
    dev_.set_notify_hooks(&kicks_);
  }
  ~Harness() { drain(); }

  // After the last op and a full drain: a live device with bus mastering on has answered
  // every chain the driver made available (each popped chain gets exactly one used entry;
  // anything else the device must flag with NEEDS_RESET), with heads inside the ring.
  void check_liveness() {
    for (uint16_t q = 0; q < queues_; ++q) kick(q);  // the driver's final notification
    drain();
    using namespace device_status;
    uint8_t status = dev_.status();
    bool live = (status & kDriverOk) && (status & kFeaturesOk) && !(status & (kNeedsReset | kFailed));
    uint8_t cmd[2];
    dev_.config_read(devices::pci::reg::kCommand, cmd);
    if (!live || !(cmd[0] & devices::pci::cmd::kBusMaster) || rings_poked_ || dev_.in_flight() > 0) return;
    for (uint16_t q = 0; q < queues_; ++q) {
      guest_.bar_write(0x16, q, 2);
      if (guest_.bar_read(0x1C, 2) != 1 || guest_.bar_read(0x18, 2) != queue_size_ ||
          guest_.bar_read(0x20, 8) != VirtioGuest::desc_table(q) ||
          guest_.bar_read(0x28, 8) != VirtioGuest::avail_ring(q) ||
          guest_.bar_read(0x30, 8) != VirtioGuest::used_ring(q)) {
        continue;  // the input reprogrammed the queue
      }
      uint16_t avail = ram_.get<uint16_t>(VirtioGuest::avail_ring(q) + 2);
      uint16_t used = ram_.get<uint16_t>(VirtioGuest::used_ring(q) + 2);
      if (avail != used) {
        std::fprintf(stderr, "queue %u: available index %u but used index %u after draining\n", q, avail, used);
        std::abort();
      }
      for (uint16_t i = 0; i < std::min<uint16_t>(used, queue_size_); ++i) {
        uint32_t id = ram_.get<uint32_t>(VirtioGuest::used_ring(q) + 4 + 8 * uint64_t{i});
        if (id >= queue_size_) {
          std::fprintf(stderr, "queue %u: used element %u names head %u\n", q, i, id);
          std::abort();
        }
      }
    }
  }

  void run(ByteReader& in) {
    uint8_t features_sel = in.u8();
    queue_size_ = static_cast<uint16_t>(1u << (in.u8() % 5));
    uint8_t misc = in.u8();
    queues_ = (features_sel & 0x80) ? 2 : 1;
    features_ = negotiated(features_sel);
    msix_ = misc & 1;
    guest_.bring_up(features_, queues_, queue_size_, msix_);
    for (int i = 0; i < kMaxOps && !in.empty(); ++i) step(in);
    check_liveness();
  }

 private:
  uint64_t negotiated(uint8_t sel) const {
    uint64_t want = bit(feature::kVersion1) | bit(kSizeMax) | bit(kSegMax) | bit(kBlkSize) | bit(kTopology) |
                    bit(kMq) | bit(kRo);
    if (sel & 0x01) want |= bit(feature::kIndirectDesc);
    if (sel & 0x02) want |= bit(feature::kEventIdx);
    if (sel & 0x04) want |= bit(kFlush);
    if (sel & 0x08) want |= bit(kDiscard);
    if (sel & 0x10) want |= bit(kWriteZeroes);
    if (sel & 0x20) want |= bit(kConfigWce);
    if (!(sel & 0x40)) want |= bit(kZoned);  // usually on: a zoned drive refuses FEATURES_OK without it
    uint64_t offered = dev_.device_features() | bit(feature::kIndirectDesc) | bit(feature::kEventIdx) |
                       bit(feature::kVersion1);
    return want & offered;
  }

  uint16_t pick_queue(ByteReader& in) { return static_cast<uint16_t>(in.u8() % queues_); }

  // A data buffer in the request area (wrapping; overlaps are part of the game).
  uint64_t alloc(uint32_t size) {
    uint64_t span = FuzzRam::kLowSize - kDataBase;
    if (size > span) size = static_cast<uint32_t>(span);
    if (data_next_ + size > span) data_next_ = 0;
    uint64_t at = kDataBase + data_next_;
    data_next_ = (data_next_ + size + 15) & ~uint64_t{15};
    return at;
  }

  uint64_t pick_sector(ByteReader& in) {
    uint8_t mode = in.u8();
    switch (mode % 4) {
      case 0:
        return in.u16() % (kDiskBytes / 512);
      case 1:
        return uint64_t{in.u8()} % 16 * 128;  // a zone start (64 KiB zones)
      case 2:
        return kDiskBytes / 512 - (in.u8() % 8);  // at / just below the end
      default:
        return in.u64();
    }
  }

  void build_request(ByteReader& in) {
    uint16_t q = pick_queue(in);
    uint8_t type_sel = in.u8();
    uint32_t type = type_sel < 240 ? kTypes[type_sel % 15] : in.u32();  // mostly known types
    uint64_t sector = pick_sector(in);
    uint8_t shape = in.u8();
    unsigned data_segs = in.u8() % 6;
    uint8_t writable_mask = in.u8();
    // Segments: header (16 bytes, maybe split), data, status (1 byte or merged into data).
    struct Seg {
      uint64_t address;
      uint32_t length;
      bool writable;
    };
    std::vector<Seg> segs;
    uint64_t header = alloc(16);
    ram_.put<uint32_t>(header, type);
    ram_.put<uint32_t>(header + 4, 0);
    ram_.put<uint64_t>(header + 8, sector);
    if (shape & 0x01) {
      segs.push_back({header, 7, false});
      segs.push_back({header + 7, 9, false});
    } else {
      segs.push_back({header, (shape & 0x40) ? in.u8() % 32u : 16u, false});
    }
    bool device_writes = type == kTypeIn || type == kTypeGetId || type == kTypeZoneReport ||
                         type == kTypeZoneAppend;
    for (unsigned i = 0; i < data_segs; ++i) {
      uint16_t raw_len = in.u16();
      uint32_t len = (shape & 0x02) ? raw_len : 512u * (1 + raw_len % 8);
      uint64_t at = alloc(len);
      // Payload for driver-readable data (discard/write-zeroes ranges, write data).
      uint8_t payload[32];
      size_t got = in.bytes(std::span(payload, (shape & 0x04) ? 16 : 0));
      ram_.write(at, payload, std::min<size_t>(got, len));
      bool writable = (shape & 0x08) ? ((writable_mask >> i) & 1) : device_writes;
      if (shape & 0x20) at = ram_.pick_address(in);  // hostile placement
      // A buffer the device may write that lies on the rings lets the data (CheckingDriver
      // fills reads with 0xA5) overwrite them: the guest's own doing, so no liveness verdict.
      if (writable && overlaps_rings(at, len)) rings_poked_ = true;
      segs.push_back({at, len, writable});
    }
    if (!(shape & 0x10) || segs.size() == 1) {
      segs.push_back({alloc(type == kTypeZoneAppend ? 16 : 1), type == kTypeZoneAppend ? 16u : 1u, true});
    }
    ram_.put<uint8_t>(segs.back().address + segs.back().length - 1, 0xEE);  // poison the status

    uint16_t head;
    if ((shape & 0x80) && segs.size() <= 16) {
      // One indirect descriptor pointing at a table in RAM.
      uint64_t table = VirtioGuest::indirect_table(in.u8());
      for (size_t i = 0; i < segs.size(); ++i) {
        bool last = i + 1 == segs.size();
        guest_.put_desc(table, static_cast<uint16_t>(i), segs[i].address, segs[i].length,
                        static_cast<uint16_t>((segs[i].writable ? ring::kDescWrite : 0) | (last ? 0 : ring::kDescNext)),
                        static_cast<uint16_t>(i + 1));
      }
      head = guest_.take_desc(q, queue_size_);
      guest_.put_desc(VirtioGuest::desc_table(q), head, table, static_cast<uint32_t>(16 * segs.size()),
                      ring::kDescIndirect, 0);
    } else {
      head = guest_.take_desc(q, queue_size_);
      uint16_t index = head;
      for (size_t i = 0; i < segs.size(); ++i) {
        bool last = i + 1 == segs.size();
        uint16_t next = last ? 0 : guest_.take_desc(q, queue_size_);
        guest_.put_desc(VirtioGuest::desc_table(q), index, segs[i].address, segs[i].length,
                        static_cast<uint16_t>((segs[i].writable ? ring::kDescWrite : 0) | (last ? 0 : ring::kDescNext)),
                        next);
        index = next;
      }
    }
    guest_.publish(q, queue_size_, head);
    if (in.flag()) kick(q);
  }

  void kick(uint16_t q) {
    dev_.process_queue(q);
    run_kicks();
  }

  // Plays the I/O thread's queue-eventfd callbacks (bounded: a device kicks itself when it
  // stops for fairness).
  void run_kicks() {
    for (int round = 0; round < 8 && !kicks_.pending.empty(); ++round) {
      std::vector<uint16_t> now;
      now.swap(kicks_.pending);
      for (uint16_t q : now) dev_.process_queue(q);
    }
    kicks_.pending.clear();
  }

  // Completions through the device (the I/O thread's path) or, now and then, straight from
  // the backend (what a test harness does): both must leave no buffer unseen.
  void pump(int wait_ms, bool through_device = true) {
    if (dev_.in_flight() > 0 && slow_) wait_readable(disk_.completion_fd(), wait_ms);
    if (through_device) {
      dev_.process_completions();
    } else {
      disk_.process_completions();
    }
    run_kicks();
  }

  void drain() {
    for (int i = 0; i < 200 && dev_.in_flight() > 0; ++i) pump(slow_ ? 50 : 0);
  }

  void step(ByteReader& in) {
    switch (in.u8() % kOpCount) {
      case kRequest:
        build_request(in);
        break;
      case kRawDesc: {
        uint16_t q = pick_queue(in);
        uint16_t index = in.u16() % queue_size_;
        uint64_t address = ram_.pick_address(in);
        uint32_t length = in.u32();
        if (overlaps_rings(address, length)) rings_poked_ = true;  // (see build_request)
        guest_.put_desc(VirtioGuest::desc_table(q), index, address, length, in.u16(), in.u16());
        break;
      }
      case kIndirectEntry: {
        uint64_t table = VirtioGuest::indirect_table(in.u8());
        uint16_t index = in.u8() % 16;
        uint64_t address = ram_.pick_address(in);
        guest_.put_desc(table, index, address, in.u32(), in.u16(), in.u16());
        break;
      }
      case kPublish: {
        uint16_t q = pick_queue(in);
        guest_.publish(q, queue_size_, in.u16());
        break;
      }
      case kAvailIdx: {
        uint16_t q = pick_queue(in);
        guest_.set_avail_idx(q, in.u16());
        break;
      }
      case kKick: {
        uint8_t q = in.u8();
        kick(q < 200 ? static_cast<uint16_t>(q % queues_) : q);
        break;
      }
      case kPump: {
        uint8_t v = in.u8();
        pump(v % 4, (v & 0x80) == 0);
        break;
      }
      case kPoke: {
        uint64_t at = ram_.pick_address(in);
        uint8_t bytes[16];
        size_t n = in.bytes(std::span(bytes, in.u8() % 17));
        ram_.write(at, bytes, n);
        // The rings belong to the driver, but a poke can also rewrite the used ring.
        if (at < VirtioGuest::queue_base(VirtioGuest::kMaxQueues) && at + n > VirtioGuest::queue_base(0)) {
          rings_poked_ = true;
        }
        break;
      }
      case kBarWrite: {
        uint64_t offset = in.u16() % VirtioPciDevice::kBarSize;
        static constexpr size_t kSizes[] = {1, 2, 4, 8};
        size_t size = kSizes[in.u8() % 4];
        guest_.bar_write(offset, in.u64(), size);
        run_kicks();
        break;
      }
      case kConfigWrite: {
        uint32_t offset = in.u8() & ~3u;
        guest_.config_write(offset, in.u32(), 4);
        run_kicks();
        break;
      }
      case kBringUp:
        guest_.bring_up(features_, queues_, queue_size_, msix_);  // fresh rings
        rings_poked_ = false;
        run_kicks();
        break;
      case kEventIdx: {
        uint16_t q = pick_queue(in);
        uint64_t avail = VirtioGuest::avail_ring(q);
        if (in.flag()) {
          ram_.put<uint16_t>(avail + 4 + 2 * uint64_t{queue_size_}, in.u16());  // used_event
        } else {
          ram_.put<uint16_t>(avail, in.u16());  // flags
        }
        break;
      }
      default:
        break;
    }
  }

  FuzzRam& ram_;
  const Disk& disk_;
  bool slow_;
  Kicks kicks_;
  VirtioBlk dev_;
  VirtioGuest guest_;
  uint16_t queue_size_ = 1;
  uint16_t queues_ = 1;
  uint64_t features_ = 0;
  bool msix_ = false;
  uint64_t data_next_ = 0;
  bool rings_poked_ = false;
  // The descriptor tables and rings of every queue the harness sets up.
  static bool overlaps_rings(uint64_t address, uint64_t length) {
    const uint64_t begin = VirtioGuest::queue_base(0), end = VirtioGuest::queue_base(2);
    return length > 0 && address < end && address + length > begin;
  }
};

struct Environment {
  FuzzRam ram;
  TempImage image{kDiskBytes};
  std::unique_ptr<block::Backend> file = file_backend(ram.memory, image, {});
};

}  // namespace
}  // namespace kvmm::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvmm::fuzz;
  static Environment env;  // the temp image and its worker threads live across inputs
  env.ram.clear();
  ByteReader in(data, size);
  uint8_t disk_byte = in.u8();
  uint8_t disk_kind = disk_byte % 4;
  uint64_t fail_mask = (disk_byte & 4) ? in.u32() : 0;  // null and zoned disks only
  std::unique_ptr<block::Backend> plain;
  std::unique_ptr<block::zoned::ZonedBackend> zoned;
  Disk disk;
  switch (disk_kind) {
    case 0:
      plain = null_backend(env.ram.memory, kDiskBytes, {}, fail_mask);
      disk.plain = plain.get();
      break;
    case 1:
      env.file->set_write_cache_enabled(true);  // the guest may have turned it off last time
      disk.plain = env.file.get();
      break;
    case 2: {
      block::ZonedOptions z;
      z.enabled = true;
      z.zone_size = 64 << 10;
      z.zone_capacity = 48 << 10;
      z.conventional_zones = 2;
      z.conventional_zones_set = true;
      z.max_open_zones = 3;
      z.max_open_zones_set = true;
      z.max_active_zones = 4;
      z.max_active_zones_set = true;
      zoned = zoned_null_backend(env.ram.memory, kDiskBytes, z, fail_mask);
      disk.zoned = zoned.get();
      break;
    }
    default: {
      block::BackendPolicy read_only;
      read_only.read_only = true;
      plain = null_backend(env.ram.memory, kDiskBytes, read_only, fail_mask);
      disk.plain = plain.get();
      break;
    }
  }
  VirtioBlkOptions options;
  options.serial = "fuzz";
  options.queue_size = kMaxQueueSize;
  options.num_queues = VirtioGuest::kMaxQueues;
  options.seg_max = 8;
  options.max_discard_seg = 4;
  options.max_write_zeroes_seg = 4;
  Harness harness(env.ram, disk, disk_kind == 1, options);  // destroyed (drained) before the disk
  harness.run(in);
  return 0;
}
