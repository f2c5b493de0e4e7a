// The machine's disks: every -drive becomes a virtio-blk-pci function (plain or zoned), a port
// of the one AHCI controller, or a position on the PIIX IDE controller. DiskDevices owns the
// block backends, the PCI bus (host bridge at 00:00.0, configuration mechanism #1 at 0xCF8, the
// 32-bit MMIO window) and the controllers, and registers their completion fds and queue
// eventfds on the I/O loop. See docs/architecture.md ("Disks").
//
// Lifetime: construct after the buses and the I/O loop exist, before vCPUs start; destroy after
// the vCPUs and the I/O thread have been joined and the loop's posted callbacks have run. The
// buses only hold forwarding stubs, so destroying DiskDevices first is safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "block/drive_options.h"
#include "devices/io_device.h"
#include "vmm/guest_memory.h"
#include "vmm/io_bus.h"
#include "vmm/io_loop.h"
#include "vmm/kvm.h"
#include "vmm/mp_table.h"

namespace vmm {

// PCI INTx routing of the functions DiskDevices will create for `drives` (deterministic, so the
// MP table can be written before the devices exist). Empty vector and no PCI when no drives.
std::vector<MpPciInterrupt> disk_pci_interrupts(const std::vector<block::DriveOptions>& drives);

class DiskDevices {
 public:
  // Throws (a one-line message naming the drive) if a backend cannot be opened.
  // `reset_port` (0xCF9) shares the configuration ports' range; with drives DiskDevices
  // registers it, without drives the caller must.
  DiskDevices(const std::vector<block::DriveOptions>& drives, const KvmVm& vm,
              const GuestMemory& memory, IoLoop& loop, IoBus& pio, IoBus& mmio,
              std::shared_ptr<devices::IoDevice> reset_port);
  ~DiskDevices();
  // The storage controllers' state, for the post-mortem of a guest that stopped making
  // progress (lines, each ending in a newline; empty when no controller has anything to say).
  std::string describe_state() const;

  DiskDevices(const DiskDevices&) = delete;
  DiskDevices& operator=(const DiskDevices&) = delete;

 private:
  void build(const std::vector<block::DriveOptions>& drives, const KvmVm& vm,
             const GuestMemory& memory, IoLoop& loop, IoBus& pio, IoBus& mmio,
             std::shared_ptr<devices::IoDevice> reset_port);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vmm
