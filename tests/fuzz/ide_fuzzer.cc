// libFuzzer target: the PIIX IDE controller. The input writes the command block registers
// (LBA28/LBA48 with HOB bytes, CHS, device select), issues any command, moves PIO data through
// the data port with 1/2/4-byte accesses, builds bus-master PRD tables in fake guest RAM
// (well-formed or raw: odd counts, no EOT, outside RAM, overlapping), starts and stops the bus
// master, toggles bus mastering in PCI config space, and resets channels (SRST, EXECUTE DEVICE
// DIAGNOSTIC). Posted work and backend completions run when the input says so; the end drains.
//
// Input: u8 disks (bit 0-1: primary master 0 null, 1 temp file, 2 read-only null, 3 none;
// bit 2: primary slave; bit 3: secondary master; bit 5: a u32 follows whose bit i fails the
// i-th request of each null disk with EIO, see CheckingDriver), then ops until the input ends.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "block/backend.h"
#include "devices/ide/ide.h"
#include "devices/pci/pci_config_space.h"
#include "tests/fuzz/byte_reader.h"
#include "tests/fuzz/fuzz_disks.h"
#include "tests/fuzz/fuzz_ram.h"
#include "tests/fuzz/io_hook.h"

namespace kvmm::fuzz {
namespace {

using namespace devices::ide;
namespace ata = devices::ata;
namespace pci = devices::pci;

constexpr uint64_t kDiskBytes = 1 << 20;
constexpr uint64_t kPrdTables = 0x2000;  // one 4 KiB PRD table area per channel
constexpr uint64_t kDataBase = 0x10000;
constexpr int kMaxOps = 128;

enum Op : uint8_t {
  kCommand,        // taskfile from fields, then the command register
  kRegWrite,       // any command block register, any value
  kDataRead,       // PIO data-in accesses
  kDataWrite,      // PIO data-out accesses
  kControl,        // device control (nIEN, SRST, HOB)
  kPrdTable,       // a PRD table from fields, and the table pointer
  kBmWrite,        // any bus-master register byte
  kBmStart,        // start (or stop) the bus master with a direction
  kRun,            // posted work
  kPump,           // backend completions, then posted work
  kConfig,         // PCI command register
  kStatusRead,     // status / alternate status / other register reads
  kPoke,           // raw RAM bytes
  kOpCount,
};

constexpr uint8_t kCommands[] = {
    ata::op::kReadDma,          ata::op::kWriteDma,       ata::op::kReadDmaExt,
    ata::op::kWriteDmaExt,      ata::op::kReadSectors,    ata::op::kWriteSectors,
    ata::op::kReadSectorsExt,   ata::op::kWriteSectorsExt, ata::op::kIdentifyDevice,
    ata::op::kFlushCache,       ata::op::kFlushCacheExt,  ata::op::kSetFeatures,
    ata::op::kReadVerifySectors, ata::op::kCheckPowerMode, ata::op::kExecuteDeviceDiagnostic,
    ata::op::kWriteDmaFuaExt,   ata::op::kReadFpdmaQueued, ata::op::kReadMultiple,
    ata::op::kIdleImmediate,    ata::op::kReadLogExt,
};

class Harness {
 public:
  Harness(FuzzRam& ram, std::array<IdeDisk, 4> disks, bool slow)
      : ram_(ram), disks_(disks), slow_(slow), dev_(ram.memory, disks) {
    dev_.set_io_thread_hook(&work_);
    config(pci::reg::kCommand, pci::cmd::kIoSpace | pci::cmd::kBusMaster);
  }
  ~Harness() { drain(); }

  void run(ByteReader& in) {
    for (int i = 0; i < kMaxOps && !in.empty(); ++i) step(in);
    check_liveness();
  }

  // After a full drain, with bus mastering on and the bus master started: a selected device
  // outside software reset is not left BSY with nothing in the backend and nothing posted
  // (a command nobody will ever finish).
  void check_liveness() {
    drain();
    uint8_t cmd[2];
    dev_.config_read(pci::reg::kCommand, cmd);
    if (!(cmd[0] & pci::cmd::kBusMaster) || busy()) return;
    for (int ch = 0; ch < 2; ++ch) {
      uint8_t bm_cmd = 0;
      dev_.bar_read(IdeController::kBmideBar, bm::kChannelStride * ch + bm::kCommand, std::span<uint8_t>(&bm_cmd, 1));
      if ((control_[ch] & ctl::kSrst) || !(bm_cmd & bm::kCmdStart)) continue;
      if (dev_.alt_status(ch) & ata::st::kBsy) {
        std::fprintf(stderr, "channel %d: device BSY after draining with nothing in flight\n", ch);
        std::abort();
      }
    }
  }

