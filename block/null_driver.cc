#include "block/null_driver.h"


namespace block {

NullDriver::NullDriver() : efd_(make_eventfd()) {}

void NullDriver::submit(Request& req) {
  req.in_flight.status = Status::ok();
  done_.push_back(&req);
  // Inside a batch the submitter may still reap it inline: decide at end_batch().
  if (batch_depth_ == 0) signal_if_pending();
}

void NullDriver::end_batch() {
  if (batch_depth_ > 0 && --batch_depth_ == 0) signal_if_pending();
}

void NullDriver::signal_if_pending() {
  if (done_.empty() || signalled_) return;  // one eventfd write per burst, not per request
  signal_eventfd(efd_.get());
  signalled_ = true;
}

size_t NullDriver::process_completions() {
  // Drain (only if written: that read is a system call) before taking the list, so requests
  // that completions submit below signal again (or wait for their batch's end).
  if (signalled_) {
    drain_eventfd(efd_.get());
    signalled_ = false;
  }
  detail::RequestQueue ready = done_.take_all();
  size_t n = 0;
  while (Request* req = ready.pop_front()) {
    bool transfer = req->op == Op::kRead || req->op == Op::kWrite;
    detail::deliver(*req, Status::ok(), transfer ? req->length : 0);
    ++n;
  }
  return n;
}

}  // namespace block
