#pragma once
// The outcome of one block request. The codes are chosen so that every device maps them 1:1
// onto its own status (virtio-blk S_OK/S_IOERR/S_UNSUPP, ATA ABRT/IDNF/UNC, ...).
#include <cstdint>
#include <string>

namespace block {

enum class StatusCode : uint8_t {
  kOk,
  kIoError,      // the host I/O failed; Status::error holds the errno
  kNoSpace,      // host ENOSPC/EDQUOT; separate so a device may later pause instead of failing
  kUnsupported,  // this disk does not implement the operation
  kReadOnly,     // modifying request on a read-only disk (enforced even if the guest ignored RO)
  kOutOfRange,   // the range ends past the end of the disk; the file was not touched
  kInvalid,      // malformed request: misaligned, iovecs not matching the length, ...
  // Zoned drives (virtio-blk S_ZONE_*; ZBC/ZNS have equivalents):
  kZoneInvalidCmd,       // the zone's type/condition forbids it, crosses a zone, exceeds capacity
  kZoneUnalignedWp,      // a write to a sequential zone not at its write pointer
  kZoneOpenResource,     // opening the zone would exceed max_open_zones
  kZoneActiveResource,   // activating the zone would exceed max_active_zones
};

struct Status {
  StatusCode code = StatusCode::kOk;
  int error = 0;  // errno for kIoError / kNoSpace, else 0

  static constexpr Status ok() { return {}; }
  static constexpr Status of(StatusCode code) { return {code, 0}; }
  // Classifies a (positive) errno from the host.
  static Status from_errno(int err);

  bool is_ok() const { return code == StatusCode::kOk; }
  friend bool operator==(const Status&, const Status&) = default;
};

std::string to_string(Status status);

}  // namespace block
