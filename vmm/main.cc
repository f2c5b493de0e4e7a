// vmm: a minimal KVM virtual machine monitor. See docs/architecture.md.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "vmm/command_line.h"
#include "vmm/fatal_signal.h"
#include "vmm/machine.h"

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  vmm::Options options;
  try {
    options = vmm::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const vmm::UsageError& e) {
    std::fprintf(stderr, "vmm: %s\n", e.what());
    return 1;
  }
  if (options.show_help) {
    std::fputs(vmm::usage_text().c_str(), stdout);
    return 0;
  }

  // Block termination signals before any thread exists; the I/O thread reads them from a
  // signalfd and shuts the machine down cleanly (restoring the terminal).
  sigset_t host_signals;
  sigemptyset(&host_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&host_signals, sig);
  pthread_sigmask(SIG_BLOCK, &host_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout is reported by write(), not fatal
  vmm::install_fatal_signal_reporter();

  vmm::RunSettings settings;
  settings.start = start;
  const char* debug = std::getenv("VMM_DEBUG");
  settings.debug = debug != nullptr && *debug != '\0' && std::string(debug) != "0";
  try {
    return vmm::run_machine(options, settings);
  } catch (const vmm::UsageError& e) {
    std::fprintf(stderr, "vmm: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmm: %s\n", e.what());
    return 1;
  }
}
