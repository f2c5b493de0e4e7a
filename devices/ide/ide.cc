#include "devices/ide/ide.h"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "devices/ata/sg_list.h"

namespace devices::ide {
namespace {

using ata::Plan;
using ata::Protocol;

pci::PciIds ide_ids() {
  pci::PciIds ids;
  ids.vendor = IdeController::kVendorId;
  ids.device = IdeController::kDeviceId;
  ids.class_code = IdeController::kClassCode;
  return ids;
}

uint32_t le(std::span<const uint8_t> d) {
  uint32_t v = 0;
  for (size_t i = 0; i < d.size() && i < 4; ++i) v |= uint32_t{d[i]} << (8 * i);
  return v;
}

void put(std::span<uint8_t> d, uint32_t v) {
  for (size_t i = 0; i < d.size(); ++i) d[i] = i < 4 ? static_cast<uint8_t>(v >> (8 * i)) : 0;
}

constexpr uint32_t kBufferBytes = IdeController::kPioBufferSectors * ata::kSectorSize;

}  // namespace

class IdeController::CommandPorts final : public IoDevice {
 public:
  CommandPorts(IdeController& c, int ch) : c_(c), ch_(ch) {}
  void read(uint64_t offset, std::span<uint8_t> data) override { c_.command_read(ch_, static_cast<uint32_t>(offset), data); }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    c_.command_write(ch_, static_cast<uint32_t>(offset), data);
  }

 private:
  IdeController& c_;
  int ch_;
};

class IdeController::ControlPort final : public IoDevice {
 public:
  ControlPort(IdeController& c, int ch) : c_(c), ch_(ch) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    put(data, 0);
    if (offset == 0 && !data.empty()) data[0] = c_.alt_status(ch_);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 0 && !data.empty()) c_.device_control(ch_, data[0]);
  }

 private:
  IdeController& c_;
  int ch_;
};

IdeController::IdeController(const vmm::GuestMemory& memory, std::array<IdeDisk, 4> disks)
    : pci::PciDevice(ide_ids()), memory_(memory) {
  config_.add_bar(kBmideBar, pci::BarType::kIo, kBmideSize);
  // IDE timing registers (IDETIM primary 0x40, secondary 0x42): bit 15 "IDE decode enable",
  // which Linux's ata_piix checks before probing a channel. Also SIDETIM/UDMA registers.
  config_.set16(0x40, 0x8000);
  config_.set16(0x42, 0x8000);
  for (uint32_t r = 0x40; r < 0x4C; r += 4) config_.set_writable(r, 4, 0xFFFFFFFF);
  for (int ch = 0; ch < 2; ++ch) {
    Channel& c = channels_[ch];
    c.owner = this;
    c.index = ch;
    c.req.completion = &c;
    c.buffer = static_cast<uint8_t*>(std::aligned_alloc(4096, kBufferBytes));
    if (c.buffer == nullptr) throw std::bad_alloc();
    for (int d = 0; d < 2; ++d) {
      const IdeDisk& disk = disks[2 * ch + d];
      if (disk.backend != nullptr) {
        c.drives[d].ata = std::make_unique<ata::AtaDrive>(*disk.backend, ata::Transport::kIde, disk.info);
        c.bm_status |= d == 0 ? bm::kStDrive0Dma : bm::kStDrive1Dma;
      }
    }
    command_ports_[ch] = std::make_unique<CommandPorts>(*this, ch);
    control_ports_[ch] = std::make_unique<ControlPort>(*this, ch);
    soft_reset(c);
  }
}

IdeController::~IdeController() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto& c : channels_) {
    while (std::chrono::steady_clock::now() < deadline) {
      block::Backend* b = nullptr;
      {
        std::lock_guard lock(mutex_);
        if (!c.busy) break;
        c.orphaned = true;
        b = &c.drives[c.active].ata->backend();
      }
      pollfd pfd{b->completion_fd(), POLLIN, 0};
      ::poll(&pfd, 1, 100);
      std::lock_guard lock(mutex_);
      b->process_completions();
    }
    std::free(c.buffer);
  }
}

