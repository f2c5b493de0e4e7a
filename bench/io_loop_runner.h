#pragma once
// The VMM's real hand-off for AHCI/IDE commands: devices::ata::IoLoopHook over a vmm::IoLoop,
// whose posted callbacks the benchmark thread runs with run_pending() (what the I/O thread does
// when the loop's wake eventfd fires). Measures post() with its mutex, vector and eventfd write.
#include "bench/machine_stubs.h"
#include "devices/ata/io_loop_hook.h"
#include "vmm/io_loop.h"

namespace bench {

class IoLoopRunner {
 public:
  devices::ata::IoThreadHook& hook() { return hook_; }
  void run() { loop_.run_pending(); }

 private:
  vmm::IoLoop loop_;
  devices::ata::IoLoopHook hook_{loop_};
};

// The allocation-free stand-in (bench/machine_stubs.h PostedWork) behind the same interface.
class PostedRunner {
 public:
  devices::ata::IoThreadHook& hook() { return work_; }
  void run() { work_.run(); }

 private:
  PostedWork work_;
};

}  // namespace bench
