#pragma once
// FIFO of requests linked through Request::in_flight.next: queueing never allocates.
#include <cstddef>

#include "block/request.h"

namespace block::detail {

class RequestQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  Request* front() const { return head_; }

  void push_back(Request* req) {
    req->in_flight.next = nullptr;
    if (tail_ != nullptr) {
      tail_->in_flight.next = req;
    } else {
      head_ = req;
    }
    tail_ = req;
    ++size_;
  }

  Request* pop_front() {
    Request* req = head_;
    if (req == nullptr) return nullptr;
    head_ = req->in_flight.next;
    if (head_ == nullptr) tail_ = nullptr;
    req->in_flight.next = nullptr;
    --size_;
    return req;
  }

  // Moves every element to the returned queue (O(1)), leaving this one empty.
  RequestQueue take_all() {
    RequestQueue all = *this;
    *this = RequestQueue();
    return all;
  }

 private:
  Request* head_ = nullptr;
  Request* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace block::detail
