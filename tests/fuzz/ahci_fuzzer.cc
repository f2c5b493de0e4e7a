// libFuzzer target: the AHCI controller. The input programs port 0 (and an empty or second
// port 1) through ABAR registers and builds command lists, command FISes and PRDTs in fake
// guest RAM: well-formed commands with fuzzed fields, raw command headers / PRD entries / FIS
// bytes, NCQ tags and SACT, register writes in any order (ST, FRE, COMRESET, HBA reset),
// bus mastering toggles. Posted work runs when the input says so, backend completions are
// pumped, and everything is drained before the controller goes away.
//
// Input: u8 disk (bit 0-1: 0 null, 1 temp file, 2 read-only null, 3 null; bit 2: second disk on
// port 1, bit 3: MSI; bit 4: a u32 follows whose bit i fails the i-th request of each null disk
// with EIO, see CheckingDriver), then ops until the input ends (see Op; make_seeds.py).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "block/backend.h"
#include "devices/ahci/ahci.h"
#include "devices/pci/pci_config_space.h"
#include "tests/fuzz/byte_reader.h"
#include "tests/fuzz/fuzz_disks.h"
#include "tests/fuzz/fuzz_ram.h"
#include "tests/fuzz/io_hook.h"

namespace kvmm::fuzz {
namespace {

using namespace devices::ahci;
namespace ata = devices::ata;
namespace pci = devices::pci;

constexpr uint64_t kDiskBytes = 1 << 20;
constexpr uint64_t kClb = 0x1000;            // 32 command headers
constexpr uint64_t kFb = 0x1400;             // received-FIS area
constexpr uint64_t kTables = 0x2000;         // one 1 KiB command table per slot
constexpr uint64_t kTableSize = 0x400;       // CFIS + 56 PRD entries
constexpr uint32_t kMaxPrds = (kTableSize - kCmdTablePrdtOffset) / kPrdEntrySize;
constexpr uint64_t kDataBase = 0x20000;     // after both ports' tables
constexpr int kMaxOps = 96;

enum Op : uint8_t {
  kCommand,      // header + FIS + PRDT built from fields, then issued
  kRawHeader,    // 16 raw bytes over a command header
  kRawPrd,       // 16 raw bytes over one PRD entry
  kRawFis,       // raw bytes over a command FIS
  kPortWrite,    // any port register
  kHbaWrite,     // any generic host control register
  kIssue,        // raw PxSACT / PxCI writes
  kRun,          // the I/O thread runs posted work
  kPump,         // backend completions, then posted work
  kConfig,       // PCI command register (bus mastering) / MSI
  kPoke,         // raw RAM bytes
  kRestart,      // Linux's error handling: ST off, clear IS, ST on
  kOpCount,
};

constexpr uint8_t kCommands[] = {
    ata::op::kReadDmaExt,       ata::op::kWriteDmaExt,     ata::op::kReadFpdmaQueued,
    ata::op::kWriteFpdmaQueued, ata::op::kIdentifyDevice,  ata::op::kFlushCacheExt,
    ata::op::kReadDma,          ata::op::kWriteDma,        ata::op::kReadSectors,
    ata::op::kWriteSectors,     ata::op::kReadSectorsExt,  ata::op::kWriteSectorsExt,
    ata::op::kWriteDmaFuaExt,   ata::op::kReadVerifySectorsExt, ata::op::kSetFeatures,
    ata::op::kReadLogExt,       ata::op::kCheckPowerMode,  ata::op::kExecuteDeviceDiagnostic,
    ata::op::kReadMultiple,     ata::op::kFlushCache,
};

class Harness {
 public:
  Harness(FuzzRam& ram, std::vector<block::Backend*> disks, bool slow)
      : ram_(ram), disks_(disks), slow_(slow), dev_(ram.memory, make_ports(disks)) {
    dev_.set_io_thread_hook(&work_);
    dev_.assign_bar(AhciController::kAbarIndex, 0xFEB0'0000);
    config(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  }
  ~Harness() { drain(); }

  void run(ByteReader& in, bool msi) {
    if (msi) enable_msi();
    start_port(0);
    start_port(1);
    for (int i = 0; i < kMaxOps && !in.empty(); ++i) step(in);
    check_liveness();
  }

  // After a full drain, with bus mastering on: a running port with an established link
  // (PxSSTS.DET = 3, i.e. not held in COMRESET) that has not stopped on an error (TFD.ERR) has
  // no command left issued: everything in PxCI was fetched and finished.
  void check_liveness() {
    drain();
    uint8_t cmd[2];
    dev_.config_read(pci::reg::kCommand, cmd);
    if (!(cmd[0] & pci::cmd::kBusMaster) || busy()) return;
    for (int p = 0; p < dev_.num_ports(); ++p) {
      uint32_t base = kPortBase + kPortStride * p;
      uint32_t ci = rd(base + px::kCi);
      bool link_up = (rd(base + px::kSsts) & 0xF) == 3;
      if (ci != 0 && link_up && (rd(base + px::kCmd) & pcmd::kSt) && !(rd(base + px::kTfd) & ata::st::kErr)) {
        std::fprintf(stderr, "port %d: PxCI=%08x still issued after draining, no error\n", p, ci);
        std::abort();
      }
    }
  }

 private:
  static std::vector<AhciDisk> make_ports(const std::vector<block::Backend*>& disks) {
    std::vector<AhciDisk> ports;
    for (block::Backend* b : disks) ports.push_back({b, {}});
    return ports;
  }

  uint32_t rd(uint32_t offset) {
    uint8_t b[4] = {};
    dev_.bar_read(AhciController::kAbarIndex, offset, b);
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
  }
  void wr(uint32_t offset, uint32_t value, size_t size = 4) {
    uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                    static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    dev_.bar_write(AhciController::kAbarIndex, offset, std::span<const uint8_t>(b, size));
  }
  void port_wr(int port, uint32_t reg, uint32_t value) { wr(kPortBase + kPortStride * port + reg, value); }
  void config(uint32_t offset, uint32_t value, size_t size) {
    uint8_t b[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8),
                    static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 24)};
    dev_.config_write(offset, std::span<const uint8_t>(b, size));
  }
  void enable_msi() {
    uint8_t at = 0;
    uint8_t b[2];
    dev_.config_read(pci::reg::kCapabilityPointer, std::span<uint8_t>(b, 1));
    for (int hops = 0, p = b[0]; p != 0 && hops < 16; ++hops) {
      dev_.config_read(static_cast<uint32_t>(p), std::span<uint8_t>(b, 2));
      if (b[0] == pci::cap_id::kMsi) {
        at = static_cast<uint8_t>(p);
        break;
      }
      p = b[1];
    }
    if (at == 0) return;
    config(at + 4, 0xFEE0'1000, 4);
    config(at + 12, 0x4321, 2);
    config(at + 2, 1, 2);
  }

  static uint64_t clb(int port) { return kClb + 0x800 * uint64_t(port); }  // port 1 at +2 KiB
  static uint64_t fb(int port) { return kFb + 0x800 * uint64_t(port); }
  static uint64_t table(int port, int slot) { return kTables + 0x8000 * uint64_t(port) + kTableSize * slot; }

  // What Linux does at probe, per port.
  void start_port(int port) {
    if (port >= static_cast<int>(disks_.size())) return;
    port_wr(port, px::kClb, static_cast<uint32_t>(clb(port)));
    port_wr(port, px::kClbu, 0);
    port_wr(port, px::kFb, static_cast<uint32_t>(fb(port)));
    port_wr(port, px::kFbu, 0);
    port_wr(port, px::kCmd, pcmd::kFre | pcmd::kSud | pcmd::kPod);
    port_wr(port, px::kSctl, 1);
    port_wr(port, px::kSctl, 0);
    port_wr(port, px::kSerr, 0xFFFF'FFFF);
    port_wr(port, px::kIs, 0xFFFF'FFFF);
    port_wr(port, px::kCmd, pcmd::kFre | pcmd::kSud | pcmd::kPod | pcmd::kSt);
    port_wr(port, px::kIe, pis::kValid);
    wr(hba::kGhc, hba::kGhcAe | hba::kGhcIe);
  }

  int pick_port(ByteReader& in) { return in.u8() % static_cast<int>(disks_.size()); }

  uint64_t alloc(uint64_t size) {
    uint64_t span = FuzzRam::kLowSize - kDataBase;
    size = std::min(size, span);
    if (data_next_ + size > span) data_next_ = 0;
    uint64_t at = kDataBase + data_next_;
    data_next_ = (data_next_ + size + 511) & ~uint64_t{511};
    return at;
  }

  uint64_t pick_lba(ByteReader& in) {
    switch (in.u8() % 4) {
      case 0:
        return in.u16() % (kDiskBytes / 512);
      case 1:
        return kDiskBytes / 512 - 1 - in.u8() % 8;
      case 2:
        return in.u64() & 0xFFFF'FFFF'FFFFull;
      default:
        return in.u32();
    }
  }

  void build_command(ByteReader& in) {
    int port = pick_port(in);
    int slot = in.u8() % 32;
    uint8_t sel = in.u8();
    uint8_t command = sel < 240 ? kCommands[sel % sizeof kCommands] : in.u8();
    bool ncq = command == ata::op::kReadFpdmaQueued || command == ata::op::kWriteFpdmaQueued;
    uint16_t sectors = static_cast<uint16_t>(1 + in.u8() % 16);
    uint8_t shape = in.u8();
    uint16_t count = (shape & 0x01) ? in.u16() : sectors;
    uint16_t features = (shape & 0x02) ? in.u16() : 0;
    if (ncq) {  // NCQ: sector count in FEATURES, the tag in COUNT 7:3
      features = (shape & 0x02) ? features : sectors;
      count = (shape & 0x01) ? count : static_cast<uint16_t>(slot << 3);
    }
    uint64_t lba = pick_lba(in);
    uint8_t device = (shape & 0x04) ? in.u8() : 0x40;
    uint8_t cfis[20] = {};
    cfis[0] = (shape & 0x08) ? in.u8() : fis::kH2dRegister;
    cfis[1] = (shape & 0x10) ? in.u8() : fis::kH2dCommandBit;
    cfis[2] = command;
    cfis[3] = static_cast<uint8_t>(features);
    for (int i = 0; i < 3; ++i) cfis[4 + i] = static_cast<uint8_t>(lba >> (8 * i));
    cfis[7] = device;
    for (int i = 0; i < 3; ++i) cfis[8 + i] = static_cast<uint8_t>(lba >> (24 + 8 * i));
    cfis[11] = static_cast<uint8_t>(features >> 8);
    cfis[12] = static_cast<uint8_t>(count);
    cfis[13] = static_cast<uint8_t>(count >> 8);
    uint64_t t = table(port, slot);
    std::memset(ram_.host(t, kTableSize), 0, kTableSize);
    ram_.write(t, cfis, sizeof cfis);

    // PRDT: by default enough sector-multiple buffers for the transfer, else fuzzed entries.
    uint32_t prds = in.u8() % 9;
    uint64_t bytes = uint64_t{sectors} * 512;
    for (uint32_t i = 0; i < prds && i < kMaxPrds; ++i) {
      uint64_t len = (shape & 0x20) ? uint64_t{in.u16()} * 2 + 2 : std::max<uint64_t>(bytes / prds, 2) & ~uint64_t{1};
      uint64_t address = (shape & 0x40) ? ram_.pick_address(in) : alloc(len);
      uint64_t e = t + kCmdTablePrdtOffset + kPrdEntrySize * i;
      ram_.put<uint32_t>(e, static_cast<uint32_t>(address));
      ram_.put<uint32_t>(e + 4, static_cast<uint32_t>(address >> 32));
      ram_.put<uint32_t>(e + 12, static_cast<uint32_t>((len - 1) & kPrdDbcMask) | ((in.u8() & 1) ? kPrdInterrupt : 0));
    }
    uint32_t cfl = (shape & 0x80) ? in.u8() & kCmdHeaderCflMask : 5;
    bool write = command == ata::op::kWriteDmaExt || command == ata::op::kWriteFpdmaQueued ||
                 command == ata::op::kWriteDma || command == ata::op::kWriteSectors;
    uint64_t h = clb(port) + kCommandHeaderSize * uint64_t(slot);
    ram_.put<uint32_t>(h, cfl | (write ? kCmdHeaderWrite : 0) | prds << 16);
    ram_.put<uint32_t>(h + 4, 0);
    ram_.put<uint32_t>(h + 8, static_cast<uint32_t>(t));
    ram_.put<uint32_t>(h + 12, 0);
    if (ncq) port_wr(port, px::kSact, 1u << slot);
    port_wr(port, px::kCi, 1u << slot);
    if (in.flag()) work_.run();
  }

  void pump(int wait_ms) {
    for (block::Backend* b : disks_) {
      if (b == nullptr) continue;
      if (slow_ && b->in_flight() > 0) wait_readable(b->completion_fd(), wait_ms);
      b->process_completions();
    }
    work_.run();
  }

  bool busy() {
    if (work_.pending()) return true;
    for (int p = 0; p < dev_.num_ports(); ++p) {
      if (dev_.busy_slots(p) > 0) return true;
    }
    return false;
  }

  void drain() {
    for (int i = 0; i < 200 && busy(); ++i) pump(slow_ ? 50 : 0);
  }

  void step(ByteReader& in) {
    switch (in.u8() % kOpCount) {
      case kCommand:
        build_command(in);
        break;
      case kRawHeader: {
        int port = pick_port(in);
        uint8_t raw[16];
        in.bytes(raw);
        ram_.write(clb(port) + kCommandHeaderSize * (in.u8() % 32u), raw, sizeof raw);
        break;
      }
      case kRawPrd: {
        int port = pick_port(in);
        int slot = in.u8() % 32;
        uint8_t raw[16];
        in.bytes(raw);
        ram_.write(table(port, slot) + kCmdTablePrdtOffset + kPrdEntrySize * (in.u8() % kMaxPrds), raw, sizeof raw);
        break;
      }
      case kRawFis: {
        int port = pick_port(in);
        uint8_t raw[20];
        in.bytes(raw);
        ram_.write(table(port, in.u8() % 32), raw, sizeof raw);
        break;
      }
      case kPortWrite: {
        int port = in.u8() % AhciController::kMaxPorts;  // beyond num_ports too
        uint32_t reg = (in.u8() % (kPortStride / 4)) * 4;
        port_wr(port, reg, in.u32());
        break;
      }
      case kHbaWrite: {
        uint32_t reg = (in.u8() % 16) * 4;
        uint32_t value = in.u32();
        size_t size = 1 + in.u8() % 4;
        wr(reg + static_cast<uint32_t>(4 - size) * (in.u8() & 1), value, size);  // sub-dword writes too
        break;
      }
      case kIssue: {
        int port = pick_port(in);
        port_wr(port, px::kSact, in.u32());
        port_wr(port, px::kCi, in.u32());
        break;
      }
      case kRun:
        work_.run(1 + in.u8() % 4);
        break;
      case kPump:
        pump(in.u8() % 4);
        break;
      case kConfig:
        if (in.flag()) {
          config(pci::reg::kCommand, pci::cmd::kMemorySpace | ((in.u8() & 1) ? pci::cmd::kBusMaster : 0), 2);
        } else {
          enable_msi();
        }
        break;
      case kPoke: {
        uint64_t at = ram_.pick_address(in);
        uint8_t bytes[16];
        size_t n = in.bytes(std::span(bytes, in.u8() % 17));
        ram_.write(at, bytes, n);
        break;
      }
      case kRestart: {
        int port = pick_port(in);
        port_wr(port, px::kCmd, pcmd::kFre);
        port_wr(port, px::kIs, 0xFFFF'FFFF);
        port_wr(port, px::kCmd, pcmd::kFre | pcmd::kSt);
        (void)rd(kPortBase + kPortStride * port + px::kTfd);
        break;
      }
      default:
        break;
    }
  }

  FuzzRam& ram_;
  std::vector<block::Backend*> disks_;
  bool slow_;
  PostedWork work_;  // before dev_: completions during the controller's teardown still post
  AhciController dev_;
  uint64_t data_next_ = 0;
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
  uint64_t fail_mask = (setup & 0x10) ? in.u32() : 0;
  block::BackendPolicy policy;
  policy.read_only = (setup & 3) == 2;
  std::unique_ptr<block::Backend> first, second;
  std::vector<block::Backend*> disks;
  if ((setup & 3) == 1) {
    env.file->set_write_cache_enabled(true);
    disks.push_back(env.file.get());
  } else {
    first = null_backend(env.ram.memory, kDiskBytes, policy, fail_mask);
    disks.push_back(first.get());
  }
  if (setup & 4) {
    second = null_backend(env.ram.memory, kDiskBytes / 2, {}, fail_mask);
    disks.push_back(second.get());
  } else {
    disks.push_back(nullptr);  // an empty port
  }
  Harness harness(env.ram, disks, (setup & 3) == 1);
  harness.run(in, setup & 8);
  return 0;
}
