#pragma once
// PIIX3 IDE function (8086:7010, class 01/01/80: both channels in legacy compatibility mode,
// bus-master capable) with up to two ATA disks per channel on block::Backends.
//
//  - command block: 8 I/O ports at 0x1F0 (primary) / 0x170 (secondary): data, error/features,
//    count, LBA low/mid/high, device, status/command; HOB bytes for LBA48 (device control bit 7).
//  - control block: 1 port at 0x3F6 / 0x376: alternate status / device control (nIEN, SRST).
//  - bus-master IDE (BMIDE): BAR 4, 16 I/O ports: command, status, PRD table pointer per channel.
//  - interrupts: the legacy IRQ 14 / 15 lines through InterruptLine (level: pending && !nIEN).
//
// Threading: the port IoDevices are called from vCPU threads. Anything touching a backend (PIO
// sector reads/writes, DMA, FLUSH) is posted to the I/O thread through the IoThreadHook; the
// vCPU never blocks. All state is guarded by the PciDevice recursive mutex.
//
// Lifetime: memory, backends, lines and hook must outlive the controller; stop the I/O loop
// before destroying it. The destructor waits for requests still in the backends.
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "block/backend.h"
#include "devices/ata/ata_drive.h"
#include "devices/ata/io_thread_hook.h"
#include "devices/interrupt_line.h"
#include "devices/io_device.h"
#include "devices/pci/pci_device.h"
#include "vmm/guest_memory.h"

namespace devices::ide {

struct IdeDisk {
  block::Backend* backend = nullptr;  // nullptr: no device in this position
  ata::DriveInfo info;
};

// Legacy resources.
inline constexpr uint16_t kPrimaryCommandPort = 0x1F0;
inline constexpr uint16_t kPrimaryControlPort = 0x3F6;
inline constexpr uint16_t kSecondaryCommandPort = 0x170;
inline constexpr uint16_t kSecondaryControlPort = 0x376;
inline constexpr uint16_t kCommandBlockSize = 8;
inline constexpr uint16_t kControlBlockSize = 1;
inline constexpr uint8_t kPrimaryIrq = 14;
inline constexpr uint8_t kSecondaryIrq = 15;

// Command block register offsets.
namespace reg {
inline constexpr uint32_t kData = 0;
inline constexpr uint32_t kError = 1;  // read; write: features
inline constexpr uint32_t kCount = 2;
inline constexpr uint32_t kLbaLow = 3;
inline constexpr uint32_t kLbaMid = 4;
inline constexpr uint32_t kLbaHigh = 5;
inline constexpr uint32_t kDevice = 6;
inline constexpr uint32_t kStatus = 7;  // read; write: command
}  // namespace reg

// Device control register.
namespace ctl {
inline constexpr uint8_t kNien = 0x02;
inline constexpr uint8_t kSrst = 0x04;
inline constexpr uint8_t kHob = 0x80;
}  // namespace ctl

// BMIDE registers (per channel, channel 1 at +8) and bits.
namespace bm {
inline constexpr uint32_t kCommand = 0;
inline constexpr uint32_t kStatus = 2;
inline constexpr uint32_t kPrdTable = 4;
inline constexpr uint32_t kChannelStride = 8;
inline constexpr uint8_t kCmdStart = 0x01;
inline constexpr uint8_t kCmdToMemory = 0x08;  // device-to-memory (disk read)
inline constexpr uint8_t kStActive = 0x01;
inline constexpr uint8_t kStError = 0x02;
inline constexpr uint8_t kStInterrupt = 0x04;
inline constexpr uint8_t kStDrive0Dma = 0x20;
inline constexpr uint8_t kStDrive1Dma = 0x40;
inline constexpr uint32_t kPrdEot = 0x80000000u;
inline constexpr uint32_t kMaxPrdEntries = 8192;  // one 64 KiB table
}  // namespace bm

class IdeController final : public pci::PciDevice {
 public:
  static constexpr uint16_t kVendorId = 0x8086;
  static constexpr uint16_t kDeviceId = 0x7010;  // PIIX3 IDE
  static constexpr uint32_t kClassCode = 0x010180;
  static constexpr int kBmideBar = 4;
  static constexpr uint64_t kBmideSize = 16;
  static constexpr size_t kMaxSegments = 256;
  static constexpr uint32_t kPioBufferSectors = 128;  // 64 KiB per backend request

  // disks[0]/[1]: primary master/slave, [2]/[3]: secondary master/slave.
  IdeController(const vmm::GuestMemory& memory, std::array<IdeDisk, 4> disks);
  ~IdeController() override;

  void set_io_thread_hook(ata::IoThreadHook* hook);
  void connect_channel_irq(int channel, InterruptLine* line);

  // The legacy port ranges, to register on the PIO bus at k*Port with k*Size.
  IoDevice& command_block(int channel) { return *command_ports_.at(channel); }
  IoDevice& control_block(int channel) { return *control_ports_.at(channel); }

