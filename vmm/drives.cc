#include "vmm/drives.h"

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "block/backend.h"
#include "block/error.h"
#include "block/zoned/zoned_backend.h"
#include "devices/ahci/ahci.h"
#include "devices/ata/io_loop_hook.h"
#include "devices/ide/ide.h"
#include "devices/io_device.h"
#include "devices/pci/bar_allocator.h"
#include "devices/pci/kvm_msi_sender.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/kvm_queue_notifier.h"
#include "devices/virtio/virtio_blk.h"
#include "vmm/kvm_irq_line.h"

namespace vmm {
namespace {

using block::DriveInterface;

// PCI INTx fallback lines: function n (slot 1..8) gets IOAPIC pin 16 + n - 1. KVM_IRQ_LINE has
// one source per GSI, so a shared line would lose assertions: functions beyond 8 get no INTx
// (they use MSI/MSI-X, as Linux does anyway).
constexpr unsigned kFirstPciGsi = 16;
constexpr unsigned kPciGsis = 8;
constexpr unsigned kIdeIrq[2] = {14, 15};

// Slot layout: virtio drives in command-line order from slot 1, then the AHCI controller, then
// the IDE controller.
struct SlotPlan {
  std::vector<int> virtio_slots;  // one per virtio drive, in drive order
  int ahci_slot = -1;
  int ide_slot = -1;
};

SlotPlan plan_slots(const std::vector<block::DriveOptions>& drives) {
  SlotPlan plan;
  int next = 1;
  bool ahci = false, ide = false;
  for (const auto& d : drives) {
    if (d.interface == DriveInterface::kVirtio) plan.virtio_slots.push_back(next++);
    ahci |= d.interface == DriveInterface::kAhci;
    ide |= d.interface == DriveInterface::kIde;
  }
  if (ahci) plan.ahci_slot = next++;
  if (ide) plan.ide_slot = next++;
  if (next > devices::pci::kSlotsPerBus) {
    throw std::runtime_error("-drive: too many PCI disks (" + std::to_string(next - 1) +
                             " functions; bus 0 has 31 free slots)");
  }
  return plan;
}

std::optional<uint8_t> intx_gsi(int slot) {
  if (slot < 1 || slot > static_cast<int>(kPciGsis)) return std::nullopt;
  return static_cast<uint8_t>(kFirstPciGsi + slot - 1);
}

// What the PIO/MMIO buses hold: a pointer into a device DiskDevices owns. The buses outlive
// DiskDevices, but nobody calls them once the vCPUs are joined.
class Forward final : public devices::IoDevice {
 public:
  explicit Forward(devices::IoDevice& target) : target_(target) {}
  void read(uint64_t offset, std::span<uint8_t> data) override { target_.read(offset, data); }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    target_.write(offset, data);
  }

 private:
  devices::IoDevice& target_;
};

// 0xCF8-0xCFF: configuration mechanism #1, except that a byte access to 0xCF9 is the PIIX
// reset control register (as on a PC), which machine.cc hands us when PCI is present.
class ConfigPorts final : public devices::IoDevice {
 public:
  ConfigPorts(devices::IoDevice& config, std::shared_ptr<devices::IoDevice> reset)
      : config_(config), reset_(std::move(reset)) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    if (offset == 1 && data.size() == 1 && reset_) return reset_->read(0, data);
    config_.read(offset, data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 1 && data.size() == 1 && reset_) return reset_->write(0, data);
    config_.write(offset, data);
  }

 private:
  devices::IoDevice& config_;
  std::shared_ptr<devices::IoDevice> reset_;
};

std::string drive_name(const block::DriveOptions& d) { return "-drive file=" + d.file; }

}  // namespace

std::vector<MpPciInterrupt> disk_pci_interrupts(const std::vector<block::DriveOptions>& drives) {
  const SlotPlan plan = plan_slots(drives);
  std::vector<MpPciInterrupt> out;
  auto add = [&](int slot) {
    if (auto gsi = intx_gsi(slot)) {
      out.push_back({static_cast<uint8_t>(slot), 0, *gsi});
    }
  };
  for (int slot : plan.virtio_slots) add(slot);
  if (plan.ahci_slot > 0) add(plan.ahci_slot);
  return out;
}

struct DiskDevices::State {
  // Declaration order is construction order; ~State tears down explicitly (see below).
  devices::pci::KvmMsiSender msi;
  devices::ata::IoLoopHook ata_hook;
  std::vector<std::unique_ptr<KvmIrqLine>> irq_lines;
  std::vector<std::unique_ptr<block::Backend>> backends;
  std::vector<std::unique_ptr<block::zoned::ZonedBackend>> zoned_backends;
  std::vector<std::unique_ptr<devices::virtio::KvmQueueNotifier>> notifiers;
  std::unique_ptr<devices::pci::PciBus> bus;
  std::unique_ptr<devices::pci::PciConfigIo> config_io;
  std::unique_ptr<devices::pci::PciMmioWindow> mmio_window;
  std::unique_ptr<devices::pci::PciIoWindow> io_window;
  std::vector<std::shared_ptr<devices::virtio::VirtioBlk>> virtio;
  std::shared_ptr<devices::ahci::AhciController> ahci;
  std::shared_ptr<devices::ide::IdeController> ide;

