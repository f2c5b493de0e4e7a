// kvmm-outb PORT VALUE [PORT VALUE...]: writes one byte to each x86 I/O port (guest side of
// the VMM's test-exit port 0xf4 and boot-marker port 0x3f0). Built static on the host so it runs
// before (and independently of) any shared library in the guest. PORT/VALUE accept 0x.. hex.
#include <sys/io.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool ParseNumber(const char* text, unsigned long max, unsigned long* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(text, &end, 0);
  if (errno != 0 || end == text || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (argc - 1) % 2 != 0) {
    std::fprintf(stderr, "usage: %s PORT VALUE [PORT VALUE...]\n", argv[0]);
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    unsigned long port = 0, value = 0;
    if (!ParseNumber(argv[i], 0xffff, &port) || !ParseNumber(argv[i + 1], 0xff, &value)) {
      std::fprintf(stderr, "kvmm-outb: bad port/value '%s' '%s'\n", argv[i], argv[i + 1]);
      return 2;
    }
    // ioperm covers ports below 0x400; iopl(3) is the fallback for any other port.
    if (ioperm(port, 1, 1) != 0 && iopl(3) != 0) {
      std::fprintf(stderr, "kvmm-outb: no access to port 0x%lx: %s\n", port, std::strerror(errno));
      return 1;
    }
    outb(static_cast<unsigned char>(value), static_cast<unsigned short>(port));
  }
  return 0;
}
