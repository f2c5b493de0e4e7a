#pragma once
// The I/O thread as the AHCI and IDE fuzzers play it: work the controllers post is queued
// and run when the harness says so (like vmm::IoLoop::post, minus the thread).
#include <functional>
#include <utility>
#include <vector>

#include "devices/ata/io_thread_hook.h"

namespace kvmm::fuzz {

class PostedWork final : public devices::ata::IoThreadHook {
 public:
  void post(std::function<void()> work) override { queue_.push_back(std::move(work)); }
  bool pending() const { return !queue_.empty(); }
  // Runs what is queued, including what that queues, for at most `rounds` rounds.
  void run(int rounds = 16) {
    for (int i = 0; i < rounds && !queue_.empty(); ++i) {
      std::vector<std::function<void()>> now;
      now.swap(queue_);
      for (auto& work : now) work();
    }
  }

 private:
  std::vector<std::function<void()>> queue_;
};

}  // namespace kvmm::fuzz
