#include "devices/pci/pci_bus.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace devices::pci {

HostBridge::HostBridge()
    : PciDevice(PciIds{.vendor = 0x1B36, .device = 0x0008, .class_code = 0x060000}) {}

void HostBridge::bar_read(int, uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xFF);
}

PciBus::PciBus() { add(std::make_shared<HostBridge>(), 0); }

int PciBus::add(std::shared_ptr<PciDevice> device, int slot) {
  if (!device) throw std::invalid_argument("pci: null device");
  if (slot < 0) {
    for (int i = 0; i < kSlotsPerBus; ++i) {
      if (!slots_[i]) {
        slot = i;
        break;
      }
    }
    if (slot < 0) throw std::length_error("pci: bus 0 is full");
  }
  if (slot >= kSlotsPerBus || slots_[slot]) throw std::invalid_argument("pci: slot taken");
  slots_[slot] = std::move(device);
  refresh_routes();
  return slot;
}

PciDevice* PciBus::device(int slot) const {
  return slot >= 0 && slot < kSlotsPerBus ? slots_[slot].get() : nullptr;
}

void PciBus::assign_bars(BarAllocator& memory, BarAllocator& io) {
  struct Want {
    PciDevice* device;
    int bar;
    uint64_t size;
    bool io;
  };
  std::vector<Want> wants;
  for (auto& dev : slots_) {
    if (!dev) continue;
    for (auto& [index, info] : dev->bars()) {
      if (dev->config_space().bar_address(index) != 0) continue;
      wants.push_back({dev.get(), index, info.size, info.type == BarType::kIo});
    }
  }
  std::stable_sort(wants.begin(), wants.end(),
                   [](const Want& a, const Want& b) { return a.size > b.size; });
  for (const Want& w : wants) {
    auto address = (w.io ? io : memory).allocate(w.size);
    if (!address) throw std::length_error(w.io ? "pci: I/O window exhausted" : "pci: MMIO window exhausted");
    w.device->assign_bar(w.bar, *address);
  }
  refresh_routes();
}

PciDevice* PciBus::target(uint32_t address) const {
  if (!(address & 0x8000'0000u)) return nullptr;
  uint32_t bus = (address >> 16) & 0xFF;
  uint32_t slot = (address >> 11) & 0x1F;
  uint32_t function = (address >> 8) & 0x7;
  uint32_t extended = (address >> 24) & 0x0F;  // AMD extended register bits: unsupported
  if (bus != 0 || function != 0 || extended != 0) return nullptr;
  return slots_[slot].get();
}

void PciBus::config_read(uint32_t address, uint32_t byte, std::span<uint8_t> data) {
  std::lock_guard lock(config_mutex_);
  PciDevice* dev = target(address);
  if (dev == nullptr) {
    std::fill(data.begin(), data.end(), 0xFF);
    return;
  }
  dev->config_read((address & 0xFC) + byte, data);
}

void PciBus::config_write(uint32_t address, uint32_t byte, std::span<const uint8_t> data) {
  std::lock_guard lock(config_mutex_);
  PciDevice* dev = target(address);
  if (dev == nullptr) return;
  dev->config_write((address & 0xFC) + byte, data);
  refresh_routes();  // BARs or the command register may have changed
}

void PciBus::refresh_routes() {
  std::vector<Route> routes;
  for (auto& dev : slots_) {
    if (!dev) continue;
    for (const PciDevice::Window& w : dev->decoded_windows()) {
      routes.push_back({w.address, w.size, dev.get(), w.bar, w.io});
    }
  }
  std::unique_lock lock(routes_mutex_);
  routes_ = std::move(routes);
}

const PciBus::Route* PciBus::find(uint64_t address, size_t size, bool io) const {
  for (const Route& r : routes_) {
    if (r.io == io && address >= r.address && address - r.address < r.size &&
        size <= r.size - (address - r.address)) {
      return &r;
    }
  }
  return nullptr;
}

bool PciBus::route_read(uint64_t address, std::span<uint8_t> data, bool io) {
  std::shared_lock lock(routes_mutex_);
  const Route* r = find(address, data.size(), io);
  if (r == nullptr) {
    std::fill(data.begin(), data.end(), 0xFF);
    return false;
  }
  r->device->bar_read(r->bar, address - r->address, data);
  return true;
}

bool PciBus::route_write(uint64_t address, std::span<const uint8_t> data, bool io) {
  std::shared_lock lock(routes_mutex_);
  const Route* r = find(address, data.size(), io);
  if (r == nullptr) return false;
  r->device->bar_write(r->bar, address - r->address, data);
  return true;
}

bool PciBus::mmio_read(uint64_t address, std::span<uint8_t> data) { return route_read(address, data, false); }
bool PciBus::mmio_write(uint64_t address, std::span<const uint8_t> data) {
  return route_write(address, data, false);
}
bool PciBus::io_read(uint64_t port, std::span<uint8_t> data) { return route_read(port, data, true); }
bool PciBus::io_write(uint64_t port, std::span<const uint8_t> data) { return route_write(port, data, true); }

void PciConfigIo::read(uint64_t offset, std::span<uint8_t> data) {
  if (offset < 4) {
    std::lock_guard lock(mutex_);
    if (offset == 0 && data.size() == 4) {
      std::memcpy(data.data(), &address_, 4);
    } else {
      std::fill(data.begin(), data.end(), 0xFF);
    }
    return;
  }
  uint32_t address;
  {
    std::lock_guard lock(mutex_);
    address = address_;
  }
  auto byte = static_cast<uint32_t>(offset - 4);
  if (byte + data.size() > 4) {
    std::fill(data.begin(), data.end(), 0xFF);
    return;
  }
  bus_.config_read(address, byte, data);
}

void PciConfigIo::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset < 4) {
    // Only dword writes latch an address; byte writes to 0xCF8-0xCFB (the old mechanism #2
    // probe) are ignored.
    if (offset == 0 && data.size() == 4) {
      std::lock_guard lock(mutex_);
      std::memcpy(&address_, data.data(), 4);
      address_ &= 0x8FFF'FFFCu;  // reserved bits 30:28 and 1:0 read as zero
    }
    return;
  }
  uint32_t address;
  {
    std::lock_guard lock(mutex_);
    address = address_;
  }
  auto byte = static_cast<uint32_t>(offset - 4);
  if (byte + data.size() > 4) return;
  bus_.config_write(address, byte, data);
}

void PciMmioWindow::read(uint64_t offset, std::span<uint8_t> data) {
  bus_.mmio_read(base_ + offset, data);
}

void PciMmioWindow::write(uint64_t offset, std::span<const uint8_t> data) {
  bus_.mmio_write(base_ + offset, data);
}

}  // namespace devices::pci
