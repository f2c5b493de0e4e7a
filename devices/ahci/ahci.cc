#include "devices/ahci/ahci.h"

#include <poll.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace devices::ahci {
namespace {

using ata::Plan;
using ata::Protocol;

pci::PciIds ahci_ids() {
  pci::PciIds ids;
  ids.vendor = AhciController::kVendorId;
  ids.device = AhciController::kDeviceId;
  ids.class_code = AhciController::kClassCode;
  ids.revision = 2;
  ids.subsystem_vendor = AhciController::kVendorId;
  ids.subsystem = AhciController::kDeviceId;
  return ids;
}

uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

AhciController::AhciController(const vmm::GuestMemory& memory, std::vector<AhciDisk> disks)
    : pci::PciDevice(ahci_ids()), memory_(memory), msi_(config_) {
  if (disks.empty() || disks.size() > kMaxPorts) throw std::invalid_argument("ahci: 1..6 ports");
  config_.add_bar(kAbarIndex, pci::BarType::kMemory32, kAbarSize);
  ports_.resize(disks.size());
  for (size_t i = 0; i < disks.size(); ++i) {
    Port& p = ports_[i];
    p.backend = disks[i].backend;
    if (p.backend != nullptr) {
      p.drive = std::make_unique<ata::AtaDrive>(*p.backend, ata::Transport::kAhci, disks[i].info);
    }
    p.slots = std::make_unique<std::array<Slot, kCommandSlots>>();
    for (uint32_t s = 0; s < kCommandSlots; ++s) {
      Slot& slot = (*p.slots)[s];
      slot.owner = this;
      slot.port = static_cast<int>(i);
      slot.index = static_cast<int>(s);
      slot.req.completion = &slot;
    }
  }
  hba_reset();
}

AhciController::~AhciController() {
  // Requests still in a backend point at our slots: wait for them (the I/O thread is gone).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto& p : ports_) {
    if (p.backend == nullptr) continue;
    while (busy_slots(static_cast<int>(&p - ports_.data())) > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{p.backend->completion_fd(), POLLIN, 0};
      ::poll(&pfd, 1, 100);
      std::lock_guard lock(mutex_);
      for (auto& s : *p.slots) s.orphaned = true;
      p.backend->process_completions();
    }
  }
}

void AhciController::set_msi_sender(pci::MsiSender* sender) {
  std::lock_guard lock(mutex_);
  msi_.set_sender(sender);
}

void AhciController::set_io_thread_hook(ata::IoThreadHook* hook) {
  std::lock_guard lock(mutex_);
  hook_ = hook;
}

