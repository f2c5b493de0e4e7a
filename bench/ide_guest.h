#pragma once
// A minimal PIIX IDE bus-master DMA guest for the host-only benchmarks (primary master), in the
// order Linux's ata_piix/libata BMDMA code uses: PRD table pointer and direction, taskfile
// (LBA48 HOB bytes, then the low bytes, device, command), BM start; on the interrupt: BM
// status, BM stop, status register (clears INTRQ), BM status write-back.
#include <cstdint>

#include "bench/guest_ram.h"
#include "devices/ide/ide.h"

namespace bench {

class IdeGuest {
 public:
  // `segments` PRD entries of 4 KiB on non-contiguous pages.
  IdeGuest(GuestRam& ram, devices::ide::IdeController& ide, uint32_t segments);

  void start(bool write, uint64_t sector);
  // The interrupt handler; true if the command finished without error.
  bool complete();

 private:
  void taskfile(uint32_t reg, uint8_t value);
  void bm_write(uint32_t reg, uint32_t value, size_t size);
  uint8_t bm_read(uint32_t reg);

  devices::ide::IdeController& ide_;
  uint32_t segments_;
  uint32_t prd_table_ = 0;
};

}  // namespace bench