 private:
  void config(uint32_t offset, uint16_t value) {
    uint8_t b[2] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)};
    dev_.config_write(offset, b);
  }
  void reg_write(int ch, uint32_t offset, uint32_t value, size_t size = 1) {
    uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                    static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    dev_.command_block(ch).write(offset, std::span<const uint8_t>(b, size));
  }
  uint32_t reg_read(int ch, uint32_t offset, size_t size = 1) {
    uint8_t b[4] = {};
    dev_.command_block(ch).read(offset, std::span<uint8_t>(b, size));
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
  }
  void bm_write(int ch, uint32_t reg, uint32_t value, size_t size) {
    uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                    static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    dev_.bar_write(IdeController::kBmideBar, bm::kChannelStride * ch + reg, std::span<const uint8_t>(b, size));
  }

  uint64_t alloc(uint64_t size) {
    uint64_t span = FuzzRam::kLowSize - kDataBase;
    size = std::min(size, span);
    if (data_next_ + size > span) data_next_ = 0;
    uint64_t at = kDataBase + data_next_;
    data_next_ = (data_next_ + size + 511) & ~uint64_t{511};
    return at;
  }

  void command(ByteReader& in) {
    int ch = in.u8() & 1;
    uint8_t sel = in.u8();
    uint8_t cmd = sel < 240 ? kCommands[sel % sizeof kCommands] : in.u8();
    uint8_t shape = in.u8();
    uint8_t device = static_cast<uint8_t>((shape & 0x01) ? in.u8() : 0x40 | ((shape & 0x02) ? 0x10 : 0));
    uint64_t lba;
    switch (in.u8() % 3) {
      case 0:
        lba = in.u16() % (kDiskBytes / 512);
        break;
      case 1:
        lba = kDiskBytes / 512 - 1 - in.u8() % 4;
        break;
      default:
        lba = in.u64();
        break;
    }
    uint16_t count = (shape & 0x04) ? in.u16() : static_cast<uint16_t>(1 + in.u8() % 8);
    uint16_t features = (shape & 0x08) ? in.u16() : 0;
    reg_write(ch, reg::kDevice, device);
    // LBA48 order: previous (HOB) bytes first, then the current ones.
    reg_write(ch, reg::kError, features >> 8);
    reg_write(ch, reg::kCount, count >> 8);
    reg_write(ch, reg::kLbaLow, static_cast<uint8_t>(lba >> 24));
    reg_write(ch, reg::kLbaMid, static_cast<uint8_t>(lba >> 32));
    reg_write(ch, reg::kLbaHigh, static_cast<uint8_t>(lba >> 40));
    reg_write(ch, reg::kError, features & 0xFF);
    reg_write(ch, reg::kCount, count & 0xFF);
    reg_write(ch, reg::kLbaLow, static_cast<uint8_t>(lba));
    reg_write(ch, reg::kLbaMid, static_cast<uint8_t>(lba >> 8));
    reg_write(ch, reg::kLbaHigh, static_cast<uint8_t>(lba >> 16));
    if (shape & 0x10) prd_table(ch, in, count);
    reg_write(ch, reg::kStatus, cmd);
    if (shape & 0x20) bm_write(ch, bm::kCommand, bm::kCmdStart | ((shape & 0x40) ? bm::kCmdToMemory : 0), 1);
    if (shape & 0x80) work_.run();
  }

  // A PRD table for `sectors` sectors (well-formed unless the input says otherwise).
  void prd_table(int ch, ByteReader& in, uint32_t sectors) {
    uint8_t shape = in.u8();
    unsigned entries = 1 + in.u8() % 8;
    uint64_t t = kPrdTables + 0x1000 * uint64_t(ch);
    uint64_t bytes = uint64_t{sectors == 0 ? 1u : sectors} * 512;
    for (unsigned i = 0; i < entries; ++i) {
      bool last = i + 1 == entries;
      uint32_t count = (shape & 0x01) ? in.u16() : static_cast<uint32_t>(std::max<uint64_t>(bytes / entries, 2) & 0xFFFE);
      uint64_t address = (shape & 0x02) ? ram_.pick_address(in) : alloc(count == 0 ? 0x10000 : count);
      uint32_t flags = (shape & 0x04) ? (in.u8() & 1 ? bm::kPrdEot : 0) : (last ? bm::kPrdEot : 0);
      ram_.put<uint32_t>(t + 8 * i, static_cast<uint32_t>(address));
      ram_.put<uint32_t>(t + 8 * i + 4, (count & 0xFFFF) | flags);
    }
    uint32_t pointer = (shape & 0x08) ? in.u32() : static_cast<uint32_t>(t);
    bm_write(ch, bm::kPrdTable, pointer, 4);
  }