int AhciController::busy_slots(int port) {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (auto& s : *ports_.at(port).slots) n += s.busy;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Register access

void AhciController::bar_read(int index, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  std::memset(data.data(), 0, data.size());
  if (index != kAbarIndex) return;
  for (size_t done = 0; done < data.size();) {
    uint64_t at = offset + done;
    uint64_t dword_at = at & ~uint64_t{3};
    uint32_t v = dword_at < kAbarSize ? read_reg(static_cast<uint32_t>(dword_at)) : 0;
    size_t shift = at - dword_at;
    size_t n = std::min<size_t>(4 - shift, data.size() - done);
    for (size_t i = 0; i < n; ++i) data[done + i] = static_cast<uint8_t>(v >> (8 * (shift + i)));
    done += n;
  }
}

void AhciController::bar_write(int index, uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (index != kAbarIndex) return;
  for (size_t done = 0; done < data.size();) {
    uint64_t at = offset + done;
    uint64_t dword_at = at & ~uint64_t{3};
    size_t shift = at - dword_at;
    size_t n = std::min<size_t>(4 - shift, data.size() - done);
    if (dword_at >= kAbarSize) return;
    auto reg = static_cast<uint32_t>(dword_at);
    // Partial writes: bytes not written count as 0 for write-1-to-clear/set registers and
    // keep their value elsewhere.
    bool one_sided = reg == hba::kIs;
    if (reg >= kPortBase) {
      uint32_t r = (reg - kPortBase) % kPortStride;
      one_sided = r == px::kIs || r == px::kSerr || r == px::kCi || r == px::kSact;
    }
    uint32_t v = (n == 4 || one_sided) ? 0 : read_reg(reg);
    for (size_t i = 0; i < n; ++i) {
      uint32_t sh = static_cast<uint32_t>(8 * (shift + i));
      v = (v & ~(0xFFu << sh)) | uint32_t{data[done + i]} << sh;
    }
    write_reg(reg, v);
    done += n;
  }
}

uint32_t AhciController::read_reg(uint32_t offset) {
  if (offset >= kPortBase) {
    uint32_t port = (offset - kPortBase) / kPortStride;
    if (port >= ports_.size()) return 0;
    return read_port_reg(ports_[port], (offset - kPortBase) % kPortStride);
  }
  switch (offset) {
    case hba::kCap:
      return hba::kCapS64a | hba::kCapSncq | hba::kCapSam | hba::kCapIssGen2 |
             ((kCommandSlots - 1) << hba::kCapNcsShift) | static_cast<uint32_t>(ports_.size() - 1);
    case hba::kGhc:
      return ghc_;
    case hba::kIs:
      return is_;
    case hba::kPi:
      return (1u << ports_.size()) - 1;
    case hba::kVs:
      return hba::kVersion13;
    default:
      return 0;  // CCC, enclosure management, CAP2, BOHC: not implemented
  }
}

void AhciController::write_reg(uint32_t offset, uint32_t value) {
  if (offset >= kPortBase) {
    uint32_t port = (offset - kPortBase) / kPortStride;
    if (port < ports_.size()) write_port_reg(static_cast<int>(port), (offset - kPortBase) % kPortStride, value);
    return;
  }
  switch (offset) {
    case hba::kGhc:
      if (value & hba::kGhcHr) {
        hba_reset();
        return;
      }
      ghc_ = hba::kGhcAe | (value & hba::kGhcIe);
      update_irq(false);
      return;
    case hba::kIs:
      is_ &= ~value;
      update_irq(false);
      return;
    default:
      return;
  }
}

uint32_t AhciController::read_port_reg(Port& p, uint32_t reg) {
  switch (reg) {
    case px::kClb: return p.clb;
    case px::kClbu: return p.clbu;
    case px::kFb: return p.fb;
    case px::kFbu: return p.fbu;
    case px::kIs: return p.is;
    case px::kIe: return p.ie;
    case px::kCmd: return p.cmd;
    case px::kTfd: return p.tfd;
    case px::kSig: return p.sig;
    case px::kSsts: return p.ssts;
    case px::kSctl: return p.sctl;
    case px::kSerr: return p.serr;
    case px::kSact: return p.sact;
    case px::kCi: return p.ci;
    default: return 0;
  }
}

void AhciController::write_port_reg(int port, uint32_t reg, uint32_t value) {
  Port& p = ports_[port];
  switch (reg) {
    case px::kClb:
      p.clb = value & ~0x3FFu;
      return;
    case px::kClbu:
      p.clbu = value;
      return;
    case px::kFb:
      p.fb = value & ~0xFFu;
      return;
    case px::kFbu:
      p.fbu = value;
      return;
    case px::kIs:
      p.is &= ~value;
      update_irq(false);
      return;
    case px::kIe:
      p.ie = value & pis::kValid;
      if (p.is & p.ie) raise(port, 0);
      return;
    case px::kCmd:
      write_port_cmd(port, value);
      return;
    case px::kSctl: {
      uint32_t old_det = p.sctl & 0xF;
      p.sctl = value & 0xFFF;
      uint32_t det = value & 0xF;
      if (det == 1 && old_det != 1) {
        // COMRESET asserted: the device drops off the link and aborts everything.
        stop_port(p);
        p.ssts = 0;
        p.tfd = 0x80;
      } else if (det == 0 && old_det == 1) {
        port_reset(port, true);
      }
      return;
    }
    case px::kSerr:
      p.serr &= ~value;
      return;
    case px::kSact:
      if (p.cmd & pcmd::kSt) p.sact |= value;
      return;
    case px::kCi:
      if (!(p.cmd & pcmd::kSt)) return;
      p.ci |= value;
      if (value != 0) kick(port);
      return;
    default:
      return;  // TFD, SIG, SSTS read-only; SNTF/FBS/DEVSLP not implemented
  }
}

void AhciController::write_port_cmd(int port, uint32_t value) {
  Port& p = ports_[port];
  uint32_t old = p.cmd;
  uint32_t keep = p.cmd & (pcmd::kCr | pcmd::kFr);
  p.cmd = (value & (pcmd::kSt | pcmd::kSud | pcmd::kPod | pcmd::kFre)) | keep;
  if (value & pcmd::kClo) p.tfd &= ~uint32_t{ata::st::kBsy | ata::st::kDrq};  // command list override
  if (p.cmd & pcmd::kFre) {
    p.cmd |= pcmd::kFr;
  } else {
    p.cmd &= ~pcmd::kFr;
  }
  bool was_running = old & pcmd::kSt;
  bool running = p.cmd & pcmd::kSt;
  if (was_running && !running) {
    stop_port(p);
    p.cmd &= ~(pcmd::kCr | (0x1Fu << pcmd::kCcsShift));
  } else if (!was_running && running) {
    p.cmd |= pcmd::kCr;
    p.halted = false;
    if (p.ci) kick(port);
  }
}

// Aborts every command: their backend requests (if any) are orphaned.
void AhciController::stop_port(Port& p) {
  for (auto& s : *p.slots) {
    if (s.busy) s.orphaned = true;
    s.parked = false;
  }
  p.ci = 0;
  p.sact = 0;
  p.started = 0;
  p.nonqueued = false;
  p.tfd &= ~uint32_t{ata::st::kBsy | ata::st::kDrq};
}

void AhciController::port_reset(int port, bool device_present_fis) {
  Port& p = ports_[port];
  stop_port(p);
  p.halted = false;
  if (p.drive) {
    p.drive->reset();
    p.ssts = kSstsPresentGen1Active;
    p.sig = ata::kAhciSignature;
    p.tfd = uint32_t{0x01} << 8 | ata::st::kReady;
    if (device_present_fis) {
      // The device's first D2H register FIS after reset carries the signature.
      uint8_t f[20] = {};
      f[0] = fis::kD2hRegister;
      f[2] = ata::st::kReady;
      f[3] = 0x01;
      f[4] = ata::kSignatureLbaLow;
      f[5] = ata::kSignatureLbaMid;
      f[6] = ata::kSignatureLbaHigh;
      f[12] = ata::kSignatureCount;
      write_fis(p, kRxD2hRegister, f, sizeof f);
    }
  } else {
    p.ssts = 0;
    p.sig = 0xFFFFFFFF;
    p.tfd = 0x7F;
  }
}

void AhciController::hba_reset() {
  ghc_ = hba::kGhcAe;
  is_ = 0;
  for (size_t i = 0; i < ports_.size(); ++i) {
    Port& p = ports_[i];
    stop_port(p);
    p.clb = p.clbu = p.fb = p.fbu = 0;
    p.is = p.ie = 0;
    p.cmd = pcmd::kSud | pcmd::kPod;
    p.sctl = 0;
    p.serr = 0;
    port_reset(static_cast<int>(i), false);
  }
  update_irq(false);
}

void AhciController::reset() {
  std::lock_guard lock(mutex_);
  hba_reset();
  msi_.reset();
  msi_held_ = false;
}

void AhciController::config_written(uint32_t offset, size_t size, uint16_t old_command) {
  bool was = old_command & pci::cmd::kBusMaster;
  if (was || !bus_master()) return;
  // Bus mastering is back: deliver what was parked, send a held MSI, resume the ports.
  for (size_t i = 0; i < ports_.size(); ++i) {
    for (auto& s : *ports_[i].slots) {
      if (s.parked) {
        s.parked = false;
        on_complete(s, s.parked_status, s.parked_bytes);
      }
    }
  }
  if (msi_held_) {
    msi_held_ = false;
    msi_.notify();
  }
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (ports_[i].ci & ~ports_[i].started) kick(static_cast<int>(i));
  }
}

