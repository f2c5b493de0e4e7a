#pragma once
// The virtio-pci modern (1.x only) transport: vendor 0x1AF4, device 0x1040 + type,
// revision 1. One 32-bit memory BAR (BAR 0) holds every structure:
//
//   0x0000 common configuration       0x3000 notify (queue q at 0x3000 + 4 * q)
//   0x1000 ISR status                 0x4000 MSI-X table
//   0x2000 device configuration       0x5000 MSI-X PBA
//
// described by vendor capabilities (common, notify, ISR, device, PCI cfg access) plus MSI-X.
// Feature negotiation insists on VIRTIO_F_VERSION_1; ACCESS_PLATFORM and packed rings are not
// offered. Writing 0 to device_status resets the device and every queue. Interrupts go to
// the queue's MSI-X vector, or, with MSI-X disabled, to the ISR + INTx pin.
//
// Bus mastering (PCI command bit 2) gates DMA: while it is off the device does not touch
// guest memory (no ring access, no status writes) and holds MSI messages back; turning it on
// again replays the held messages and kicks every queue so deferred work resumes.
//
// Threading: register accesses arrive on vCPU threads, process_queue() and completions on
// the I/O thread; all of them hold PciDevice::mutex().
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/pci/msi_sender.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_device.h"
#include "devices/virtio/notify_hooks.h"
#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/virtqueue.h"
#include "vmm/guest_memory.h"

namespace devices::virtio {

class VirtioPciDevice : public pci::PciDevice {
 public:
  static constexpr uint64_t kBarSize = 0x8000;
  static constexpr uint64_t kCommonOffset = 0x0000;
  static constexpr uint64_t kCommonSize = 0x38;
  static constexpr uint64_t kIsrOffset = 0x1000;
  static constexpr uint64_t kDeviceConfigOffset = 0x2000;
  static constexpr uint64_t kNotifyOffset = 0x3000;
  static constexpr uint32_t kNotifyOffMultiplier = 4;
  static constexpr uint64_t kMsixTableOffset = 0x4000;
  static constexpr uint64_t kMsixPbaOffset = 0x5000;

  struct Params {
    uint16_t device_type = 0;
    uint16_t num_queues = 1;
    uint16_t max_queue_size = SplitQueue::kMaxSize;
    uint64_t device_features = 0;  // device-type bits; the transport adds its own
    uint32_t device_config_size = 0;
  };

  VirtioPciDevice(const vmm::GuestMemory& memory, const Params& params);

  void set_msi_sender(pci::MsiSender* sender);
  void set_notify_hooks(NotifyHooks* hooks);

  void bar_read(int index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(int index, uint64_t offset, std::span<const uint8_t> data) override;

  // I/O thread: handle what the driver made available on `queue` (the notify eventfd fired).
  virtual void process_queue(uint16_t queue) = 0;

  // Machine reset: same as the driver writing 0 to device_status, plus MSI-X function reset.
  void reset();

  uint16_t num_queues() const { return num_queues_; }
  uint64_t device_features() const { return device_features_; }
  // Observers for tests and diagnostics.
  uint8_t status();
  uint64_t driver_features();
  std::string last_error();

 protected:
  // Device-type hooks, all called with mutex() held.
  virtual void read_device_config(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void write_device_config(uint32_t offset, std::span<const uint8_t> data) {}
  // Extra checks before FEATURES_OK is accepted.
  virtual bool validate_features(uint64_t features) { return true; }
  virtual void features_accepted(uint64_t features) {}
  // Device-type state reset (the transport has already reset its queues).
  virtual void device_reset() {}
  // Bus mastering turned back on (the transport already kicked every queue).
  virtual void dma_enabled() {}

  bool has_feature(unsigned bit) const { return (driver_features_ >> bit) & 1; }
  // DRIVER_OK and FEATURES_OK set, no NEEDS_RESET/FAILED.
  bool live() const;
  bool dma_allowed() const { return config_.bus_master(); }
  SplitQueue& queue(uint16_t q) { return queues_[q]; }
  void signal_queue(uint16_t q);
  void signal_config();
  // The driver broke the device: DEVICE_NEEDS_RESET + configuration interrupt.
  void set_needs_reset(const char* why);
  void kick(uint16_t q);
  // The device changed its configuration: bump config_generation, interrupt.
  void config_changed();

  void config_written(uint32_t offset, size_t size, uint16_t old_command) override;
  bool config_read_special(uint32_t offset, std::span<uint8_t> data) override;
  bool config_write_special(uint32_t offset, std::span<const uint8_t> data) override;

  const vmm::GuestMemory& memory_;

 private:
  class GatedMsi : public pci::MsiSender {
   public:
    explicit GatedMsi(VirtioPciDevice& dev) : dev_(dev) {}
    void send(uint64_t address, uint32_t data) override;

   private:
    VirtioPciDevice& dev_;
  };

  void common_read(uint64_t offset, std::span<uint8_t> data);
  void common_write(uint64_t offset, std::span<const uint8_t> data);
  void common_image(uint8_t* image);
  void write_field(uint32_t field, uint64_t value);
  void write_status(uint8_t value);
  void reset_locked();
  void update_isr_line();
  void report_notify_area();
  uint8_t add_virtio_cap(uint8_t type, uint32_t offset, uint32_t length, size_t extra = 0);

  uint16_t num_queues_;
  uint16_t max_queue_size_;
  uint64_t device_features_;
  uint32_t device_config_size_;
  pci::MsixCapability msix_;
  GatedMsi gated_msi_{*this};
  pci::MsiSender* msi_ = nullptr;
  NotifyHooks* hooks_ = nullptr;

  std::vector<SplitQueue> queues_;
  uint32_t device_feature_select_ = 0;
  uint32_t driver_feature_select_ = 0;
  uint64_t driver_features_ = 0;
  uint16_t config_msix_vector_ = kNoVector;
  uint8_t status_ = 0;
  uint8_t config_generation_ = 0;
  uint16_t queue_select_ = 0;
  uint8_t isr_ = 0;
  uint8_t pci_cfg_cap_ = 0;
  std::vector<std::pair<uint64_t, uint32_t>> held_msis_;  // sent while bus mastering was off
  std::optional<uint64_t> reported_notify_area_;
  bool notify_area_reported_ = false;
  std::string last_error_;
};

}  // namespace devices::virtio
