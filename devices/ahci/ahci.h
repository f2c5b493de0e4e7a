#pragma once
// AHCI 1.3 SATA controller (ICH9-style: 8086:2922, class 01/06/01) with up to kMaxPorts ports,
// each optionally holding one ATA disk on a block::Backend. ABAR is BAR 5 (4 KiB memory).
// Interrupts: one MSI vector when the guest enables the MSI capability, else INTA#.
//
// Threading: config/BAR accesses come from vCPU threads. A PxCI write never touches the
// backend: it posts process_port() to the I/O thread through the IoThreadHook (which wakes
// that thread). process_port() and every block completion run on the I/O thread. All state is
// guarded by the PciDevice recursive mutex (recursive because the backend may complete a
// request inside submit()).
//
// Lifetime: the guest memory, the backends, the MSI sender and the hook must outlive the
// controller; the hook's posted callbacks reference the controller, so stop the I/O loop (or
// drain it) before destroying it. The destructor waits for requests still in the backends.
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "block/backend.h"
#include "devices/ahci/ahci_regs.h"
#include "devices/ata/ata_drive.h"
#include "devices/ata/io_thread_hook.h"
#include "devices/ata/sg_list.h"
#include "devices/pci/msi.h"
#include "devices/pci/pci_device.h"
#include "vmm/guest_memory.h"

namespace devices::ahci {

struct AhciDisk {
  block::Backend* backend = nullptr;  // nullptr: empty port (no device attached)
  ata::DriveInfo info;
};

class AhciController final : public pci::PciDevice {
 public:
  static constexpr int kMaxPorts = 6;
  static constexpr int kAbarIndex = 5;
  static constexpr uint64_t kAbarSize = 0x1000;
  static constexpr uint16_t kVendorId = 0x8086;
  static constexpr uint16_t kDeviceId = 0x2922;
  static constexpr uint32_t kClassCode = 0x010601;
  // Host iovecs per command after merging contiguous PRDs; longer lists fail with ABRT.
  static constexpr size_t kMaxSegments = 256;

  // One port per entry of `disks` (1..kMaxPorts).
  AhciController(const vmm::GuestMemory& memory, std::vector<AhciDisk> disks);
  ~AhciController() override;

  void set_msi_sender(pci::MsiSender* sender);
  void set_io_thread_hook(ata::IoThreadHook* hook);

  void bar_read(int index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(int index, uint64_t offset, std::span<const uint8_t> data) override;

  // I/O thread: fetches and starts the commands issued on `port`.
  void process_port(int port);
  // I/O thread, when `port`'s backend signals completions: delivers them all, then at most one
  // MSI for the lot (the guest's handler reads PxIS/PxSACT once and retires every tag).
  size_t process_completions(int port);
  // Machine reset: HBA reset plus MSI reset.
  void reset();

  int num_ports() const { return static_cast<int>(ports_.size()); }
  // Tests: the backend requests still owned by a slot of `port`.
  int busy_slots(int port);
  pci::MsiCapability& msi() { return msi_; }

 protected:
  void config_written(uint32_t offset, size_t size, uint16_t old_command) override;

 private:
  struct Port;
  struct Slot final : block::Completion {
    AhciController* owner = nullptr;
    int port = 0;
    int index = 0;
    block::Request req;
    std::array<iovec, kMaxSegments> iov{};
    ata::Plan plan;
    uint64_t header_address = 0;
    bool busy = false;      // request owned by the backend
    bool orphaned = false;  // port stopped/reset while busy: drop the completion
    bool parked = false;    // completed while bus mastering was off
    bool prd_interrupt = false;
    bool ncq = false;       // accepted as a queued command: completes through an SDB FIS
    block::Status parked_status;
    size_t parked_bytes = 0;
    void complete(block::Status status, size_t bytes) override;
  };
  struct Port {
    uint32_t clb = 0, clbu = 0, fb = 0, fbu = 0;
    uint32_t is = 0, ie = 0, cmd = 0, tfd = 0x7F, sig = 0xFFFFFFFF, ssts = 0, sctl = 0, serr = 0;
    uint32_t sact = 0, ci = 0;
    uint32_t started = 0;       // CI/SACT bits whose command was fetched and is running
    bool nonqueued = false;     // a non-NCQ command is running
    bool halted = false;        // task file error: nothing new until ST goes 0 -> 1
    bool kick_posted = false;
    bool processing = false;
    bool reprocess = false;
    std::unique_ptr<ata::AtaDrive> drive;
    block::Backend* backend = nullptr;
    std::unique_ptr<std::array<Slot, kCommandSlots>> slots;
  };

  uint32_t read_reg(uint32_t offset);
  void write_reg(uint32_t offset, uint32_t value);
  uint32_t read_port_reg(Port& p, uint32_t reg);
  void write_port_reg(int port, uint32_t reg, uint32_t value);
  void write_port_cmd(int port, uint32_t value);
  void hba_reset();
  void port_reset(int port, bool device_present_fis);
  void stop_port(Port& p);
  void kick(int port);

  void start_command(int port, int slot);
  bool build_sg(Port& p, Slot& s, uint64_t ctba, uint32_t prdtl, uint64_t bytes);
  void submit(Port& p, Slot& s, block::Op op);
  void on_complete(Slot& s, block::Status status, size_t bytes);
  void finish(int port, Slot& s, const ata::Plan& result, uint64_t bytes);
  void fail_command(int port, int slot, uint8_t error);

  uint64_t fis_base(const Port& p) const { return uint64_t{p.fbu} << 32 | p.fb; }
  void write_fis(Port& p, uint32_t offset, const uint8_t* fis, size_t size);
  void write_d2h(Port& p, uint8_t status, uint8_t error, bool interrupt);
  void write_pio_setup(Port& p, uint8_t status, uint8_t error);
  void write_sdb(Port& p, uint8_t status, uint8_t error, uint32_t sactive);
  void write_guest32(uint64_t address, uint32_t value);
  bool read_guest(uint64_t address, void* out, size_t size);

  void raise(int port, uint32_t bits);
  void update_irq(bool new_event);
  // While one lives (mutex held), MSIs are held back and sent once when the outermost ends.
  class CoalescedMsi {
   public:
    explicit CoalescedMsi(AhciController& c) : c_(c) { ++c_.msi_coalesce_depth_; }
    ~CoalescedMsi();
    CoalescedMsi(const CoalescedMsi&) = delete;
    CoalescedMsi& operator=(const CoalescedMsi&) = delete;

   private:
    AhciController& c_;
  };
  bool bus_master() const { return config_.bus_master(); }

  const vmm::GuestMemory& memory_;
  std::vector<Port> ports_;
  uint32_t ghc_ = hba::kGhcAe;
  uint32_t is_ = 0;
  pci::MsiCapability msi_;
  bool msi_held_ = false;  // an MSI fired while bus mastering was off
  int msi_coalesce_depth_ = 0;
  bool msi_coalesced_ = false;  // an MSI is owed when the outermost CoalescedMsi ends
  ata::IoThreadHook* hook_ = nullptr;
};

}  // namespace devices::ahci
