#include "devices/uart_16550.h"

namespace devices {

Uart16550::Uart16550(InterruptLine& irq, SerialOutput* output) : irq_(irq), output_(output) {}

void Uart16550::read(uint64_t offset, std::span<uint8_t> data) {
  // The UART is byte-wide; wider accesses read the one register and zero-fill.
  std::lock_guard lock(mutex_);
  for (auto& b : data) b = 0;
  if (!data.empty() && offset < kRegisterCount) data[0] = read_register(offset);
  update_interrupt();
}

void Uart16550::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (!data.empty() && offset < kRegisterCount) write_register(offset, data[0]);
  update_interrupt();
}

size_t Uart16550::receive(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  size_t taken = 0;
  for (uint8_t b : bytes) {
    if (rx_.size() >= kRxCapacity) break;
    rx_.push_back(b);
    ++taken;
  }
  update_interrupt();
  return taken;
}

size_t Uart16550::rx_space() const {
  std::lock_guard lock(mutex_);
  return kRxCapacity - rx_.size();
}

uint8_t Uart16550::read_register(uint64_t offset) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThrDll:
      if (dlab) return dll_;
      if (rx_.empty()) return 0;
      {
        const uint8_t b = rx_.front();
        rx_.pop_front();
        return b;
      }
    case kIerDlm:
      return dlab ? dlm_ : ier_;
    case kIirFcr: {
      ++iir_reads_;
      const uint8_t iir = interrupt_identification();
      // Reading IIR while it reports THRE acknowledges that interrupt.
      if ((iir & 0x0F) == kIirThrEmpty) thr_interrupt_pending_ = false;
      return iir;
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      uint8_t lsr = kLsrThrEmpty | kLsrTransmitterEmpty;
      if (!rx_.empty()) lsr |= kLsrDataReady;
      if (overrun_) lsr |= kLsrOverrun;
      overrun_ = false;  // error bits clear on read
      return lsr;
    }
    case kMsr:
      return modem_status();
    case kScr:
      return scr_;
  }
  return 0xFF;
}

void Uart16550::write_register(uint64_t offset, uint8_t value) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case kRbrThrDll:
      if (dlab) {
        dll_ = value;
      } else if (mcr_ & kMcrLoop) {
        // Loopback: the byte comes straight back as received data.
        if (rx_.size() < kRxCapacity) rx_.push_back(value); else overrun_ = true;
        thr_interrupt_pending_ = true;
      } else {
        if (output_ != nullptr) output_->write(std::span(&value, 1));
        thr_interrupt_pending_ = true;  // transmitted at once, THR empty again
      }
      break;
    case kIerDlm:
      if (dlab) {
        dlm_ = value;
      } else {
        // Enabling THRE interrupts while THR is empty raises one right away (drivers rely on it).
        if (!(ier_ & kIerThrEmpty) && (value & kIerThrEmpty)) thr_interrupt_pending_ = true;
        ier_ = value & 0x0F;
      }
      break;
    case kIirFcr:
      if (value & kFcrClearRx) rx_.clear();
      fcr_ = value & 0xC9;  // enable, DMA mode, trigger level
      break;
    case kLcr:
      lcr_ = value;
      break;
    case kMcr:
      mcr_ = value & 0x1F;
      break;
    case kLsr:
    case kMsr:
      break;  // read-only on a 16550
    case kScr:
      scr_ = value;
      break;
  }
}

uint8_t Uart16550::interrupt_identification() const {
  const uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifoEnabled : 0;
  if ((ier_ & kIerRxAvailable) && !rx_.empty()) return fifo | kIirRxAvailable;
  if ((ier_ & kIerThrEmpty) && thr_interrupt_pending_) return fifo | kIirThrEmpty;
  return fifo | kIirNoInterrupt;
}

uint8_t Uart16550::modem_status() const {
  if (mcr_ & kMcrLoop) {
    // Loopback wiring: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
    return static_cast<uint8_t>(((mcr_ & 0x02) << 3) | ((mcr_ & 0x01) << 5) |
                                ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4));
  }
  return 0xB0;  // DCD, DSR, CTS: a terminal is always connected
}

bool Uart16550::resend_unacknowledged_interrupt() {
  std::lock_guard lock(mutex_);
  // Raised at the previous look too, and no IIR read since: a whole period without the handler.
  const bool unacknowledged =
      irq_level_ && raised_at_last_check_ && iir_reads_ == iir_reads_at_last_check_;
  iir_reads_at_last_check_ = iir_reads_;
  raised_at_last_check_ = irq_level_;
  if (!unacknowledged) return false;
  irq_.set_level(false);
  irq_.set_level(true);
  return true;
}

void Uart16550::update_interrupt() {
  const bool level = !(interrupt_identification() & kIirNoInterrupt);
  if (level != irq_level_) {
    irq_level_ = level;
    irq_.set_level(level);
  }
}

}  // namespace devices