  void bar_read(int index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(int index, uint64_t offset, std::span<const uint8_t> data) override;

  // Port accesses (what the IoDevices forward to).
  void command_read(int channel, uint32_t offset, std::span<uint8_t> data);
  void command_write(int channel, uint32_t offset, std::span<const uint8_t> data);
  uint8_t alt_status(int channel);
  void device_control(int channel, uint8_t value);

  // I/O thread: runs the channel's pending backend work.
  void process_channel(int channel);
  // Machine reset.
  void reset();
  // Tests: whether a backend request of `channel` is outstanding.
  bool busy(int channel);
  // For the post-mortem of a guest that stopped making progress: per channel, the register
  // file, the command in progress, the interrupt line and the last commands with their PRD
  // tables' shape. Lines prefixed "ide: ".
  std::string describe_state();

 protected:
  void config_written(uint32_t offset, size_t size, uint16_t old_command) override;

 private:
  enum class Phase : uint8_t { kIdle, kPioIn, kPioOut, kDmaWait, kDmaRunning, kBackend };
  enum class Work : uint8_t { kNone, kPioRead, kPioWrite, kFlush, kDma };

  // One entry of the per-channel command history (what describe_state() prints).
  struct CommandRecord {
    uint8_t command = 0;
    uint8_t device = 0;
    uint64_t lba = 0;
    uint32_t sectors = 0;
    uint32_t prd_entries = 0;   // DMA: PRD entries read; PIO/non-data: 0
    uint32_t segments = 0;      // host iovecs after merging
    uint32_t prd_max_len = 0;   // longest PRD entry, bytes
    bool prd_crosses_64k = false;  // an entry crossing a 64 KiB boundary (PIIX forbids it)
    uint8_t final_status = 0;   // 0 while in progress
    uint8_t final_error = 0;
    bool completed = false;
  };
  static constexpr size_t kHistory = 8;

  struct Drive {
    std::unique_ptr<ata::AtaDrive> ata;
    uint8_t status = ata::st::kReady;
    uint8_t error = 0x01;
  };
  struct Channel final : block::Completion {
    IdeController* owner = nullptr;
    int index = 0;
    std::array<Drive, 2> drives;
    // Shared command block (both drives latch every write); *_hob is the previous byte.
    uint8_t feature = 0, hob_feature = 0, count = 0, hob_count = 0;
    std::array<uint8_t, 3> lba{}, hob_lba{};
    uint8_t device = 0xA0;
    uint8_t control = 0;
    bool irq_pending = false;
    InterruptLine* line = nullptr;
    bool line_level = false;
    // Bus master.
    uint8_t bm_command = 0, bm_status = 0;
    uint32_t prd_table = 0;
    // The command in progress.
    Phase phase = Phase::kIdle;
    Work work = Work::kNone;
    int active = 0;
    ata::Plan plan;
    uint32_t sectors_done = 0;   // sectors transferred to/from the guest
    uint32_t chunk_sectors = 0;  // sectors in the PIO buffer / current backend request
    uint32_t buffer_pos = 0;
    uint8_t* buffer = nullptr;   // kPioBufferSectors * 512, 4 KiB aligned
    // Backend request.
    block::Request req;
    std::array<iovec, kMaxSegments> iov{};
    bool busy = false, orphaned = false, parked = false, kick_posted = false;
    int deferred_command = -1;  // issued while an aborted request was still outstanding
    int deferred_device = 0;    // ... to this device (0 master, 1 slave)
    block::Status parked_status;
    size_t parked_bytes = 0;
    std::array<CommandRecord, kHistory> history{};
    uint64_t commands = 0;    // commands executed so far (history index: commands % kHistory)
    uint64_t interrupts = 0;  // times the interrupt was raised
    CommandRecord& current() { return history[(commands + kHistory - 1) % kHistory]; }
    void complete(block::Status status, size_t bytes) override;
  };
  class CommandPorts;
  class ControlPort;

  Drive* selected(Channel& c) { return c.drives[(c.device >> 4) & 1].ata ? &c.drives[(c.device >> 4) & 1] : nullptr; }
  bool channel_empty(const Channel& c) const { return !c.drives[0].ata && !c.drives[1].ata; }
  // `device`: the one the command was written to (the DEV bit at the time).
  void execute(Channel& c, uint8_t command, int device);
  void finish(Channel& c, const ata::Plan& result, bool interrupt);
  void raise_irq(Channel& c);
  void update_line(Channel& c);
  void post(Channel& c, Work work);
  void start_dma_if_ready(Channel& c);
  void run_dma(Channel& c);
  void run_pio_chunk(Channel& c, bool write);
  void on_complete(Channel& c, block::Status status, size_t bytes);
  void dma_done(Channel& c, const ata::Plan& result, bool bm_error);
  void soft_reset(Channel& c);
  void abort_backend(Channel& c);
  uint32_t data_read(Channel& c, size_t size);
  void data_write(Channel& c, uint32_t value, size_t size);
  void pio_block_done(Channel& c);
  void bm_read(int channel, uint32_t reg, std::span<uint8_t> data);
  void bm_write(int channel, uint32_t reg, std::span<const uint8_t> data);

  const vmm::GuestMemory& memory_;
  std::array<Channel, 2> channels_;
  ata::IoThreadHook* hook_ = nullptr;
  std::array<std::unique_ptr<IoDevice>, 2> command_ports_;
  std::array<std::unique_ptr<IoDevice>, 2> control_ports_;
};

}  // namespace devices::ide
