// Puts a terminal into raw input mode (no line editing, no echo, bytes as typed) for the
// lifetime of the object and restores the saved settings afterwards. Signals (Ctrl-C) keep
// working so the VMM can always be interrupted. Does nothing if the fd is not a terminal.
#pragma once

#include <termios.h>

namespace vmm {

class TerminalRawMode {
 public:
  explicit TerminalRawMode(int fd);
  ~TerminalRawMode();
  TerminalRawMode(const TerminalRawMode&) = delete;
  TerminalRawMode& operator=(const TerminalRawMode&) = delete;

 private:
  int fd_;
  bool active_ = false;
  termios saved_{};
};

}  // namespace vmm