  State(const KvmVm& vm, IoLoop& loop) : msi(vm.fd()), ata_hook(loop) {}

  ~State() {
    // The bus holds references to the devices: drop it (and its accessors) first. Then the
    // devices, which wait for requests still in their backends; then the backends (the zoned
    // one persists its write pointers), the notifiers (ioeventfds), IRQ lines and MSI sender.
    mmio_window.reset();
    io_window.reset();
    config_io.reset();
    bus.reset();
    ide.reset();
    ahci.reset();
    virtio.clear();
    zoned_backends.clear();
    backends.clear();
    notifiers.clear();
    irq_lines.clear();
  }

  KvmIrqLine* irq_line(const KvmVm& vm, unsigned gsi) {
    irq_lines.push_back(std::make_unique<KvmIrqLine>(vm, gsi));
    return irq_lines.back().get();
  }
};

std::string DiskDevices::describe_state() const {
  if (!state_ || !state_->ide) return {};
  return state_->ide->describe_state();
}

DiskDevices::DiskDevices(const std::vector<block::DriveOptions>& drives, const KvmVm& vm,
                         const GuestMemory& memory, IoLoop& loop, IoBus& pio, IoBus& mmio,
                         std::shared_ptr<devices::IoDevice> reset_port) {
  if (drives.empty()) return;
  try {
    build(drives, vm, memory, loop, pio, mmio, std::move(reset_port));
  } catch (const block::BlockError& e) {
    // The block layer's messages start with "vmm: "; main adds that prefix itself.
    std::string message = e.what();
    if (message.rfind("vmm: ", 0) == 0) message.erase(0, 5);
    throw std::runtime_error(message);
  }
}