void IdeController::set_io_thread_hook(ata::IoThreadHook* hook) {
  std::lock_guard lock(mutex_);
  hook_ = hook;
}

void IdeController::connect_channel_irq(int channel, InterruptLine* line) {
  std::lock_guard lock(mutex_);
  channels_.at(channel).line = line;
  channels_.at(channel).line_level = false;
  update_line(channels_.at(channel));
}

bool IdeController::busy(int channel) {
  std::lock_guard lock(mutex_);
  return channels_.at(channel).busy;
}

// ---------------------------------------------------------------------------------------------
// Interrupts

void IdeController::raise_irq(Channel& c) {
  c.irq_pending = true;
  c.interrupts++;
  update_line(c);
}

void IdeController::update_line(Channel& c) {
  bool level = c.irq_pending && !(c.control & ctl::kNien);
  if (level == c.line_level) return;
  c.line_level = level;
  if (c.line != nullptr) c.line->set_level(level);
}

// ---------------------------------------------------------------------------------------------
// Command block

void IdeController::command_read(int channel, uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  Channel& c = channels_.at(channel);
  if (offset == reg::kData) {
    put(data, data_read(c, data.size()));
    return;
  }
  put(data, 0);
  if (data.empty() || offset >= kCommandBlockSize) return;
  if (channel_empty(c)) {
    data[0] = 0x7F;  // nothing on the cable
    return;
  }
  Drive* d = selected(c);
  bool hob = c.control & ctl::kHob;
  uint8_t v = 0;
  switch (offset) {
    case reg::kError:
      v = d ? d->error : 0;  // no HOB byte: features is write-only
      break;
    case reg::kCount:
      v = d ? (hob ? c.hob_count : c.count) : 0;
      break;
    case reg::kLbaLow:
    case reg::kLbaMid:
    case reg::kLbaHigh: {
      size_t i = offset - reg::kLbaLow;
      v = d ? (hob ? c.hob_lba[i] : c.lba[i]) : 0;
      break;
    }
    case reg::kDevice:
      v = d ? c.device : 0;
      break;
    case reg::kStatus:
      v = d ? d->status : 0;  // absent device 1 next to a present device 0 reads 0
      c.irq_pending = false;
      update_line(c);
      break;
  }
  data[0] = v;
}

uint8_t IdeController::alt_status(int channel) {
  std::lock_guard lock(mutex_);
  Channel& c = channels_.at(channel);
  if (channel_empty(c)) return 0x7F;
  Drive* d = selected(c);
  return d ? d->status : 0;
}

void IdeController::command_write(int channel, uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  Channel& c = channels_.at(channel);
  if (data.empty()) return;
  if (offset == reg::kData) {
    data_write(c, le(data), data.size());
    return;
  }
  uint8_t v = data[0];
  if (offset != reg::kStatus) c.control &= ~ctl::kHob;  // writing the block clears HOB
  switch (offset) {
    case reg::kError:
      c.hob_feature = c.feature;
      c.feature = v;
      break;
    case reg::kCount:
      c.hob_count = c.count;
      c.count = v;
      break;
    case reg::kLbaLow:
    case reg::kLbaMid:
    case reg::kLbaHigh: {
      size_t i = offset - reg::kLbaLow;
      c.hob_lba[i] = c.lba[i];
      c.lba[i] = v;
      break;
    }
    case reg::kDevice:
      c.device = v | 0xA0;
      break;
    case reg::kStatus:
      execute(c, v, (c.device >> 4) & 1);
      break;
    default:
      break;
  }
}

void IdeController::device_control(int channel, uint8_t value) {
  std::lock_guard lock(mutex_);
  Channel& c = channels_.at(channel);
  bool was_reset = c.control & ctl::kSrst;
  c.control = value;
  if (value & ctl::kSrst) {
    if (!was_reset) {
      abort_backend(c);
      for (auto& d : c.drives) {
        if (d.ata) d.status = ata::st::kBsy;
      }
    }
  } else if (was_reset) {
    soft_reset(c);
  }
  update_line(c);
}

