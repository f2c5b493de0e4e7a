#pragma once
// A minimal AHCI guest driver for the host-only benchmarks: port 0 of an AhciController set up
// the way Linux's ahci driver does it (HBA reset, AHCI enable, command list and received-FIS
// area, COMRESET, FRE + ST, all port interrupts, MSI). Each of up to 32 slots gets a command
// table with `segments` PRDs of 4 KiB on non-contiguous pages, built once; issuing a command
// only rewrites the command FIS and writes PxSACT (NCQ) and PxCI, and the interrupt handler
// reads and acknowledges PxIS/IS and finds finished tags in PxSACT (NCQ) or PxCI (DMA).
#include <cstdint>
#include <vector>

#include "bench/guest_ram.h"
#include "devices/ahci/ahci.h"

namespace bench {

struct AhciGuestOptions {
  bool ncq = true;        // READ/WRITE FPDMA QUEUED; else READ/WRITE DMA EXT
  uint32_t segments = 1;  // PRDs of 4 KiB per command
};

class AhciGuest {
 public:
  AhciGuest(GuestRam& ram, devices::ahci::AhciController& hba, const AhciGuestOptions& options);

  // Builds slot `slot`'s command for `sector` and issues it.
  void issue(int slot, bool write, uint64_t sector);
  // The interrupt handler: acknowledges and returns the slots that finished since the last call.
  uint32_t reap();

  uint64_t errors() const { return errors_; }

 private:
  uint32_t read(uint32_t offset);
  void write(uint32_t offset, uint32_t value);
  uint32_t port_reg(uint32_t reg) { return read(devices::ahci::kPortBase + reg); }
  void set_port_reg(uint32_t reg, uint32_t value) { write(devices::ahci::kPortBase + reg, value); }

  GuestRam& ram_;
  devices::ahci::AhciController& hba_;
  AhciGuestOptions options_;
  uint64_t clb_ = 0;
  std::vector<uint8_t*> cfis_;    // host pointer to each slot's command FIS
  std::vector<uint8_t*> header_;  // host pointer to each slot's command header
  uint32_t outstanding_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace bench
