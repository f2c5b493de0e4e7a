#pragma once
// The persistent zone state: a sidecar file `<image>.zones` next to the raw image (format and
// crash-consistency argument in docs/zoned-format.md). Per sequential zone it keeps the
// condition class (writable / FULL / READ-ONLY / OFFLINE) and the end of the data known to
// be durable; open/closed state is not persisted (zones come back CLOSED after a restart).
//
// Each zone has two 32-byte record slots written alternately, each with a generation number
// and a CRC-32C: a torn or lost record write leaves the previous slot intact, and loading
// takes the valid slot with the higher generation.
//
// Single-threaded (the I/O thread). Writes are synchronous pwrite()s of one record; sync()
// makes them durable (fdatasync) and is the caller's ordering point.
#include <cstdint>
#include <string>
#include <vector>

#include "block/request.h"
#include "block/status.h"
#include "block/unique_fd.h"
#include "block/zoned/zone_geometry.h"

namespace block::zoned {

// What the file says about one zone.
struct PersistedZone {
  ZoneCondition condition = ZoneCondition::kEmpty;  // kEmpty (never written), kClosed
                                                    // (writable), kFull, kReadOnly, kOffline
  uint64_t data_end = 0;  // absolute sector; meaningful for all but kEmpty
  bool corrupt = false;   // both slots damaged: the zone is brought up OFFLINE
};

struct MetadataLayout {
  static constexpr char kMagic[8] = {'K', 'V', 'M', 'M', 'Z', 'O', 'N', 'E'};
  static constexpr uint32_t kVersion = 1;
  static constexpr uint32_t kHeaderBytes = 4096;
  static constexpr uint32_t kRecordBytes = 32;
  static constexpr uint32_t kSlots = 2;
  static uint64_t slot_offset(uint32_t zone, uint32_t slot) {
    return kHeaderBytes + (uint64_t{zone} * kSlots + slot) * kRecordBytes;
  }
};

class ZoneMetadata {
 public:
  // Opens `path` (creating and formatting it when it does not exist and !read_only) and checks
  // its geometry against `geometry`. Throws BlockError naming `path` on a mismatch or a damaged
  // header; never reformats an existing file. `unsynced` (cache=unsafe): sync() does nothing.
  static ZoneMetadata open(const std::string& path, const ZoneGeometry& geometry, bool read_only,
                           bool unsynced);
  // In-memory only (read-only drive without a metadata file; tests).
  static ZoneMetadata in_memory(const ZoneGeometry& geometry);

  ZoneMetadata(ZoneMetadata&&) noexcept = default;
  ZoneMetadata& operator=(ZoneMetadata&&) noexcept = default;

  // The state found at open, one entry per zone (conventional zones: kEmpty, unused).
  const std::vector<PersistedZone>& loaded() const { return loaded_; }
  const std::string& path() const { return path_; }
  bool created() const { return created_; }

  // Writes the next record for `zone` (not durable until sync()).
  Status write(uint32_t zone, ZoneCondition condition, uint64_t data_end);
  Status sync();

  uint64_t records_written() const { return records_written_; }
  uint64_t syncs() const { return syncs_; }

 private:
  ZoneMetadata() = default;
  void load(const ZoneGeometry& geometry);

  UniqueFd fd_;  // invalid: in memory / read-only without a file
  std::string path_;
  bool read_only_ = false;
  bool unsynced_ = false;
  bool created_ = false;
  std::vector<uint64_t> generation_;  // last generation written per zone
  std::vector<PersistedZone> loaded_;
  uint64_t records_written_ = 0;
  uint64_t syncs_ = 0;
};

// The sidecar file of an image.
inline std::string metadata_path_for(const std::string& image) { return image + ".zones"; }

}  // namespace block::zoned