// Software reset finished: both devices post their signature and diagnostic code.
void IdeController::soft_reset(Channel& c) {
  abort_backend(c);
  c.phase = Phase::kIdle;
  c.work = Work::kNone;
  c.irq_pending = false;
  c.count = ata::kSignatureCount;
  c.lba = {ata::kSignatureLbaLow, ata::kSignatureLbaMid, ata::kSignatureLbaHigh};
  c.hob_count = 0;
  c.hob_lba = {};
  c.feature = c.hob_feature = 0;
  c.device = 0xA0;
  for (auto& d : c.drives) {
    if (!d.ata) continue;
    d.status = ata::st::kReady;
    d.error = 0x01;
  }
  update_line(c);
}

void IdeController::abort_backend(Channel& c) {
  if (c.busy) c.orphaned = true;
  c.deferred_command = -1;
  c.parked = false;
  c.work = Work::kNone;
  c.bm_status &= ~bm::kStActive;
}

void IdeController::execute(Channel& c, uint8_t command, int device) {
  Drive* d = c.drives[device].ata ? &c.drives[device] : nullptr;
  if (d == nullptr) return;  // the absent device ignores commands
  if (command == ata::op::kExecuteDeviceDiagnostic) {
    // Addressed to both devices whatever is selected.
    abort_backend(c);
    soft_reset(c);
    raise_irq(c);
    return;
  }
  if (c.busy && c.orphaned) {
    // An aborted request (reset) is still in the backend: run this command once it is back.
    // One waiting command per channel, as below: not one for the other device on top.
    if (c.deferred_command >= 0 && c.deferred_device != device) return;
    c.deferred_command = command;
    c.deferred_device = device;  // the host may select the other device meanwhile
    d->status = ata::st::kBsy | ata::st::kDrdy;
    return;
  }
  if ((d->status & ata::st::kBsy) || c.busy) return;  // writes while busy are ignored
  // The channel holds one command: one for the other device while it is still in progress
  // (the host must wait for it) would replace it and leave that device BSY forever.
  if (c.phase != Phase::kIdle && c.active != device) return;
  c.active = device;
  c.phase = Phase::kIdle;
  c.history[c.commands % kHistory] = CommandRecord{.command = command, .device = static_cast<uint8_t>(device)};
  c.commands++;
  ata::Taskfile tf;
  tf.command = command;
  tf.features = static_cast<uint16_t>(c.feature | c.hob_feature << 8);
  tf.count = static_cast<uint16_t>(c.count | c.hob_count << 8);
  tf.lba = uint64_t{c.lba[0]} | uint64_t{c.lba[1]} << 8 | uint64_t{c.lba[2]} << 16 |
           uint64_t{c.hob_lba[0]} << 24 | uint64_t{c.hob_lba[1]} << 32 | uint64_t{c.hob_lba[2]} << 40;
  tf.device = c.device;
  Plan p = d->ata->decode(tf);
  c.plan = p;
  c.current().lba = p.lba;
  c.current().sectors = p.sectors;
  c.sectors_done = 0;
  c.buffer_pos = 0;
  if (p.failed()) {
    finish(c, p, true);
    return;
  }
  switch (p.protocol) {
    case Protocol::kNonData:
      if (p.has_count_out) c.count = p.count_out;
      finish(c, p, true);
      return;
    case Protocol::kFlush:
      d->status = ata::st::kBsy | ata::st::kDrdy;
      c.phase = Phase::kBackend;
      post(c, Work::kFlush);
      return;
    case Protocol::kPioIn:
      if (p.identify) {
        auto page = d->ata->identify_data();
        std::memcpy(c.buffer, page.data(), page.size());
        c.chunk_sectors = 1;
        c.phase = Phase::kPioIn;
        d->status = ata::st::kReady | ata::st::kDrq;
        raise_irq(c);
        return;
      }
      d->status = ata::st::kBsy | ata::st::kDrdy;
      c.phase = Phase::kBackend;
      post(c, Work::kPioRead);
      return;
    case Protocol::kPioOut:
      c.chunk_sectors = std::min(p.sectors, kPioBufferSectors);
      c.phase = Phase::kPioOut;
      d->status = ata::st::kReady | ata::st::kDrq;  // no interrupt before the first block
      return;
    case Protocol::kDmaIn:
    case Protocol::kDmaOut:
      d->status = ata::st::kBsy | ata::st::kDrdy;
      c.phase = Phase::kDmaWait;
      start_dma_if_ready(c);
      return;
    default:
      finish(c, ata::AtaDrive::error(ata::err::kAbrt), true);
      return;
  }
}

