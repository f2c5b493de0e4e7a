// Makes a crash of the VMM visible: a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT)
// prints one line naming the signal, the faulting address and the thread, plus a raw backtrace,
// to stderr before the default action (core dump / termination) runs. Without it a VMM that
// crashes under a test harness just disappears from the process list.
#pragma once

namespace vmm {

// Installs the handlers (process-wide, once, before any thread starts). Idempotent.
void install_fatal_signal_reporter();

// The line the handler prints, formatted into `out` without allocating (async-signal-safe);
// returns its length. Exposed for tests.
int format_fatal_signal_line(char* out, int size, int signo, const void* address, long tid);

}  // namespace vmm
