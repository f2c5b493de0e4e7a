#pragma once
// A Driver decorator for the fuzzers: before handing a request to the real driver (NullDriver
// or the thread-pool driver on a temp file) it checks what the device built and touches every
// byte the transfer would touch, so AddressSanitizer sees it (the kernel's and the null
// driver's accesses are invisible to it). A transfer must lie entirely inside guest RAM or
// entirely in memory the process owns (e.g. IDE's PIO buffer); anything else aborts.
//
// Fault injection: bit i of the fail mask makes the i-th request this driver sees (of any kind,
// counting from 0, up to 63) fail with EIO instead of reaching the real driver, so the error
// completion paths of devices and the zoned layer run too.
#include <cstdint>
#include <memory>

#include "block/driver.h"
#include "block/request_queue.h"
#include "vmm/guest_memory.h"

namespace kvmm::fuzz {

class CheckingDriver final : public block::Driver {
 public:
  CheckingDriver(const vmm::GuestMemory& memory, std::unique_ptr<block::Driver> inner, uint64_t fail_mask = 0)
      : memory_(memory), inner_(std::move(inner)), fail_mask_(fail_mask) {}

  void submit(block::Request& req) override;
  void begin_batch() override { inner_->begin_batch(); }
  void end_batch() override { inner_->end_batch(); }
  int completion_fd() const override { return inner_->completion_fd(); }
  bool completions_ready() const override { return !failed_.empty() || inner_->completions_ready(); }
  size_t process_completions() override;
  size_t in_flight() const override { return inner_->in_flight() + failed_.size(); }

 private:
  void check_transfer(const block::Request& req) const;

  const vmm::GuestMemory& memory_;
  std::unique_ptr<block::Driver> inner_;
  mutable uint8_t sink_ = 0;  // keeps the write-side reads from being optimized away
  uint64_t fail_mask_;
  uint64_t submitted_ = 0;
  block::detail::RequestQueue failed_;  // injected failures, delivered by process_completions()
  bool signalled_ = false;  // we wrote the inner driver's eventfd: we must drain it too
};

}  // namespace kvmm::fuzz
