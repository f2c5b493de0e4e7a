// Feeds host input (stdin) into a UART from the I/O thread. Reads only as much as the UART can
// hold; when it is full, retries on a timer. EOF or an unreadable fd simply ends input.
#pragma once

#include "devices/uart_16550.h"
#include "vmm/io_loop.h"

namespace vmm {

class SerialInput {
 public:
  SerialInput(IoLoop& loop, int fd, devices::Uart16550& uart) : loop_(loop), fd_(fd), uart_(uart) {}
  // Starts watching the fd (call before the loop runs or on the I/O thread).
  void start();

 private:
  bool on_readable();

  IoLoop& loop_;
  int fd_;
  devices::Uart16550& uart_;
};

}  // namespace vmm
