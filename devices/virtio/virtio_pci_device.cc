#include "devices/virtio/virtio_pci_device.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace devices::virtio {
namespace {

namespace field {
constexpr uint32_t kDeviceFeatureSelect = 0x00;
constexpr uint32_t kDeviceFeature = 0x04;
constexpr uint32_t kDriverFeatureSelect = 0x08;
constexpr uint32_t kDriverFeature = 0x0C;
constexpr uint32_t kConfigMsixVector = 0x10;
constexpr uint32_t kNumQueues = 0x12;
constexpr uint32_t kDeviceStatus = 0x14;
constexpr uint32_t kConfigGeneration = 0x15;
constexpr uint32_t kQueueSelect = 0x16;
constexpr uint32_t kQueueSize = 0x18;
constexpr uint32_t kQueueMsixVector = 0x1A;
constexpr uint32_t kQueueEnable = 0x1C;
constexpr uint32_t kQueueNotifyOff = 0x1E;
constexpr uint32_t kQueueDesc = 0x20;
constexpr uint32_t kQueueDriver = 0x28;
constexpr uint32_t kQueueDevice = 0x30;
}  // namespace field

struct WritableField {
  uint32_t offset;
  uint32_t size;
};
constexpr WritableField kWritableFields[] = {
    {field::kDeviceFeatureSelect, 4}, {field::kDriverFeatureSelect, 4},
    {field::kDriverFeature, 4},       {field::kConfigMsixVector, 2},
    {field::kDeviceStatus, 1},        {field::kQueueSelect, 2},
    {field::kQueueSize, 2},           {field::kQueueMsixVector, 2},
    {field::kQueueEnable, 2},         {field::kQueueDesc, 8},
    {field::kQueueDriver, 8},         {field::kQueueDevice, 8},
};

void put(uint8_t* at, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t get(const uint8_t* at, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= uint64_t{at[i]} << (8 * i);
  return v;
}

constexpr uint64_t kTransportFeatures =
    bit(feature::kVersion1) | bit(feature::kIndirectDesc) | bit(feature::kEventIdx);

}  // namespace

VirtioPciDevice::VirtioPciDevice(const vmm::GuestMemory& memory, const Params& params)
    : PciDevice(pci::PciIds{.vendor = kPciVendorId,
                            .device = static_cast<uint16_t>(kPciDeviceIdBase + params.device_type),
                            .class_code = params.device_type == device_type::kBlock ? 0x018000u
                                                                                     : 0xFF0000u,
                            .revision = 1,
                            .subsystem_vendor = kPciVendorId,
                            .subsystem = 0x0040}),
      memory_(memory),
      num_queues_(params.num_queues),
      max_queue_size_(std::min<uint16_t>(params.max_queue_size, SplitQueue::kMaxSize)),
      device_features_(params.device_features | kTransportFeatures),
      device_config_size_(params.device_config_size),
      msix_(config_, static_cast<uint16_t>(params.num_queues + 1), 0,
            static_cast<uint32_t>(kMsixTableOffset), static_cast<uint32_t>(kMsixPbaOffset)),
      queues_(params.num_queues) {
  config_.add_bar(0, pci::BarType::kMemory32, kBarSize);
  add_virtio_cap(pci_cap::kCommon, kCommonOffset, kCommonSize);
  uint8_t notify = add_virtio_cap(pci_cap::kNotify, kNotifyOffset,
                                  uint32_t{num_queues_} * kNotifyOffMultiplier, 4);
  config_.set32(notify + 16, kNotifyOffMultiplier);
  add_virtio_cap(pci_cap::kIsr, kIsrOffset, 4);
  if (device_config_size_ > 0) add_virtio_cap(pci_cap::kDevice, kDeviceConfigOffset, device_config_size_);
  pci_cfg_cap_ = add_virtio_cap(pci_cap::kPciCfg, 0, 0, 4);
  config_.set_writable(pci_cfg_cap_ + 4, 1, 0xFF);         // bar
  config_.set_writable(pci_cfg_cap_ + 8, 4, 0xFFFFFFFF);   // offset
  config_.set_writable(pci_cfg_cap_ + 12, 4, 0xFFFFFFFF);  // length
  msix_.set_sender(&gated_msi_);
  for (SplitQueue& q : queues_) q.size = max_queue_size_;
}

uint8_t VirtioPciDevice::add_virtio_cap(uint8_t type, uint32_t offset, uint32_t length, size_t extra) {
  uint8_t cap = config_.add_capability(pci::cap_id::kVendor, 16 + extra);
  config_.set8(cap + 2, static_cast<uint8_t>(16 + extra));  // cap_len
  config_.set8(cap + 3, type);
  config_.set8(cap + 4, 0);  // BAR 0
  config_.set32(cap + 8, offset);
  config_.set32(cap + 12, length);
  return cap;
}

void VirtioPciDevice::set_msi_sender(pci::MsiSender* sender) {
  std::lock_guard lock(mutex_);
  msi_ = sender;
}

void VirtioPciDevice::set_notify_hooks(NotifyHooks* hooks) {
  std::lock_guard lock(mutex_);
  hooks_ = hooks;
  notify_area_reported_ = false;
  report_notify_area();
}

uint8_t VirtioPciDevice::status() {
  std::lock_guard lock(mutex_);
  return status_;
}

uint64_t VirtioPciDevice::driver_features() {
  std::lock_guard lock(mutex_);
  return driver_features_;
}

std::string VirtioPciDevice::last_error() {
  std::lock_guard lock(mutex_);
  return last_error_;
}

bool VirtioPciDevice::live() const {
  using namespace device_status;
  return (status_ & kDriverOk) && (status_ & kFeaturesOk) && !(status_ & (kNeedsReset | kFailed));
}

void VirtioPciDevice::bar_read(int index, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  std::fill(data.begin(), data.end(), 0);
  if (index != 0) return;
  uint64_t n = data.size();
  if (offset < kCommonOffset + kCommonSize) {
    common_read(offset - kCommonOffset, data);
  } else if (offset >= kIsrOffset && offset < kIsrOffset + 4) {
    if (offset == kIsrOffset) {
      data[0] = isr_;  // reading acknowledges
      isr_ = 0;
      update_isr_line();
    }
  } else if (offset >= kDeviceConfigOffset && offset + n <= kDeviceConfigOffset + device_config_size_) {
    read_device_config(static_cast<uint32_t>(offset - kDeviceConfigOffset), data);
  } else if (offset >= kMsixTableOffset && offset < kMsixTableOffset + msix_.table_size()) {
    msix_.table_read(offset - kMsixTableOffset, data);
  } else if (offset >= kMsixPbaOffset && offset < kMsixPbaOffset + msix_.pba_size()) {
    msix_.pba_read(offset - kMsixPbaOffset, data);
  }
}

void VirtioPciDevice::bar_write(int index, uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (index != 0) return;
  uint64_t n = data.size();
  if (offset < kCommonOffset + kCommonSize) {
    common_write(offset - kCommonOffset, data);
  } else if (offset >= kDeviceConfigOffset && offset + n <= kDeviceConfigOffset + device_config_size_) {
    write_device_config(static_cast<uint32_t>(offset - kDeviceConfigOffset), data);
  } else if (offset >= kNotifyOffset && offset < kNotifyOffset + uint64_t{num_queues_} * kNotifyOffMultiplier) {
    kick(static_cast<uint16_t>((offset - kNotifyOffset) / kNotifyOffMultiplier));
  } else if (offset >= kMsixTableOffset && offset < kMsixTableOffset + msix_.table_size()) {
    msix_.table_write(offset - kMsixTableOffset, data);
  }
}

void VirtioPciDevice::common_image(uint8_t* b) {
  std::memset(b, 0, 0x40);
  put(b + field::kDeviceFeatureSelect, device_feature_select_, 4);
  put(b + field::kDeviceFeature,
      device_feature_select_ < 2 ? device_features_ >> (32 * device_feature_select_) : 0, 4);
  put(b + field::kDriverFeatureSelect, driver_feature_select_, 4);
  put(b + field::kDriverFeature,
      driver_feature_select_ < 2 ? driver_features_ >> (32 * driver_feature_select_) : 0, 4);
  put(b + field::kConfigMsixVector, config_msix_vector_, 2);
  put(b + field::kNumQueues, num_queues_, 2);
  b[field::kDeviceStatus] = status_;
  b[field::kConfigGeneration] = config_generation_;
  put(b + field::kQueueSelect, queue_select_, 2);
  if (queue_select_ < num_queues_) {
    const SplitQueue& q = queues_[queue_select_];
    put(b + field::kQueueSize, q.size, 2);
    put(b + field::kQueueMsixVector, q.msix_vector, 2);
    put(b + field::kQueueEnable, q.enabled ? 1 : 0, 2);
    put(b + field::kQueueNotifyOff, queue_select_, 2);
    put(b + field::kQueueDesc, q.desc_address, 8);
    put(b + field::kQueueDriver, q.driver_address, 8);
    put(b + field::kQueueDevice, q.device_address, 8);
  }
}

void VirtioPciDevice::common_read(uint64_t offset, std::span<uint8_t> data) {
  uint8_t image[0x40];
  common_image(image);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < kCommonSize ? image[offset + i] : 0;
}

void VirtioPciDevice::common_write(uint64_t offset, std::span<const uint8_t> data) {
  uint8_t image[0x40];
  common_image(image);
  uint64_t end = std::min<uint64_t>(offset + data.size(), kCommonSize);
  for (uint64_t at = offset; at < end; ++at) image[at] = data[at - offset];
  for (const WritableField& f : kWritableFields) {
    if (f.offset < end && offset < f.offset + f.size) write_field(f.offset, get(image + f.offset, f.size));
  }
}

void VirtioPciDevice::write_field(uint32_t offset, uint64_t value) {
  using namespace device_status;
  SplitQueue* q = queue_select_ < num_queues_ ? &queues_[queue_select_] : nullptr;
  // Queue layout may only change while the queue is disabled.
  bool q_writable = q != nullptr && !q->enabled;
  switch (offset) {
    case field::kDeviceFeatureSelect:
      device_feature_select_ = static_cast<uint32_t>(value);
      break;
    case field::kDriverFeatureSelect:
      driver_feature_select_ = static_cast<uint32_t>(value);
      break;
    case field::kDriverFeature:
      if ((status_ & kFeaturesOk) || driver_feature_select_ >= 2) break;
      driver_features_ &= ~(uint64_t{0xFFFFFFFF} << (32 * driver_feature_select_));
      driver_features_ |= (value & 0xFFFFFFFF) << (32 * driver_feature_select_);
      break;
    case field::kConfigMsixVector:
      config_msix_vector_ = value < msix_.vectors() ? static_cast<uint16_t>(value) : kNoVector;
      break;
    case field::kDeviceStatus:
      write_status(static_cast<uint8_t>(value));
      break;
    case field::kQueueSelect:
      queue_select_ = static_cast<uint16_t>(value);
      break;
    case field::kQueueSize:
      if (q_writable) q->size = static_cast<uint16_t>(value);
      break;
    case field::kQueueMsixVector:
      if (q != nullptr) q->msix_vector = value < msix_.vectors() ? static_cast<uint16_t>(value) : kNoVector;
      break;
    case field::kQueueEnable:
      if (q_writable && value == 1) {
        if (q->size > max_queue_size_) {
          set_needs_reset("queue size above the maximum");
          break;
        }
        const char* why = "";
        if (!q->activate(memory_, has_feature(feature::kEventIdx), has_feature(feature::kIndirectDesc), &why)) {
          set_needs_reset(why);
        }
      }
      break;
    case field::kQueueDesc:
      if (q_writable) q->desc_address = value;
      break;
    case field::kQueueDriver:
      if (q_writable) q->driver_address = value;
      break;
    case field::kQueueDevice:
      if (q_writable) q->device_address = value;
      break;
  }
}

void VirtioPciDevice::write_status(uint8_t value) {
  using namespace device_status;
  if (value == 0) {
    reset_locked();
    return;
  }
  uint8_t old = status_;
  if ((value & kFeaturesOk) && !(old & kFeaturesOk)) {
    bool ok = (driver_features_ & ~device_features_) == 0 && has_feature(feature::kVersion1) &&
              validate_features(driver_features_);
    if (ok) {
      features_accepted(driver_features_);
    } else {
      value &= static_cast<uint8_t>(~kFeaturesOk);
    }
  }
  // FEATURES_OK cannot be withdrawn without a reset; NEEDS_RESET belongs to the device.
  value = static_cast<uint8_t>((value & ~kNeedsReset) | (old & (kNeedsReset | kFeaturesOk)));
  status_ = value;
  if ((status_ & kDriverOk) && !(old & kDriverOk)) {
    for (uint16_t q = 0; q < num_queues_; ++q) {
      if (queues_[q].enabled) kick(q);  // buffers made available before DRIVER_OK
    }
  }
}

void VirtioPciDevice::reset() {
  std::lock_guard lock(mutex_);
  reset_locked();
  msix_.reset();
}

void VirtioPciDevice::reset_locked() {
  status_ = 0;
  device_feature_select_ = 0;
  driver_feature_select_ = 0;
  driver_features_ = 0;
  config_msix_vector_ = kNoVector;
  queue_select_ = 0;
  for (SplitQueue& q : queues_) {
    q.reset();
    q.size = max_queue_size_;
  }
  isr_ = 0;
  update_isr_line();
  held_msis_.clear();
  last_error_.clear();
  device_reset();
}

void VirtioPciDevice::signal_queue(uint16_t q) {
  if (msix_.enabled()) {
    uint16_t vector = queues_[q].msix_vector;
    if (vector != kNoVector) msix_.notify(vector);
    return;
  }
  isr_ |= 1;
  update_isr_line();
}

void VirtioPciDevice::signal_config() {
  if (msix_.enabled()) {
    if (config_msix_vector_ != kNoVector) msix_.notify(config_msix_vector_);
    return;
  }
  isr_ |= 2;
  update_isr_line();
}

void VirtioPciDevice::config_changed() {
  ++config_generation_;
  if (status_ & device_status::kDriverOk) signal_config();
}

void VirtioPciDevice::set_needs_reset(const char* why) {
  last_error_ = why;
  if (status_ & device_status::kNeedsReset) return;
  std::fprintf(stderr, "virtio-pci %04x: device needs reset: %s\n",
               static_cast<unsigned>(config_.get16(pci::reg::kDeviceId)), why);
  status_ |= device_status::kNeedsReset;
  if (status_ & device_status::kDriverOk) signal_config();
}

void VirtioPciDevice::kick(uint16_t q) {
  if (hooks_ != nullptr && q < num_queues_) hooks_->kick(q);
}

void VirtioPciDevice::update_isr_line() { set_intx(isr_ != 0); }

void VirtioPciDevice::GatedMsi::send(uint64_t address, uint32_t data) {
  // Called with the device mutex held (MSI-X code runs under it).
  if (!dev_.dma_allowed()) {
    auto msg = std::make_pair(address, data);
    auto& held = dev_.held_msis_;
    if (std::find(held.begin(), held.end(), msg) == held.end()) held.push_back(msg);
    return;
  }
  if (dev_.msi_ != nullptr) dev_.msi_->send(address, data);
}

void VirtioPciDevice::config_written(uint32_t offset, size_t size, uint16_t old_command) {
  uint16_t command = config_.command();
  uint32_t end = offset + static_cast<uint32_t>(size);
  uint8_t cap = msix_.capability_offset();
  if (offset < cap + 4u && end > cap) msix_.control_written();
  report_notify_area();
  bool was_master = old_command & pci::cmd::kBusMaster;
  bool is_master = command & pci::cmd::kBusMaster;
  if (!was_master && is_master) {
    auto held = std::move(held_msis_);
    held_msis_.clear();
    for (auto& [address, data] : held) {
      if (msi_ != nullptr) msi_->send(address, data);
    }
    for (uint16_t q = 0; q < num_queues_; ++q) {
      if (queues_[q].enabled) kick(q);
    }
    dma_enabled();
  }
}

void VirtioPciDevice::report_notify_area() {
  if (hooks_ == nullptr) return;
  std::optional<uint64_t> area;
  uint64_t bar = config_.bar_address(0);
  if (config_.memory_enabled() && bar != 0) area = bar + kNotifyOffset;
  if (notify_area_reported_ && area == reported_notify_area_) return;
  notify_area_reported_ = true;
  reported_notify_area_ = area;
  hooks_->notify_area_moved(area);
}

// VIRTIO_PCI_CAP_PCI_CFG: pci_cfg_data (4 bytes at cap + 16) is a window into the BAR at the
// bar/offset/length the driver programmed in the capability.
bool VirtioPciDevice::config_read_special(uint32_t offset, std::span<uint8_t> data) {
  uint32_t window = pci_cfg_cap_ + 16u;
  if (offset < window || offset >= window + 4) return false;
  std::fill(data.begin(), data.end(), 0);
  uint32_t length = config_.get32(pci_cfg_cap_ + 12);
  uint32_t bar_offset = config_.get32(pci_cfg_cap_ + 8);
  if (config_.get8(pci_cfg_cap_ + 4) != 0 || (length != 1 && length != 2 && length != 4) ||
      offset != window || data.size() < length || bar_offset >= kBarSize) {
    return true;
  }
  bar_read(0, bar_offset, data.first(length));
  return true;
}

bool VirtioPciDevice::config_write_special(uint32_t offset, std::span<const uint8_t> data) {
  uint32_t window = pci_cfg_cap_ + 16u;
  if (offset < window || offset >= window + 4) return false;
  uint32_t length = config_.get32(pci_cfg_cap_ + 12);
  uint32_t bar_offset = config_.get32(pci_cfg_cap_ + 8);
  if (config_.get8(pci_cfg_cap_ + 4) != 0 || (length != 1 && length != 2 && length != 4) ||
      offset != window || data.size() < length || bar_offset >= kBarSize) {
    return true;
  }
  bar_write(0, bar_offset, data.first(length));
  return true;
}

}  // namespace devices::virtio
