#include "vmm/terminal_raw_mode.h"

#include <unistd.h>

namespace vmm {

TerminalRawMode::TerminalRawMode(int fd) : fd_(fd) {
  if (!::isatty(fd_) || ::tcgetattr(fd_, &saved_) != 0) return;
  termios raw = saved_;
  raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
  raw.c_cflag = (raw.c_cflag & ~(CSIZE | PARENB)) | CS8;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
}

TerminalRawMode::~TerminalRawMode() {
  if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
}

}  // namespace vmm
