#pragma once
// One PCI function on bus 0: its configuration space, its BARs and an optional INTx pin.
// Subclasses implement the BAR registers and react to configuration writes.
//
// Threading: configuration and BAR accesses come from vCPU threads concurrently, device work
// (e.g. virtqueue processing) from the I/O thread. Every entry point takes mutex(), a
// recursive mutex, so a subclass can use the same lock for all of its state.
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "devices/interrupt_line.h"
#include "devices/pci/pci_config_space.h"

namespace devices::pci {

class PciDevice {
 public:
  explicit PciDevice(const PciIds& ids) : config_(ids) {}
  virtual ~PciDevice() = default;
  PciDevice(const PciDevice&) = delete;
  PciDevice& operator=(const PciDevice&) = delete;

  // Configuration space accesses (offset < 256, 1/2/4 bytes within one dword).
  void config_read(uint32_t offset, std::span<uint8_t> data);
  void config_write(uint32_t offset, std::span<const uint8_t> data);

  // Accesses to BAR `index` at `offset` from its start (1/2/4/8 bytes).
  virtual void bar_read(int index, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void bar_write(int index, uint64_t offset, std::span<const uint8_t> data) = 0;

  // BARs that currently decode: declared, enabled in the command register, address assigned.
  struct Window {
    int bar;
    uint64_t address;
    uint64_t size;
    bool io;
  };
  std::vector<Window> decoded_windows();

  // Setup, before vCPUs run (the BAR allocator uses it).
  std::vector<std::pair<int, BarInfo>> bars();
  void assign_bar(int index, uint64_t address);
  // Wires INTA# to `line`, reported to the guest as `irq` in the interrupt line register.
  void connect_intx(InterruptLine* line, uint8_t irq);

  // Tests and setup code; hold mutex() while the device is live.
  PciConfigSpace& config_space() { return config_; }
  std::recursive_mutex& mutex() { return mutex_; }

 protected:
  // Called with mutex() held after a guest write to [offset, offset + size) was applied.
  // `old_command` is the command register before the write.
  virtual void config_written(uint32_t offset, size_t size, uint16_t old_command) {}
  // Lets a subclass serve special registers (e.g. a window into a BAR). Return true if handled.
  virtual bool config_read_special(uint32_t offset, std::span<uint8_t> data) { return false; }
  virtual bool config_write_special(uint32_t offset, std::span<const uint8_t> data) { return false; }

  // Level of the device's INTx output; delivered unless the command register disables INTx.
  void set_intx(bool asserted);

  PciConfigSpace config_;
  std::recursive_mutex mutex_;

 private:
  void update_intx_output();

  InterruptLine* intx_line_ = nullptr;
  bool intx_level_ = false;
  bool intx_output_ = false;
};

}  // namespace devices::pci
