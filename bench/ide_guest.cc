#include "bench/ide_guest.h"

#include <cstring>
#include <stdexcept>

#include "devices/ata/ata_defs.h"
#include "devices/pci/pci_config_space.h"

namespace bench {
namespace {
using namespace devices::ide;
}  // namespace

IdeGuest::IdeGuest(GuestRam& ram, IdeController& ide, uint32_t segments) : ide_(ide), segments_(segments) {
  if (segments == 0 || segments > 16) throw std::invalid_argument("bench: 1..16 PRDs");
  uint8_t cmd[2] = {devices::pci::cmd::kIoSpace | devices::pci::cmd::kBusMaster, 0};
  ide_.config_write(devices::pci::reg::kCommand, std::span<const uint8_t>(cmd, 2));
  // One PRD table (below 4 GiB, dword aligned, not crossing 64 KiB).
  uint64_t table = ram.alloc(8 * segments, 256);
  for (uint32_t i = 0; i < segments; ++i) {
    uint64_t page = ram.alloc(4096, 4096);
    ram.alloc(4096, 4096);  // a gap: entries are not mergeable
    ram.put<uint32_t>(table + 8 * i, static_cast<uint32_t>(page));
    ram.put<uint32_t>(table + 8 * i + 4, 4096u | (i + 1 == segments ? bm::kPrdEot : 0));
  }
  prd_table_ = static_cast<uint32_t>(table);
}

void IdeGuest::taskfile(uint32_t reg, uint8_t value) {
  ide_.command_write(0, reg, std::span<const uint8_t>(&value, 1));
}

void IdeGuest::bm_write(uint32_t reg, uint32_t value, size_t size) {
  uint8_t b[4];
  std::memcpy(b, &value, 4);
  ide_.bar_write(IdeController::kBmideBar, reg, std::span<const uint8_t>(b, size));
}

uint8_t IdeGuest::bm_read(uint32_t reg) {
  uint8_t v = 0;
  ide_.bar_read(IdeController::kBmideBar, reg, std::span(&v, 1));
  return v;
}

void IdeGuest::start(bool write, uint64_t sector) {
  uint32_t sectors = segments_ * 8;
  bm_write(bm::kPrdTable, prd_table_, 4);
  bm_write(bm::kCommand, write ? 0 : bm::kCmdToMemory, 1);
  // LBA48: the HOB ("previous") bytes first, then the current ones.
  taskfile(reg::kError, 0);
  taskfile(reg::kCount, static_cast<uint8_t>(sectors >> 8));
  taskfile(reg::kLbaLow, static_cast<uint8_t>(sector >> 24));
  taskfile(reg::kLbaMid, static_cast<uint8_t>(sector >> 32));
  taskfile(reg::kLbaHigh, static_cast<uint8_t>(sector >> 40));
  taskfile(reg::kError, 0);
  taskfile(reg::kCount, static_cast<uint8_t>(sectors));
  taskfile(reg::kLbaLow, static_cast<uint8_t>(sector));
  taskfile(reg::kLbaMid, static_cast<uint8_t>(sector >> 8));
  taskfile(reg::kLbaHigh, static_cast<uint8_t>(sector >> 16));
  taskfile(reg::kDevice, 0x40);  // LBA, master
  taskfile(reg::kStatus, write ? devices::ata::op::kWriteDmaExt : devices::ata::op::kReadDmaExt);
  bm_write(bm::kCommand, (write ? 0 : bm::kCmdToMemory) | bm::kCmdStart, 1);
}

bool IdeGuest::complete() {
  uint8_t bm_status = bm_read(bm::kStatus);
  bm_write(bm::kCommand, 0, 1);  // stop the engine
  uint8_t status = 0;
  ide_.command_read(0, reg::kStatus, std::span(&status, 1));  // acknowledges INTRQ
  bm_write(bm::kStatus, bm_status, 1);                        // clears interrupt/error
  return (bm_status & bm::kStInterrupt) && !(bm_status & bm::kStError) &&
         !(status & (devices::ata::st::kErr | devices::ata::st::kBsy));
}

}  // namespace bench