// Ends the command: final status/error in the active device, optional interrupt.
void IdeController::finish(Channel& c, const Plan& result, bool interrupt) {
  Drive& d = c.drives[c.active].ata ? c.drives[c.active] : c.drives[(c.device >> 4) & 1];
  d.status = result.status;
  d.error = result.error;
  if (c.commands > 0) {
    c.current().final_status = result.status;
    c.current().final_error = result.error;
    c.current().completed = true;
  }
  c.phase = Phase::kIdle;
  c.work = Work::kNone;
  if (interrupt) raise_irq(c);
}

void IdeController::post(Channel& c, Work work) {
  c.work = work;
  if (c.kick_posted || hook_ == nullptr) return;
  c.kick_posted = true;
  int ch = c.index;
  hook_->post([this, ch] { process_channel(ch); });
}

// ---------------------------------------------------------------------------------------------
// PIO data port

uint32_t IdeController::data_read(Channel& c, size_t size) {
  if (c.phase != Phase::kPioIn) return 0;
  uint32_t v = 0;
  uint32_t limit = c.chunk_sectors * ata::kSectorSize;
  for (size_t i = 0; i < size && c.buffer_pos < limit; ++i) v |= uint32_t{c.buffer[c.buffer_pos++]} << (8 * i);
  if (c.buffer_pos % ata::kSectorSize == 0) pio_block_done(c);
  return v;
}

void IdeController::data_write(Channel& c, uint32_t value, size_t size) {
  if (c.phase != Phase::kPioOut) return;
  uint32_t limit = c.chunk_sectors * ata::kSectorSize;
  for (size_t i = 0; i < size && c.buffer_pos < limit; ++i) c.buffer[c.buffer_pos++] = static_cast<uint8_t>(value >> (8 * i));
  if (c.buffer_pos % ata::kSectorSize == 0) pio_block_done(c);
}

// One 512-byte DRQ block went through the data port.
void IdeController::pio_block_done(Channel& c) {
  Drive& d = c.drives[c.active];
  uint32_t limit = c.chunk_sectors * ata::kSectorSize;
  if (c.phase == Phase::kPioIn) {
    c.sectors_done++;
    if (c.sectors_done >= c.plan.sectors) {
      finish(c, Plan{}, false);  // PIO-in: no interrupt after the last block
      return;
    }
    if (c.buffer_pos >= limit) {
      d.status = ata::st::kBsy | ata::st::kDrdy;
      c.phase = Phase::kBackend;
      post(c, Work::kPioRead);
      return;
    }
    raise_irq(c);  // next block ready
    return;
  }
  // PIO out.
  if (c.buffer_pos >= limit) {
    d.status = ata::st::kBsy | ata::st::kDrdy;
    c.phase = Phase::kBackend;
    post(c, Work::kPioWrite);
    return;
  }
  raise_irq(c);  // ready for the next block
}

// ---------------------------------------------------------------------------------------------
// I/O thread

