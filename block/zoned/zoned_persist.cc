// ZonedBackend, persistence part: which zone records go to the metadata file, and when
// (the ordering argument is in docs/zoned-format.md).
#include <algorithm>

#include "block/zoned/zoned_backend.h"

namespace block::zoned {

void ZonedBackend::mark_dirty(uint32_t zone) {
  if (runtime_[zone].dirty) return;
  runtime_[zone].dirty = true;
  dirty_.push_back(zone);
}

// The record for a zone: its condition class and the durable end of its data. A zone that
// became FULL by writes whose data is not durable yet stays writable on disk (after a crash
// it comes back CLOSED at the durable end).
Status ZonedBackend::persist(uint32_t zone, bool sync) {
  ZoneRuntime& rt = runtime_[zone];
  const Zone& z = table_.zone(zone);
  const ZoneGeometry& g = table_.geometry();
  uint64_t start = g.zone_start(zone);
  uint64_t limit = start + g.zone_capacity(zone);
  uint64_t end = std::min(rt.durable, z.data_end);
  ZoneCondition c = z.condition;
  bool filled_not_durable = c == ZoneCondition::kFull && z.data_end >= limit && end < limit;
  if (c != ZoneCondition::kFull && c != ZoneCondition::kReadOnly && c != ZoneCondition::kOffline) {
    c = end == start ? ZoneCondition::kEmpty : ZoneCondition::kClosed;
  } else if (filled_not_durable) {
    c = end == start ? ZoneCondition::kEmpty : ZoneCondition::kClosed;
  }
  if (c == rt.persisted_condition && end == rt.persisted_end) return Status::ok();
  if (read_only_) return Status::ok();
  Status s = metadata_.write(zone, c, end);
  if (s.is_ok() && sync) s = metadata_.sync();
  if (!s.is_ok()) {
    mark_dirty(zone);  // retried by the next flush
    return s;
  }
  rt.persisted_condition = c;
  rt.persisted_end = end;
  return s;
}

Status ZonedBackend::persist_zones(const std::vector<uint32_t>& zones) {
  Status result;
  uint64_t before = metadata_.records_written();
  for (uint32_t z : zones) {
    Status s = persist(z, false);
    if (!s.is_ok() && result.is_ok()) result = s;
  }
  bool wrote = metadata_.records_written() != before;
  if (wrote && result.is_ok()) result = metadata_.sync();
  return result;
}

}  // namespace block::zoned
