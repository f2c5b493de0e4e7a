#include "vmm/serial_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace vmm {

void SerialInput::start() {
  if (::fcntl(fd_, F_GETFD) < 0) return;  // stdin closed: no input at all
  loop_.watch_readable(fd_, [this] { return on_readable(); });
}

bool SerialInput::on_readable() {
  const size_t space = uart_.rx_space();
  if (space == 0) {
    // The guest is not draining its receive FIFO; look again shortly.
    loop_.add_timer(std::chrono::milliseconds(10), [this] { start(); });
    return false;
  }
  std::array<uint8_t, 256> buffer;
  const ssize_t n = ::read(fd_, buffer.data(), std::min(space, buffer.size()));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;  // EOF (e.g. /dev/null) or error: no more input
  uart_.receive(std::span(buffer.data(), static_cast<size_t>(n)));
  return true;
}

}  // namespace vmm