void IdeController::process_channel(int channel) {
  std::lock_guard lock(mutex_);
  Channel& c = channels_.at(channel);
  c.kick_posted = false;
  if (c.busy || !c.drives[c.active].ata) return;
  Work w = c.work;
  c.work = Work::kNone;
  if (w == Work::kNone) return;
  block::Backend& backend = c.drives[c.active].ata->backend();
  // A batch around the submission so a synchronous completion (NullDriver) is reaped below
  // without an eventfd write and read.
  block::Backend::Batch batch(backend);
  switch (w) {
    case Work::kNone:
      break;
    case Work::kFlush:
      c.req.op = block::Op::kFlush;
      c.req.offset = 0;
      c.req.length = 0;
      c.req.iov = {};
      c.req.fua = false;
      c.busy = true;
      c.orphaned = false;
      backend.submit(c.req);
      break;
    case Work::kPioRead:
      run_pio_chunk(c, false);
      break;
    case Work::kPioWrite:
      run_pio_chunk(c, true);
      break;
    case Work::kDma:
      run_dma(c);
      break;
  }
  backend.process_ready_completions();
}

void IdeController::run_pio_chunk(Channel& c, bool write) {
  if (!write) c.chunk_sectors = std::min(c.plan.sectors - c.sectors_done, kPioBufferSectors);
  c.iov[0] = iovec{c.buffer, uint64_t{c.chunk_sectors} * ata::kSectorSize};
  c.req.op = write ? block::Op::kWrite : block::Op::kRead;
  c.req.offset = (c.plan.lba + c.sectors_done) * ata::kSectorSize;
  c.req.length = c.iov[0].iov_len;
  c.req.iov = std::span<const iovec>(c.iov.data(), 1);
  c.req.fua = false;
  c.busy = true;
  c.orphaned = false;
  c.drives[c.active].ata->backend().submit(c.req);
}

void IdeController::start_dma_if_ready(Channel& c) {
  if (c.phase != Phase::kDmaWait || !(c.bm_command & bm::kCmdStart)) return;
  c.phase = Phase::kDmaRunning;
  c.bm_status |= bm::kStActive;
  post(c, Work::kDma);
}

void IdeController::run_dma(Channel& c) {
  if (!config_.bus_master()) {
    c.work = Work::kDma;  // resumed from config_written() when bus mastering comes back
    return;
  }
  ata::SgList sg{std::span(c.iov)};
  sg.reset(c.plan.bytes());
  uint64_t at = c.prd_table;
  bool eot = false;
  CommandRecord& rec = c.current();
  rec.prd_entries = 0;
  rec.prd_max_len = 0;
  rec.prd_crosses_64k = false;
  for (uint32_t i = 0; i < bm::kMaxPrdEntries && !eot && !sg.full(); ++i, at += 8) {
    uint32_t e[2];
    try {
      std::memcpy(e, memory_.span(at, 8).data(), 8);
    } catch (const std::exception&) {
      sg.fail(ata::SgList::Error::kOutsideRam);
      break;
    }
    uint32_t count = e[1] & 0xFFFF;
    uint64_t len = count == 0 ? 0x10000 : count;
    eot = e[1] & bm::kPrdEot;
    rec.prd_entries++;
    rec.prd_max_len = std::max(rec.prd_max_len, static_cast<uint32_t>(len));
    if ((e[0] & 0xFFFF) + len > 0x10000) rec.prd_crosses_64k = true;
    if ((len & 1) || (e[0] & 1)) {
      sg.fail(ata::SgList::Error::kBadLength);
      break;
    }
    if (!sg.add(memory_, e[0], len)) break;
  }
  if (!sg.complete() || (c.plan.is_read() && sg.overlapping())) {
    // PRD table too short, outside RAM or malformed: the bus master reports an error.
    dma_done(c, ata::AtaDrive::error(ata::err::kAbrt), true);
    return;
  }
  rec.segments = static_cast<uint32_t>(sg.iov().size());
  c.req.op = c.plan.is_read() ? block::Op::kRead : block::Op::kWrite;
  c.req.offset = c.plan.lba * ata::kSectorSize;
  c.req.length = c.plan.bytes();
  c.req.iov = sg.iov();
  c.req.fua = c.plan.fua;
  c.busy = true;
  c.orphaned = false;
  c.drives[c.active].ata->backend().submit(c.req);
}