  void pump(int wait_ms) {
    for (const IdeDisk& d : disks_) {
      if (d.backend == nullptr) continue;
      if (slow_ && d.backend->in_flight() > 0) wait_readable(d.backend->completion_fd(), wait_ms);
      d.backend->process_completions();
    }
    work_.run();
  }

  bool busy() { return work_.pending() || dev_.busy(0) || dev_.busy(1); }

  void drain() {
    for (int i = 0; i < 200 && busy(); ++i) pump(slow_ ? 50 : 0);
  }

  void step(ByteReader& in) {
    switch (in.u8() % kOpCount) {
      case kCommand:
        command(in);
        break;
      case kRegWrite: {
        int ch = in.u8() & 1;
        uint32_t offset = in.u8() % 8;
        reg_write(ch, offset, in.u32(), offset == reg::kData ? 1 + in.u8() % 4 : 1);
        break;
      }
      case kDataRead: {
        int ch = in.u8() & 1;
        size_t size = size_t{1} << (in.u8() % 3);
        unsigned n = in.u16() % 1200;
        for (unsigned i = 0; i < n; ++i) (void)reg_read(ch, reg::kData, size);
        break;
      }
      case kDataWrite: {
        int ch = in.u8() & 1;
        size_t size = size_t{1} << (in.u8() % 3);
        unsigned n = in.u16() % 1200;
        uint32_t value = in.u32();
        for (unsigned i = 0; i < n; ++i) reg_write(ch, reg::kData, value + i, size);
        break;
      }
      case kControl: {
        int ch = in.u8() & 1;
        uint8_t value = in.u8();
        control_[ch] = value;
        dev_.control_block(ch).write(0, std::span<const uint8_t>(&value, 1));
        break;
      }
      case kPrdTable: {
        int ch = in.u8() & 1;
        prd_table(ch, in, in.u16());
        break;
      }
      case kBmWrite: {
        uint32_t offset = in.u8() % IdeController::kBmideSize;
        size_t size = 1 + in.u8() % 4;
        dev_.bar_write(IdeController::kBmideBar, offset, std::span<const uint8_t>(
                           std::array<uint8_t, 4>{in.u8(), in.u8(), in.u8(), in.u8()}.data(), size));
        break;
      }
      case kBmStart: {
        int ch = in.u8() & 1;
        bm_write(ch, bm::kCommand, in.u8() & (bm::kCmdStart | bm::kCmdToMemory), 1);
        break;
      }
      case kRun:
        work_.run(1 + in.u8() % 4);
        break;
      case kPump:
        pump(in.u8() % 4);
        break;
      case kConfig:
        config(pci::reg::kCommand, pci::cmd::kIoSpace | ((in.u8() & 1) ? pci::cmd::kBusMaster : 0));
        break;
      case kStatusRead: {
        int ch = in.u8() & 1;
        uint32_t offset = in.u8() % 8;
        if (offset == 0) {
          (void)dev_.alt_status(ch);
        } else {
          (void)reg_read(ch, offset);
        }
        break;
      }
      case kPoke: {
        uint64_t at = ram_.pick_address(in);
        uint8_t bytes[16];
        size_t n = in.bytes(std::span(bytes, in.u8() % 17));
        ram_.write(at, bytes, n);
        break;
      }
      default:
        break;
    }
  }

  FuzzRam& ram_;
  std::array<IdeDisk, 4> disks_;
  bool slow_;
  PostedWork work_;  // before dev_: it must outlive the controller's teardown
  IdeController dev_;
  uint64_t data_next_ = 0;
  uint8_t control_[2] = {};  // last device control value written per channel
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
  static Environment env;
  env.ram.clear();
  ByteReader in(data, size);
  uint8_t setup = in.u8();
  uint64_t fail_mask = (setup & 0x20) ? in.u32() : 0;
  std::unique_ptr<block::Backend> master, slave, secondary;
  std::array<devices::ide::IdeDisk, 4> disks{};
  block::BackendPolicy policy;
  switch (setup & 3) {
    case 0:
    case 2:
      policy.read_only = (setup & 3) == 2;
      master = null_backend(env.ram.memory, kDiskBytes, policy, fail_mask);
      disks[0].backend = master.get();
      break;
    case 1:
      env.file->set_write_cache_enabled(true);
      disks[0].backend = env.file.get();
      break;
    default:
      break;  // no master: a lone slave, or an empty channel
  }
  if (setup & 4) {
    slave = null_backend(env.ram.memory, kDiskBytes / 2, {}, fail_mask);
    disks[1].backend = slave.get();
  }
  if (setup & 8) {
    secondary = null_backend(env.ram.memory, kDiskBytes / 4, {}, fail_mask);
    disks[2].backend = secondary.get();
  }
  Harness harness(env.ram, disks, (setup & 3) == 1);
  harness.run(in);
  return 0;
}
