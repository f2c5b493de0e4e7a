#include "tests/fuzz/checking_driver.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "block/unique_fd.h"

namespace kvmm::fuzz {
namespace {

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "CheckingDriver: %s\n", what);
  std::abort();
}

enum class Where { kGuestRam, kStraddles, kElsewhere };

Where locate(const vmm::GuestMemory& memory, const iovec& v) {
  auto begin = reinterpret_cast<uintptr_t>(v.iov_base);
  for (const auto& slot : memory.slots()) {
    auto base = reinterpret_cast<uintptr_t>(slot.mapping.data());
    uintptr_t end = base + slot.region.size;
    bool starts_inside = begin >= base && begin < end;
    bool overlaps = begin < end && begin + v.iov_len > base;
    if (starts_inside && v.iov_len <= end - begin) return Where::kGuestRam;
    if (overlaps) return Where::kStraddles;
  }
  return Where::kElsewhere;
}

}  // namespace

void CheckingDriver::check_transfer(const block::Request& req) const {
  using block::detail::Action;
  const block::detail::InFlight& f = req.in_flight;
  if (f.action != Action::kRead && f.action != Action::kWrite) return;
  uint64_t total = 0;
  for (const iovec& v : req.iov) {
    if (v.iov_len == 0) continue;
    if (v.iov_base == nullptr) violation("null iovec base");
    if (locate(memory_, v) == Where::kStraddles) violation("iovec crosses the end of a guest RAM region");
    // Reads fill the buffer, writes read it: the same accesses the real I/O makes, but
    // visible to the sanitizers (a heap buffer overrun is reported right here).
    auto* p = static_cast<uint8_t*>(v.iov_base);
    if (f.action == Action::kRead) {
      std::memset(p, 0xA5, v.iov_len);
    } else {
      uint8_t sum = 0;
      for (size_t i = 0; i < v.iov_len; ++i) sum = static_cast<uint8_t>(sum + p[i]);
      sink_ = static_cast<uint8_t>(sink_ + sum);
    }
    total += v.iov_len;
  }
  if (total != req.length) violation("iovecs do not add up to the request length");
}

void CheckingDriver::submit(block::Request& req) {
  check_transfer(req);
  uint64_t n = submitted_++;
  if (n < 64 && ((fail_mask_ >> n) & 1)) {
    // Like a driver: never complete inside submit(); wake the I/O thread through the real
    // driver's eventfd. Drained by us: NullDriver reads it only after writing it itself.
    req.in_flight.status = block::Status::from_errno(EIO);
    if (!signalled_) {
      block::signal_eventfd(inner_->completion_fd());
      signalled_ = true;
    }
    failed_.push_back(&req);
    return;
  }
  inner_->submit(req);
}

size_t CheckingDriver::process_completions() {
  if (signalled_) {
    // Harmless for the inner driver: its own process_completions() follows right away.
    block::drain_eventfd(inner_->completion_fd());
    signalled_ = false;
  }
  block::detail::RequestQueue ready = failed_.take_all();
  size_t n = 0;
  while (block::Request* req = ready.pop_front()) {
    block::detail::deliver(*req, req->in_flight.status, 0);
    ++n;
  }
  return n + inner_->process_completions();
}

}  // namespace kvmm::fuzz