void IdeController::dma_done(Channel& c, const Plan& result, bool bm_error) {
  c.bm_status &= ~bm::kStActive;
  c.bm_status |= bm::kStInterrupt | (bm_error ? bm::kStError : 0);
  finish(c, result, true);
}

void IdeController::Channel::complete(block::Status status, size_t bytes) {
  std::lock_guard lock(owner->mutex_);
  busy = false;
  if (orphaned) {
    orphaned = false;
    if (deferred_command >= 0) {
      auto command = static_cast<uint8_t>(deferred_command);
      deferred_command = -1;
      drives[deferred_device].status = ata::st::kReady;
      owner->execute(*this, command, deferred_device);
    }
    return;
  }
  if (phase == Phase::kDmaRunning && !owner->config_.bus_master()) {
    parked = true;
    parked_status = status;
    parked_bytes = bytes;
    return;
  }
  owner->on_complete(*this, status, bytes);
}

void IdeController::on_complete(Channel& c, block::Status status, size_t bytes) {
  Drive& d = c.drives[c.active];
  Plan result = ata::AtaDrive::result_of(c.plan, status);
  if (c.phase == Phase::kDmaRunning) {
    dma_done(c, result, false);
    return;
  }
  if (c.plan.protocol == Protocol::kFlush || result.failed()) {
    finish(c, result, true);
    return;
  }
  if (c.plan.protocol == Protocol::kPioIn) {
    c.buffer_pos = 0;
    c.phase = Phase::kPioIn;
    d.status = ata::st::kReady | ata::st::kDrq;
    raise_irq(c);
    return;
  }
  // PIO out: the chunk is on disk.
  c.sectors_done += c.chunk_sectors;
  if (c.sectors_done >= c.plan.sectors) {
    finish(c, Plan{}, true);
    return;
  }
  c.chunk_sectors = std::min(c.plan.sectors - c.sectors_done, kPioBufferSectors);
  c.buffer_pos = 0;
  c.phase = Phase::kPioOut;
  d.status = ata::st::kReady | ata::st::kDrq;
  raise_irq(c);
}

// ---------------------------------------------------------------------------------------------
// Bus master registers

void IdeController::bar_read(int index, uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  put(data, 0);
  if (index != kBmideBar) return;
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    if (at >= kBmideSize) break;
    int ch = static_cast<int>(at / bm::kChannelStride);
    uint32_t r = static_cast<uint32_t>(at % bm::kChannelStride);
    Channel& c = channels_[ch];
    uint8_t v = 0;
    if (r == bm::kCommand) v = c.bm_command;
    else if (r == bm::kStatus) v = c.bm_status;
    else if (r >= bm::kPrdTable) v = static_cast<uint8_t>(c.prd_table >> (8 * (r - bm::kPrdTable)));
    data[i] = v;
  }
}

void IdeController::bar_write(int index, uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (index != kBmideBar) return;
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    if (at >= kBmideSize) break;
    int ch = static_cast<int>(at / bm::kChannelStride);
    uint32_t r = static_cast<uint32_t>(at % bm::kChannelStride);
    Channel& c = channels_[ch];
    uint8_t v = data[i];
    if (r == bm::kCommand) {
      bool was = c.bm_command & bm::kCmdStart;
      c.bm_command = v & (bm::kCmdStart | bm::kCmdToMemory);
      if (!was && (v & bm::kCmdStart)) {
        start_dma_if_ready(c);
      } else if (was && !(v & bm::kCmdStart)) {
        // Stop: a transfer still running completes in the background (posted DMA); the
        // engine is idle as far as the guest can see.
        c.bm_status &= ~bm::kStActive;
      }
    } else if (r == bm::kStatus) {
      c.bm_status &= ~(v & (bm::kStError | bm::kStInterrupt));
      c.bm_status = static_cast<uint8_t>((c.bm_status & ~(bm::kStDrive0Dma | bm::kStDrive1Dma)) |
                                         (v & (bm::kStDrive0Dma | bm::kStDrive1Dma)));
    } else if (r >= bm::kPrdTable) {
      uint32_t sh = 8 * (r - bm::kPrdTable);
      c.prd_table = (c.prd_table & ~(0xFFu << sh)) | uint32_t{v} << sh;
      c.prd_table &= ~3u;
    }
  }
}