void DiskDevices::build(const std::vector<block::DriveOptions>& drives, const KvmVm& vm,
                        const GuestMemory& memory, IoLoop& loop, IoBus& pio, IoBus& mmio,
                        std::shared_ptr<devices::IoDevice> reset_port) {
  const SlotPlan plan = plan_slots(drives);
  state_ = std::make_unique<State>(vm, loop);
  State& s = *state_;
  s.bus = std::make_unique<devices::pci::PciBus>();

  // `sink` is the backend itself, or the virtio-blk device that batches its interrupts.
  auto watch_completions = [&loop](int fd, auto* sink) {
    loop.watch_readable(fd, [sink] {
      sink->process_completions();
      return true;
    });
  };

  std::vector<devices::ahci::AhciDisk> ahci_disks;
  std::vector<block::Backend*> ahci_backends;  // by port
  std::array<devices::ide::IdeDisk, 4> ide_disks{};
  size_t ide_count = 0, virtio_index = 0;
  // The guest may switch a disk's write cache (virtio CONFIG_WCE, ATA SET FEATURES); that
  // changes whether every write is durable on its own, so the operator is told.
  auto report_write_cache = [](block::Backend& backend, const block::DriveOptions& d) {
    backend.on_write_cache_change([name = drive_name(d)](bool on) {
      std::fprintf(stderr, "vmm: %s: guest turned the write cache %s\n", name.c_str(),
                   on ? "on (writeback: durable after a flush)"
                      : "off (writethrough: every write is durable when completed)");
    });
  };
  for (const block::DriveOptions& d : drives) {
    if (d.interface == DriveInterface::kVirtio) {
      const int slot = plan.virtio_slots[virtio_index++];
      if (d.num_queues < 1 || d.num_queues > 64) {
        throw std::runtime_error(drive_name(d) + ": num-queues must be 1..64");
      }
      const auto queues = static_cast<uint16_t>(d.num_queues);
      devices::virtio::VirtioBlkOptions blk_options{.serial = d.serial, .num_queues = queues};
      std::shared_ptr<devices::virtio::VirtioBlk> blk;
      if (d.zoned.enabled) {
        s.zoned_backends.push_back(block::zoned::ZonedBackend::open(d));
        auto* zoned = s.zoned_backends.back().get();
        report_write_cache(zoned->inner(), d);
        blk = std::make_shared<devices::virtio::VirtioBlk>(memory, *zoned, blk_options);
        watch_completions(zoned->completion_fd(), blk.get());
      } else {
        s.backends.push_back(block::Backend::open(d));
        auto* backend = s.backends.back().get();
        report_write_cache(*backend, d);
        blk = std::make_shared<devices::virtio::VirtioBlk>(memory, *backend, blk_options);
        watch_completions(backend->completion_fd(), blk.get());
      }
      s.notifiers.push_back(std::make_unique<devices::virtio::KvmQueueNotifier>(
          vm.fd(), queues, devices::virtio::VirtioPciDevice::kNotifyOffMultiplier));
      auto* notifier = s.notifiers.back().get();
      blk->set_msi_sender(&s.msi);
      blk->set_notify_hooks(notifier);
      if (auto gsi = intx_gsi(slot)) blk->connect_intx(s.irq_line(vm, *gsi), *gsi);
      s.bus->add(blk, slot);
      auto* raw = blk.get();
      for (uint16_t q = 0; q < queues; ++q) {
        loop.watch_readable(notifier->eventfd(q), [notifier, raw, q] {
          notifier->consume(q);
          raw->process_queue(q);
          return true;
        });
      }
      loop.add_poller([raw] { return raw->poll(); });
      s.virtio.push_back(std::move(blk));
    } else if (d.interface == DriveInterface::kAhci) {
      s.backends.push_back(block::Backend::open(d));
      auto* backend = s.backends.back().get();
      report_write_cache(*backend, d);
      devices::ahci::AhciDisk disk{.backend = backend};
      ahci_backends.push_back(backend);
      if (!d.serial.empty()) disk.info.serial = d.serial;
      ahci_disks.push_back(std::move(disk));  // its completions: watched per port below
    } else {
      s.backends.push_back(block::Backend::open(d));
      auto* backend = s.backends.back().get();
      report_write_cache(*backend, d);
      ide_disks[ide_count].backend = backend;
      if (!d.serial.empty()) ide_disks[ide_count].info.serial = d.serial;
      ++ide_count;
      watch_completions(backend->completion_fd(), backend);
    }
  }

  if (!ahci_disks.empty()) {
    s.ahci = std::make_shared<devices::ahci::AhciController>(memory, std::move(ahci_disks));
    s.ahci->set_msi_sender(&s.msi);
    s.ahci->set_io_thread_hook(&s.ata_hook);
    if (auto gsi = intx_gsi(plan.ahci_slot)) s.ahci->connect_intx(s.irq_line(vm, *gsi), *gsi);
    s.bus->add(s.ahci, plan.ahci_slot);
    // The controller delivers each wake-up's completions with one MSI.
    for (int port = 0; port < s.ahci->num_ports(); ++port) {
      loop.watch_readable(ahci_backends[port]->completion_fd(), [ahci = s.ahci.get(), port] {
        ahci->process_completions(port);
        return true;
      });
    }
  }
  if (ide_count > 0) {
    s.ide = std::make_shared<devices::ide::IdeController>(memory, ide_disks);
    s.ide->set_io_thread_hook(&s.ata_hook);
    for (int ch = 0; ch < 2; ++ch) s.ide->connect_channel_irq(ch, s.irq_line(vm, kIdeIrq[ch]));
    s.bus->add(s.ide, plan.ide_slot);
    const uint16_t command[2] = {devices::ide::kPrimaryCommandPort,
                                 devices::ide::kSecondaryCommandPort};
    const uint16_t control[2] = {devices::ide::kPrimaryControlPort,
                                 devices::ide::kSecondaryControlPort};
    for (int ch = 0; ch < 2; ++ch) {
      pio.add(command[ch], devices::ide::kCommandBlockSize,
              std::make_shared<Forward>(s.ide->command_block(ch)));
      pio.add(control[ch], devices::ide::kControlBlockSize,
              std::make_shared<Forward>(s.ide->control_block(ch)));
    }
  }

  using namespace devices::pci;
  BarAllocator memory_bars(kMmio32WindowStart, kMmio32WindowEnd);
  BarAllocator io_bars(kIoBarStart, kIoWindowEnd);  // the IDE bus-master BAR lands at 0xC000
  s.bus->assign_bars(memory_bars, io_bars);
  s.config_io = std::make_unique<PciConfigIo>(*s.bus);
  s.mmio_window = std::make_unique<PciMmioWindow>(*s.bus, kMmio32WindowStart);
  s.io_window = std::make_unique<PciIoWindow>(*s.bus, kIoWindowStart);
  pio.add(kConfigIoPort, kConfigIoSize, std::make_shared<ConfigPorts>(*s.config_io, reset_port));
  pio.add(kIoWindowStart, kIoWindowEnd - kIoWindowStart, std::make_shared<Forward>(*s.io_window));
  mmio.add(kMmio32WindowStart, kMmio32WindowEnd - kMmio32WindowStart,
           std::make_shared<Forward>(*s.mmio_window));
}

DiskDevices::~DiskDevices() = default;

}  // namespace vmm
