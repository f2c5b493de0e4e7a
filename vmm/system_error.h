// Errors carry the failing operation as context, so a message names what went wrong.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace vmm {

// Throws std::system_error for the current errno, prefixed with `what`.
[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

[[noreturn]] inline void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace vmm