void IdeController::config_written(uint32_t offset, size_t size, uint16_t old_command) {
  if ((old_command & pci::cmd::kBusMaster) || !config_.bus_master()) return;
  for (auto& c : channels_) {
    if (c.parked) {
      c.parked = false;
      on_complete(c, c.parked_status, c.parked_bytes);
    } else if (c.phase == Phase::kDmaRunning && !c.busy) {
      post(c, Work::kDma);
    }
  }
}

std::string IdeController::describe_state() {
  // A post-mortem must not hang on a lock a stuck thread holds: give up after 2 s and say so.
  std::unique_lock lock(mutex_, std::defer_lock);
  for (int i = 0; i < 200 && !lock.try_lock(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!lock.owns_lock()) return "ide: controller lock held for 2 s by another thread (stuck?)\n";
  static constexpr const char* kPhase[] = {"idle", "pio-in", "pio-out", "dma-wait", "dma-running", "backend"};
  static constexpr const char* kWork[] = {"none", "pio-read", "pio-write", "flush", "dma"};
  std::string out;
  char line[512];
  for (auto& c : channels_) {
    if (channel_empty(c)) continue;
    std::snprintf(line, sizeof line,
                  "ide: channel %d: phase=%s work=%s busy=%d orphaned=%d parked=%d kick_posted=%d "
                  "deferred=%d active=%d device=0x%02x control=0x%02x irq_pending=%d line=%d "
                  "interrupts=%llu commands=%llu bm_command=0x%02x bm_status=0x%02x prd_table=0x%08x "
                  "plan lba=%llu sectors=%u done=%u bus_master=%d\n",
                  c.index, kPhase[static_cast<int>(c.phase)], kWork[static_cast<int>(c.work)], c.busy,
                  c.orphaned, c.parked, c.kick_posted, c.deferred_command, c.active, c.device,
                  c.control, c.irq_pending, c.line_level,
                  static_cast<unsigned long long>(c.interrupts),
                  static_cast<unsigned long long>(c.commands), c.bm_command, c.bm_status,
                  c.prd_table, static_cast<unsigned long long>(c.plan.lba), c.plan.sectors,
                  c.sectors_done, config_.bus_master());
    out += line;
    for (int d = 0; d < 2; ++d) {
      if (!c.drives[d].ata) continue;
      std::snprintf(line, sizeof line, "ide: channel %d drive %d: status=0x%02x error=0x%02x backend in flight=%zu\n",
                    c.index, d, c.drives[d].status, c.drives[d].error,
                    c.drives[d].ata->backend().in_flight());
      out += line;
    }
    uint64_t first = c.commands > kHistory ? c.commands - kHistory : 0;
    for (uint64_t i = first; i < c.commands; ++i) {
      const CommandRecord& r = c.history[i % kHistory];
      std::snprintf(line, sizeof line,
                    "ide: channel %d command #%llu: 0x%02x dev %u lba=%llu sectors=%u prd_entries=%u "
                    "segments=%u prd_max=%u crosses_64k=%d %s status=0x%02x error=0x%02x\n",
                    c.index, static_cast<unsigned long long>(i), r.command, r.device,
                    static_cast<unsigned long long>(r.lba), r.sectors, r.prd_entries, r.segments,
                    r.prd_max_len, r.prd_crosses_64k, r.completed ? "done" : "in-progress",
                    r.final_status, r.final_error);
      out += line;
    }
  }
  return out;
}

void IdeController::reset() {
  std::lock_guard lock(mutex_);
  for (auto& c : channels_) {
    c.control = 0;
    c.bm_command = 0;
    c.bm_status &= bm::kStDrive0Dma | bm::kStDrive1Dma;
    c.prd_table = 0;
    for (auto& d : c.drives) {
      if (d.ata) d.ata->reset();
    }
    soft_reset(c);
  }
}

}  // namespace devices::ide
