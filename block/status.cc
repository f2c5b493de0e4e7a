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
    case StatusCode::kZoneInvalidCmd:
      return "invalid zone command";
    case StatusCode::kZoneUnalignedWp:
      return "write not at the zone write pointer";
    case StatusCode::kZoneOpenResource:
      return "too many open zones";
    case StatusCode::kZoneActiveResource:
      return "too many active zones";
  }
  return "unknown status";
}

}  // namespace block
