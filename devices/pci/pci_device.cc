#include "devices/pci/pci_device.h"

namespace devices::pci {

void PciDevice::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (config_read_special(offset, data)) return;
  config_.read(offset, data);
}

void PciDevice::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (config_write_special(offset, data)) return;
  uint16_t old_command = config_.command();
  config_.write(offset, data);
  if (offset <= reg::kCommand + 1 && offset + data.size() > reg::kCommand) update_intx_output();
  config_written(offset, data.size(), old_command);
}

std::vector<PciDevice::Window> PciDevice::decoded_windows() {
  std::lock_guard lock(mutex_);
  std::vector<Window> out;
  for (int i = 0; i < kNumBars; ++i) {
    const auto& info = config_.bar(i);
    if (!info) continue;
    bool io = info->type == BarType::kIo;
    if (io ? !config_.io_enabled() : !config_.memory_enabled()) continue;
    uint64_t address = config_.bar_address(i);
    if (address == 0) continue;  // unassigned
    out.push_back({i, address, info->size, io});
  }
  return out;
}

std::vector<std::pair<int, BarInfo>> PciDevice::bars() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<int, BarInfo>> out;
  for (int i = 0; i < kNumBars; ++i) {
    if (const auto& info = config_.bar(i)) out.emplace_back(i, *info);
  }
  return out;
}

void PciDevice::assign_bar(int index, uint64_t address) {
  std::lock_guard lock(mutex_);
  config_.set_bar_address(index, address);
}

void PciDevice::connect_intx(InterruptLine* line, uint8_t irq) {
  std::lock_guard lock(mutex_);
  intx_line_ = line;
  config_.set8(reg::kInterruptPin, line != nullptr ? 1 : 0);  // INTA#
  config_.set8(reg::kInterruptLine, irq);
}

void PciDevice::set_intx(bool asserted) {
  intx_level_ = asserted;
  config_.set_interrupt_status(asserted);
  update_intx_output();
}

void PciDevice::update_intx_output() {
  bool out = intx_level_ && !config_.intx_disabled();
  if (out == intx_output_) return;
  intx_output_ = out;
  if (intx_line_ != nullptr) intx_line_->set_level(out);
}

}  // namespace devices::pci
