// Builds the virtual PC described by Options, boots Linux on it and runs it to completion.
#pragma once

#include <chrono>

#include "vmm/command_line.h"

namespace vmm {

struct RunSettings {
  std::chrono::steady_clock::time_point start;  // VMM start, for the boot-time marker
  bool debug = false;                           // log unmapped accesses and refused MSRs
};

// Returns the VMM's exit status (the guest's, via port 0xf4, or 0 on reset). Throws on setup
// errors. Host signals SIGINT/SIGTERM/SIGHUP must already be blocked in the calling thread.
int run_machine(const Options& options, const RunSettings& settings);

}  // namespace vmm
