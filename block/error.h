#pragma once
// Configuration and open-time failures are exceptions carrying a complete one-line message
// (`vmm: -drive file=X: ...`) that the VMM prints as is. Per-request failures are never
// exceptions: they travel as block::Status values to the device.
#include <stdexcept>
#include <string>

namespace block {

class BlockError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace block
