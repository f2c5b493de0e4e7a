#include "block/status.h"

#include <cerrno>
#include <cstring>

namespace block {

Status Status::from_errno(int err) {
  if (err == ENOSPC || err == EDQUOT) return {StatusCode::kNoSpace, err};
  return {StatusCode::kIoError, err};
}

std::string to_string(Status status) {
  switch (status.code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kIoError:
      return std::string("I/O error: ") + std::strerror(status.error);
    case StatusCode::kNoSpace:
      return std::string("no space: ") + std::strerror(status.error);
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kReadOnly:
      return "read-only";
    case StatusCode::kOutOfRange:
      return "out of range";
    case StatusCode::kInvalid:
      return "invalid request";
  }
  return "unknown status";
}

}  // namespace block
