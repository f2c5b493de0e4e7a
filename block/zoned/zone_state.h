#pragma once
// The zone state machine (virtio-blk zoned / ZBC / ZNS conditions) with open/active resource
// accounting. Pure bookkeeping: no I/O, no threads; ZonedBackend drives it on the I/O thread.
//
// Write pointers: `write_pointer` is where the next write must start. It moves when a write is
// *accepted* (reserve_write), so concurrent writes/appends get disjoint ranges; the caller
// reports the outcome later (commit / roll back), see zoned_backend.h. `data_end` is the end
// of the data known to be written: reads above it return zeroes.
#include <cstdint>
#include <optional>
#include <vector>

#include "block/request.h"
#include "block/status.h"
#include "block/zoned/zone_geometry.h"

namespace block::zoned {

struct Zone {
  ZoneCondition condition = ZoneCondition::kEmpty;
  uint64_t write_pointer = 0;  // absolute sector; reservations included
  uint64_t data_end = 0;       // absolute sector; completed data below it
  uint64_t last_use = 0;       // for choosing which implicitly open zone to close
};

class ZoneTable {
 public:
  explicit ZoneTable(const ZoneGeometry& geometry);

  const ZoneGeometry& geometry() const { return g_; }
  const Zone& zone(uint32_t index) const { return zones_[index]; }
  uint32_t open_zones() const { return implicit_open_ + explicit_open_; }
  uint32_t implicit_open_zones() const { return implicit_open_; }
  uint32_t explicit_open_zones() const { return explicit_open_; }
  uint32_t active_zones() const { return implicit_open_ + explicit_open_ + closed_; }

  ZoneReport report(uint32_t index) const;

  // Checks a write of `sectors` at `sector` (append: at the write pointer of the zone starting
  // at `sector`), opens the zone implicitly if needed and reserves the range. Returns the first
  // sector to write.
  Status reserve_write(uint64_t sector, uint64_t sectors, bool append, uint64_t* start);
  // The reserved range [.., end) completed and everything below it too: data_end moves up; a
  // zone whose data reaches its capacity becomes FULL.
  void commit(uint32_t index, uint64_t end);
  // A failed write: the write pointer goes back to `to` (>= data_end, <= write_pointer).
  void roll_back(uint32_t index, uint64_t to);

  // Zone management. `sector` must be the zone start.
  Status open(uint64_t sector);
  Status close(uint64_t sector);
  Status finish(uint64_t sector);
  Status reset(uint64_t sector);
  void reset_all();

  // Checks a read range; reads may not cross into/out of a sequential zone.
  Status check_read(uint64_t sector, uint64_t sectors) const;
  // Checks a range for pass-through modification (conventional zones only).
  Status check_conventional(uint64_t sector, uint64_t sectors) const;

  // Loading persisted state and fault injection. Sets a sequential zone's condition and data
  // (write pointer == data_end; open conditions are not allowed: they come back CLOSED).
  // Returns false if the values are impossible for this zone.
  bool restore(uint32_t index, ZoneCondition condition, uint64_t data_end);
  // Tests: turns a sequential zone READ-ONLY or OFFLINE (releasing its resources).
  bool inject(uint32_t index, ZoneCondition condition);

  // Zone index for a zone-management sector, or nullopt if it is not a sequential zone start.
  std::optional<uint32_t> sequential_zone_at(uint64_t sector) const;

 private:
  void set_condition(uint32_t index, ZoneCondition condition);
  // Makes room for one more open zone, implicitly closing an implicitly open zone if needed.
  Status make_open_room(uint32_t except);
  bool can_activate() const;

  ZoneGeometry g_;
  std::vector<Zone> zones_;
  uint32_t implicit_open_ = 0;
  uint32_t explicit_open_ = 0;
  uint32_t closed_ = 0;
  uint64_t use_clock_ = 0;
};

bool is_active(ZoneCondition condition);
bool is_open(ZoneCondition condition);

}  // namespace block::zoned
