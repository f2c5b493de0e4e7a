#pragma once
// A driver executes requests whose policy the Backend already applied (bounds, read-only,
// FUA, flush elision, discard mode): it only knows the fd and req.in_flight.
//
// Threading: submit() and process_completions() are called on one thread, the VMM's I/O
// thread. Drivers own no thread that calls back into devices: when completions are ready
// they make completion_fd() (an eventfd) readable; the I/O thread polls it and calls
// process_completions(), which invokes Request::completion for each finished request.
//
// Inline reaping: a driver whose requests finish at once (NullDriver) reports them through
// completions_ready(), and the submitter may deliver them with process_completions() before
// its batch ends. Such a driver may hold back the completion_fd() signal until the outermost
// end_batch() (or until submit() returns, outside a batch) and skip it when nothing is left by
// then. Whatever is not delivered at that point makes completion_fd() readable, so a
// submitter that never reaps inline loses nothing.
#include <cstddef>

#include "block/request.h"

namespace block {

class Driver {
 public:
  virtual ~Driver() = default;

  // Starts req.in_flight.action. Never completes the request from inside submit(); it never
  // drops a request either (a full queue means it is held back and issued later).
  virtual void submit(Request& req) = 0;

  // Between begin_batch() and end_batch() a driver may defer the actual kernel submission so
  // that one system call covers many requests (e.g. a virtqueue drained in one go).
  virtual void begin_batch() {}
  virtual void end_batch() {}

  virtual int completion_fd() const = 0;
  // True when process_completions() would deliver something right now, found without a
  // system call. False is always a safe answer: completion_fd() then tells.
  virtual bool completions_ready() const { return false; }
  // Delivers the ready completions; returns how many. Cheap and harmless when nothing is
  // ready, so it may also be called speculatively.
  virtual size_t process_completions() = 0;
  // Requests submitted and not yet completed.
  virtual size_t in_flight() const = 0;
};

}  // namespace block