// ---------------------------------------------------------------------------------------------
// Interrupts

void AhciController::raise(int port, uint32_t bits) {
  Port& p = ports_[port];
  p.is |= bits;
  bool event = (bits & p.ie) != 0 || bits == 0;
  if (p.is & p.ie) is_ |= 1u << port;
  update_irq(event && (p.is & p.ie));
}

void AhciController::update_irq(bool new_event) {
  // Port interrupts still pending re-assert the HBA bit after the guest cleared it.
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (ports_[i].is & ports_[i].ie) is_ |= 1u << i;
  }
  bool pending = (ghc_ & hba::kGhcIe) && is_ != 0;
  if (msi_.enabled()) {
    set_intx(false);
    if (pending && new_event) {
      if (!bus_master()) {
        msi_held_ = true;
      } else if (msi_coalesce_depth_ > 0) {
        msi_coalesced_ = true;
      } else {
        msi_.notify();
      }
    }
    return;
  }
  set_intx(pending);
}

AhciController::CoalescedMsi::~CoalescedMsi() {
  if (--c_.msi_coalesce_depth_ > 0 || !std::exchange(c_.msi_coalesced_, false)) return;
  if (!c_.msi_.enabled()) return;  // the guest switched to INTx meanwhile: the line carries it
  if (c_.bus_master()) {
    c_.msi_.notify();
  } else {
    c_.msi_held_ = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Guest memory helpers (every access bounds-checked by GuestMemory::span)

bool AhciController::read_guest(uint64_t address, void* out, size_t size) {
  try {
    auto s = memory_.span(address, size);
    std::memcpy(out, s.data(), size);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void AhciController::write_guest32(uint64_t address, uint32_t value) {
  try {
    auto s = memory_.span(address, 4);
    std::memcpy(s.data(), &value, 4);
  } catch (const std::exception&) {
  }
}

void AhciController::write_fis(Port& p, uint32_t offset, const uint8_t* f, size_t size) {
  if (!(p.cmd & pcmd::kFre)) return;
  try {
    auto s = memory_.span(fis_base(p) + offset, size);
    std::memcpy(s.data(), f, size);
  } catch (const std::exception&) {
    // FIS area outside RAM: the registers still carry the result.
  }
}

void AhciController::write_d2h(Port& p, uint8_t status, uint8_t error, bool interrupt) {
  uint8_t f[20] = {};
  f[0] = fis::kD2hRegister;
  f[1] = interrupt ? fis::kInterruptBit : 0;
  f[2] = status;
  f[3] = error;
  write_fis(p, kRxD2hRegister, f, sizeof f);
}

void AhciController::write_pio_setup(Port& p, uint8_t status, uint8_t error) {
  uint8_t f[20] = {};
  f[0] = fis::kPioSetup;
  f[1] = fis::kDirectionIn | fis::kInterruptBit;
  f[2] = static_cast<uint8_t>((status & ~ata::st::kBsy) | ata::st::kDrq);
  f[3] = error;
  f[15] = status;  // E_Status: the status once the transfer is over
  f[16] = 0x00;    // transfer count 512
  f[17] = 0x02;
  write_fis(p, kRxPioSetup, f, sizeof f);
}

void AhciController::write_sdb(Port& p, uint8_t status, uint8_t error, uint32_t sactive) {
  uint8_t f[8] = {};
  f[0] = fis::kSetDeviceBits;
  f[1] = fis::kInterruptBit;
  f[2] = static_cast<uint8_t>((status & 0x07) | (status & 0x70));
  f[3] = error;
  std::memcpy(f + 4, &sactive, 4);
  write_fis(p, kRxSetDeviceBits, f, sizeof f);
}

// ---------------------------------------------------------------------------------------------
// Command processing (I/O thread)

void AhciController::kick(int port) {
  Port& p = ports_[port];
  if (p.processing) {
    // Only the I/O thread is ever inside process_port() (the mutex is held throughout): its
    // scan reruns, which spares a post (a mutex and an eventfd write on the real I/O loop).
    p.reprocess = true;
    return;
  }
  if (p.kick_posted) return;
  if (hook_ == nullptr) return;
  p.kick_posted = true;
  hook_->post([this, port] { process_port(port); });
}

void AhciController::process_port(int port) {
  std::lock_guard lock(mutex_);
  Port& p = ports_.at(port);
  p.kick_posted = false;
  if (p.processing) {
    p.reprocess = true;  // called from a completion inside submit(): the loop below reruns
    return;
  }
  p.processing = true;
  CoalescedMsi coalesced(*this);  // synchronous completions of one scan: one MSI
  // One batch per scan: one kernel submission for all started commands (io_uring), and
  // synchronous completions reaped below without a system call (NullDriver).
  std::optional<block::Backend::Batch> batch;
  if (p.backend != nullptr) batch.emplace(*p.backend);
  do {
    p.reprocess = false;
    for (uint32_t s = 0; s < kCommandSlots; ++s) {
      if (!(p.cmd & pcmd::kSt) || p.halted || !bus_master()) break;
      uint32_t bit = 1u << s;
      if (!(p.ci & bit) || (p.started & bit)) continue;
      if ((*p.slots)[s].busy || (*p.slots)[s].parked) continue;  // an aborted request still runs
      if (p.nonqueued) break;
      start_command(port, static_cast<int>(s));
    }
    // Inside the loop: a completion may free a slot and ask for another scan (reprocess).
    if (p.backend != nullptr) p.backend->process_ready_completions();
  } while (p.reprocess);
  p.processing = false;
}

size_t AhciController::process_completions(int port) {
  std::lock_guard lock(mutex_);
  Port& p = ports_.at(port);
  if (p.backend == nullptr) return 0;
  CoalescedMsi coalesced(*this);
  return p.backend->process_completions();
}

void AhciController::fail_command(int port, int slot, uint8_t error) {
  Slot& s = (*ports_[port].slots)[slot];
  s.plan = ata::AtaDrive::error(error);
  finish(port, s, s.plan, 0);
}

void AhciController::start_command(int port, int slot) {
  Port& p = ports_[port];
  Slot& s = (*p.slots)[slot];
  uint32_t bit = 1u << slot;
  uint64_t clb = uint64_t{p.clbu} << 32 | p.clb;
  s.header_address = clb + uint64_t{kCommandHeaderSize} * slot;
  s.plan = Plan{};
  s.prd_interrupt = false;

  uint8_t header[16];
  if (!p.drive || !read_guest(s.header_address, header, sizeof header)) {
    p.started |= bit;
    s.ncq = false;
    s.header_address = 0;  // no PRDBC update into a bad list
    fail_command(port, slot, ata::err::kAbrt);
    return;
  }
  uint32_t dw0 = le32(header);
  uint32_t cfl = dw0 & kCmdHeaderCflMask;
  uint32_t prdtl = dw0 >> 16;
  uint64_t ctba = (uint64_t{le32(header + 12)} << 32 | le32(header + 8)) & ~uint64_t{0x7F};
  uint8_t cfis[fis::kH2dLength];
  bool fis_ok = cfl >= fis::kH2dLength / 4 && cfl <= 16 && read_guest(ctba, cfis, sizeof cfis) &&
                cfis[0] == fis::kH2dRegister && (cfis[1] & fis::kH2dCommandBit);
  if (!fis_ok) {
    // A non-command FIS cannot be NCQ: it blocks the port like any non-queued failure.
    p.started |= bit;
    s.ncq = false;
    fail_command(port, slot, ata::err::kAbrt);
    return;
  }
  ata::Taskfile tf;
  tf.command = cfis[2];
  tf.features = static_cast<uint16_t>(cfis[3] | cfis[11] << 8);
  tf.lba = uint64_t{cfis[4]} | uint64_t{cfis[5]} << 8 | uint64_t{cfis[6]} << 16 |
           uint64_t{cfis[8]} << 24 | uint64_t{cfis[9]} << 32 | uint64_t{cfis[10]} << 40;
  tf.device = cfis[7];
  tf.count = static_cast<uint16_t>(cfis[12] | cfis[13] << 8);

  bool ncq = tf.command == ata::op::kReadFpdmaQueued || tf.command == ata::op::kWriteFpdmaQueued;
  if (!ncq && p.started != 0) return;  // non-queued commands wait for the queue to drain
  p.started |= bit;
  if (!ncq) {
    p.nonqueued = true;
    p.tfd = (p.tfd & ~0xFFu) | ata::st::kBsy | ata::st::kDrdy;
  }

  Plan plan = p.drive->decode(tf);
  s.plan = plan;
  s.ncq = false;
  if (ncq && ((tf.count >> 3) & 0x1F) != static_cast<uint32_t>(slot)) {
    plan = ata::AtaDrive::error(ata::err::kAbrt);  // the tag must name this slot
    s.plan = plan;
  } else if (ncq && !(p.sact & bit)) {
    plan = ata::AtaDrive::error(ata::err::kAbrt);  // SACT must be set before CI
    s.plan = plan;
  } else if (ncq) {
    // Accepted: the device releases BSY with a D2H FIS (no interrupt) and CI clears. Errors
    // found from now on (range, I/O) come back through a Set Device Bits FIS.
    s.ncq = true;
    p.ci &= ~bit;
    p.tfd = (p.tfd & ~0xFFu) | ata::st::kReady;
    write_d2h(p, ata::st::kReady, 0, false);
  }
  if (plan.failed()) {
    finish(port, s, plan, 0);
    return;
  }

  switch (plan.protocol) {
    case Protocol::kNonData:
      finish(port, s, plan, 0);
      return;
    case Protocol::kFlush:
      submit(p, s, block::Op::kFlush);
      return;
    default:
      break;
  }
  uint64_t bytes = plan.bytes();
  if (!build_sg(p, s, ctba, prdtl, bytes)) {
    finish(port, s, ata::AtaDrive::error(ata::err::kAbrt), 0);
    return;
  }
  if (plan.identify || plan.ncq_error_log) {
    auto page = plan.identify ? p.drive->identify_data() : p.drive->take_ncq_error_log();
    // build_sg left the iovecs in s.iov; copy the page into them.
    uint64_t done = 0;
    for (const iovec& v : s.req.iov) {
      std::memcpy(v.iov_base, page.data() + done, v.iov_len);
      done += v.iov_len;
    }
    finish(port, s, Plan{.protocol = Protocol::kPioIn}, done);
    return;
  }
  submit(p, s, plan.is_read() ? block::Op::kRead : block::Op::kWrite);
}

bool AhciController::build_sg(Port& p, Slot& s, uint64_t ctba, uint32_t prdtl, uint64_t bytes) {
  ata::SgList sg{std::span(s.iov)};
  sg.reset(bytes);
  for (uint32_t i = 0; i < prdtl && !sg.full(); ++i) {
    uint8_t e[kPrdEntrySize];
    if (!read_guest(ctba + kCmdTablePrdtOffset + uint64_t{kPrdEntrySize} * i, e, sizeof e)) {
      sg.fail(ata::SgList::Error::kOutsideRam);
      break;
    }
    uint64_t dba = uint64_t{le32(e + 4)} << 32 | le32(e);
    uint32_t dw3 = le32(e + 12);
    uint64_t len = uint64_t{dw3 & kPrdDbcMask} + 1;
    if ((len & 1) || (dba & 1)) {  // byte count and address must be word aligned
      sg.fail(ata::SgList::Error::kBadLength);
      break;
    }
    if (dw3 & kPrdInterrupt) s.prd_interrupt = true;
    if (!sg.add(memory_, dba, len)) break;
  }
  if (!sg.complete()) return false;
  // Device-to-host transfers into overlapping buffers are refused (the guest would get
  // whichever write lands last).
  if (s.plan.is_read() && sg.overlapping()) return false;
  s.req.iov = sg.iov();
  return true;
}

void AhciController::submit(Port& p, Slot& s, block::Op op) {
  s.req.op = op;
  s.req.fua = s.plan.fua;
  s.req.unmap = false;
  if (op == block::Op::kFlush) {
    s.req.offset = 0;
    s.req.length = 0;
    s.req.iov = {};
  } else {
    s.req.offset = s.plan.lba * ata::kSectorSize;
    s.req.length = s.plan.bytes();
  }
  s.busy = true;
  s.orphaned = false;
  p.backend->submit(s.req);  // may complete inline
}

void AhciController::Slot::complete(block::Status status, size_t bytes) {
  std::lock_guard lock(owner->mutex_);
  busy = false;
  if (orphaned) {
    orphaned = false;
    owner->kick(port);  // the slot may have been reissued meanwhile
    return;
  }
  if (!owner->bus_master()) {
    parked = true;
    parked_status = status;
    parked_bytes = bytes;
    return;
  }
  owner->on_complete(*this, status, bytes);
}

void AhciController::on_complete(Slot& s, block::Status status, size_t bytes) {
  Plan result = ata::AtaDrive::result_of(s.plan, status);
  finish(s.port, s, result, status.is_ok() ? bytes : 0);
}

// Publishes the result of the command in `s`: FIS, registers, interrupt.
void AhciController::finish(int port, Slot& s, const Plan& result, uint64_t bytes) {
  Port& p = ports_[port];
  uint32_t bit = 1u << s.index;
  if (!(p.started & bit)) return;  // the port was stopped meanwhile
  p.started &= ~bit;
  bool ncq = s.ncq;
  bool ok = !result.failed();
  uint32_t irq = 0;
  if (s.prd_interrupt && ok) irq |= pis::kDps;

  if (ncq && ok) {
    p.sact &= ~bit;
    // A port halted on a task file error keeps STS.ERR in PxTFD until software restarts it
    // (AHCI 1.3 section 6.2.2): a queued command finishing meanwhile must not hide the error.
    if (!p.halted) p.tfd = (p.tfd & ~0xFFu) | ata::st::kReady;
    write_sdb(p, ata::st::kReady, 0, bit);
    raise(port, irq | pis::kSdbs);
    kick(port);
    return;
  }
  if (!ncq && s.header_address != 0) write_guest32(s.header_address + 4, static_cast<uint32_t>(bytes));
  p.nonqueued = false;
  p.tfd = uint32_t{result.error} << 8 | result.status;
  if (ncq) {
    // Failed queued command: SActive stays set for it; the host's error handling takes over
    // (it restarts the port and reads log 10h to learn which tag failed).
    Plan failed = s.plan;
    failed.ncq_tag = static_cast<uint8_t>(s.index);
    p.drive->record_ncq_error(failed, result);
    write_sdb(p, result.status, result.error, 0);
    p.halted = true;
    raise(port, irq | pis::kSdbs | pis::kTfes);
    return;
  }
  // A failed command keeps its PxCI bit (AHCI 1.3 section 6.2.2.1: the HBA stops with the
  // command still issued, software clears it by clearing PxCMD.ST). Clearing it here made
  // Linux (libahci completes every command whose CI bit is clear before it handles TFES)
  // report the failed command as a success.
  if (ok) p.ci &= ~bit;
  if (s.plan.protocol == Protocol::kPioIn) {
    write_pio_setup(p, result.status, result.error);
    irq |= pis::kPss;
  }
  write_d2h(p, result.status, result.error, true);
  irq |= pis::kDhrs;
  if (!ok) {
    irq |= pis::kTfes;
    p.halted = true;
  }
  if (result.signature) p.sig = ata::kAhciSignature;
  raise(port, irq);
  if (ok) kick(port);
}

}  // namespace devices::ahci
