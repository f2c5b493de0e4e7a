#include "bench/ahci_guest.h"

#include <cstring>
#include <stdexcept>

#include "devices/ata/ata_defs.h"
#include "devices/pci/pci_config_space.h"

namespace bench {
namespace {

using namespace devices::ahci;

constexpr uint32_t kAllPortIrqs = pis::kValid;
constexpr uint32_t kTableBytes = kCmdTablePrdtOffset + 16 * kPrdEntrySize;

void store32(uint8_t* at, uint32_t v) { std::memcpy(at, &v, 4); }

}  // namespace

AhciGuest::AhciGuest(GuestRam& ram, AhciController& hba, const AhciGuestOptions& options)
    : ram_(ram), hba_(hba), options_(options) {
  if (options_.segments == 0 || options_.segments > 16) throw std::invalid_argument("bench: 1..16 PRDs");
  using namespace devices;
  auto config_write = [&](uint32_t offset, uint32_t value, size_t size) {
    uint8_t b[4];
    std::memcpy(b, &value, 4);
    hba_.config_write(offset, std::span<const uint8_t>(b, size));
  };
  config_write(pci::reg::kCommand, pci::cmd::kMemorySpace | pci::cmd::kBusMaster, 2);
  // MSI: one vector (what Linux's ahci uses when the controller has one).
  uint8_t msi = hba_.msi().capability_offset();
  config_write(msi + pci::MsiCapability::kAddressOffset, 0xFEE0'0000, 4);
  config_write(msi + pci::MsiCapability::kAddressHighOffset, 0, 4);
  config_write(msi + pci::MsiCapability::kDataOffset, 0x51, 2);
  config_write(msi + pci::MsiCapability::kControlOffset, pci::MsiCapability::kControlEnable, 2);

  clb_ = ram_.alloc(kCommandSlots * kCommandHeaderSize, 1024);
  uint64_t fb = ram_.alloc(kRxFisSize, 256);
  write(hba::kGhc, hba::kGhcHr);
  write(hba::kGhc, hba::kGhcAe);
  set_port_reg(px::kClb, static_cast<uint32_t>(clb_));
  set_port_reg(px::kClbu, static_cast<uint32_t>(clb_ >> 32));
  set_port_reg(px::kFb, static_cast<uint32_t>(fb));
  set_port_reg(px::kFbu, static_cast<uint32_t>(fb >> 32));
  set_port_reg(px::kCmd, pcmd::kFre | pcmd::kSud | pcmd::kPod);
  set_port_reg(px::kSctl, 1);  // COMRESET
  set_port_reg(px::kSctl, 0);
  set_port_reg(px::kSerr, 0xFFFF'FFFF);
  set_port_reg(px::kIs, 0xFFFF'FFFF);
  set_port_reg(px::kCmd, pcmd::kFre | pcmd::kSud | pcmd::kPod | pcmd::kSt);
  set_port_reg(px::kIe, kAllPortIrqs);
  write(hba::kGhc, hba::kGhcAe | hba::kGhcIe);
  if ((port_reg(px::kSsts) & 0xF) != 3) throw std::runtime_error("bench: AHCI port 0 has no device");

  // Command tables: the FIS is rewritten per command, the PRDT stays.
  for (uint32_t s = 0; s < kCommandSlots; ++s) {
    uint64_t table = ram_.alloc(kTableBytes, 128);
    for (uint32_t i = 0; i < options_.segments; ++i) {
      uint64_t page = ram_.alloc(4096, 4096);
      ram_.alloc(4096, 4096);  // a gap: PRDs are not mergeable
      uint64_t e = table + kCmdTablePrdtOffset + kPrdEntrySize * i;
      ram_.put<uint32_t>(e, static_cast<uint32_t>(page));
      ram_.put<uint32_t>(e + 4, static_cast<uint32_t>(page >> 32));
      ram_.put<uint32_t>(e + 12, 4096 - 1);  // byte count - 1, no interrupt bit (as Linux)
    }
    uint64_t h = clb_ + kCommandHeaderSize * s;
    ram_.put<uint32_t>(h + 8, static_cast<uint32_t>(table));
    ram_.put<uint32_t>(h + 12, static_cast<uint32_t>(table >> 32));
    header_.push_back(ram_.ptr(h, kCommandHeaderSize));
    cfis_.push_back(ram_.ptr(table, fis::kH2dLength));
  }
}

uint32_t AhciGuest::read(uint32_t offset) {
  uint8_t b[4];
  hba_.bar_read(AhciController::kAbarIndex, offset, std::span(b, 4));
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}

void AhciGuest::write(uint32_t offset, uint32_t value) {
  uint8_t b[4];
  std::memcpy(b, &value, 4);
  hba_.bar_write(AhciController::kAbarIndex, offset, std::span<const uint8_t>(b, 4));
}

void AhciGuest::issue(int slot, bool write_op, uint64_t sector) {
  using devices::ata::op::kReadDmaExt;
  using devices::ata::op::kReadFpdmaQueued;
  using devices::ata::op::kWriteDmaExt;
  using devices::ata::op::kWriteFpdmaQueued;
  uint32_t sectors = options_.segments * 8;
  uint8_t* c = cfis_[slot];
  std::memset(c, 0, fis::kH2dLength);
  c[0] = fis::kH2dRegister;
  c[1] = fis::kH2dCommandBit;
  c[4] = static_cast<uint8_t>(sector);
  c[5] = static_cast<uint8_t>(sector >> 8);
  c[6] = static_cast<uint8_t>(sector >> 16);
  c[7] = 0x40;  // LBA mode
  c[8] = static_cast<uint8_t>(sector >> 24);
  c[9] = static_cast<uint8_t>(sector >> 32);
  c[10] = static_cast<uint8_t>(sector >> 40);
  if (options_.ncq) {
    c[2] = write_op ? kWriteFpdmaQueued : kReadFpdmaQueued;
    c[3] = static_cast<uint8_t>(sectors);  // FPDMA: sector count in FEATURES
    c[11] = static_cast<uint8_t>(sectors >> 8);
    c[12] = static_cast<uint8_t>(slot << 3);  // tag in COUNT 7:3
  } else {
    c[2] = write_op ? kWriteDmaExt : kReadDmaExt;
    c[12] = static_cast<uint8_t>(sectors);
    c[13] = static_cast<uint8_t>(sectors >> 8);
  }
  // Header DW0: FIS length 5 dwords, W, PRDT length; DW1 PRDBC cleared.
  store32(header_[slot], 5u | (write_op ? kCmdHeaderWrite : 0) | options_.segments << 16);
  store32(header_[slot] + 4, 0);
  uint32_t bit = 1u << slot;
  outstanding_ |= bit;
  if (options_.ncq) set_port_reg(px::kSact, bit);
  set_port_reg(px::kCi, bit);
}

uint32_t AhciGuest::reap() {
  uint32_t hba_is = read(hba::kIs);
  if (hba_is == 0) return 0;
  uint32_t is = port_reg(px::kIs);
  set_port_reg(px::kIs, is);
  if (is & pis::kTfes) ++errors_;
  uint32_t still = options_.ncq ? port_reg(px::kSact) : port_reg(px::kCi);
  write(hba::kIs, hba_is);
  uint32_t done = outstanding_ & ~still;
  outstanding_ &= still;
  return done;
}

}  // namespace bench
