#include "vmm/fatal_signal.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace vmm {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

// Appenders into a fixed buffer; nothing here may allocate or take a lock.
struct Line {
  char* out;
  int size;
  int used = 0;
  void text(const char* s) {
    while (*s != '\0' && used < size - 1) out[used++] = *s++;
  }
  void number(unsigned long long v, unsigned base) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v % base];
      v /= base;
    } while (v != 0 && n < static_cast<int>(sizeof digits));
    while (n > 0 && used < size - 1) out[used++] = digits[--n];
  }
};

const char* signal_name(int signo) {
  switch (signo) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
  }
}

void on_fatal_signal(int signo, siginfo_t* info, void*) {
  char buf[160];
  const int n = format_fatal_signal_line(buf, sizeof buf, signo, info ? info->si_addr : nullptr,
                                         static_cast<long>(::syscall(SYS_gettid)));
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, buf, n);
  void* frames[48];
  const int depth = ::backtrace(frames, 48);
  ::backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  // SA_RESETHAND restored the default action: re-raise so the exit status and core dump are
  // the signal's own.
  ::raise(signo);
}

}  // namespace

int format_fatal_signal_line(char* out, int size, int signo, const void* address, long tid) {
  if (size <= 0) return 0;
  Line line{out, size};
  line.text("vmm: fatal signal ");
  line.text(signal_name(signo));
  line.text(" (");
  line.number(static_cast<unsigned>(signo), 10);
  line.text(") at address 0x");
  line.number(reinterpret_cast<uintptr_t>(address), 16);
  line.text(" in thread ");
  line.number(static_cast<unsigned long long>(tid), 10);
  line.text("; backtrace follows\n");
  out[line.used] = '\0';
  return line.used;
}

void install_fatal_signal_reporter() {
  // backtrace() loads libgcc on first use, which allocates: do it now, not in the handler.
  void* warm[1];
  ::backtrace(warm, 1);
  struct sigaction action {};
  action.sa_sigaction = on_fatal_signal;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int signo : kFatalSignals) ::sigaction(signo, &action, nullptr);
}

}  // namespace vmm
