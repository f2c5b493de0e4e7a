#include "block/zoned/zone_state.h"

namespace block::zoned {
namespace {

Status zone_status(StatusCode code) { return Status::of(code); }

bool in_disk(const ZoneGeometry& g, uint64_t sector, uint64_t sectors) {
  return sector <= g.disk_sectors && sectors <= g.disk_sectors - sector;
}

}  // namespace

bool is_open(ZoneCondition c) {
  return c == ZoneCondition::kImplicitOpen || c == ZoneCondition::kExplicitOpen;
}

bool is_active(ZoneCondition c) { return is_open(c) || c == ZoneCondition::kClosed; }

ZoneTable::ZoneTable(const ZoneGeometry& geometry) : g_(geometry), zones_(geometry.nr_zones) {
  for (uint32_t i = 0; i < g_.nr_zones; ++i) {
    Zone& z = zones_[i];
    z.write_pointer = z.data_end = g_.zone_start(i);
    if (g_.is_conventional(i)) {
      z.condition = ZoneCondition::kNotWritePointer;
      z.write_pointer = z.data_end = g_.zone_start(i) + g_.zone_length(i);
    }
  }
}

ZoneReport ZoneTable::report(uint32_t index) const {
  const Zone& z = zones_[index];
  ZoneReport r;
  r.start = g_.zone_start(index);
  r.length = g_.zone_length(index);
  r.capacity = g_.zone_capacity(index);
  r.condition = z.condition;
  r.type = g_.is_conventional(index) ? ZoneType::kConventional : ZoneType::kSequentialWriteRequired;
  switch (z.condition) {
    case ZoneCondition::kNotWritePointer:
    case ZoneCondition::kFull:
      r.write_pointer = r.start + r.length;
      break;
    case ZoneCondition::kReadOnly:
    case ZoneCondition::kOffline:
      r.write_pointer = ~uint64_t{0};
      break;
    default:
      r.write_pointer = z.write_pointer;
      break;
  }
  return r;
}

void ZoneTable::set_condition(uint32_t index, ZoneCondition condition) {
  ZoneCondition& c = zones_[index].condition;
  auto count = [this](ZoneCondition k) -> uint32_t* {
    if (k == ZoneCondition::kImplicitOpen) return &implicit_open_;
    if (k == ZoneCondition::kExplicitOpen) return &explicit_open_;
    if (k == ZoneCondition::kClosed) return &closed_;
    return nullptr;
  };
  if (uint32_t* n = count(c)) --*n;
  c = condition;
  if (uint32_t* n = count(c)) ++*n;
}

bool ZoneTable::can_activate() const {
  return g_.max_active_zones == 0 || active_zones() < g_.max_active_zones;
}

Status ZoneTable::make_open_room(uint32_t except) {
  if (g_.max_open_zones == 0 || open_zones() < g_.max_open_zones) return Status::ok();
  // Implicitly close the least recently used implicitly open zone.
  std::optional<uint32_t> victim;
  for (uint32_t i = g_.conventional_zones; i < g_.nr_zones; ++i) {
    if (i == except || zones_[i].condition != ZoneCondition::kImplicitOpen) continue;
    if (!victim || zones_[i].last_use < zones_[*victim].last_use) victim = i;
  }
  if (!victim) return zone_status(StatusCode::kZoneOpenResource);
  const Zone& v = zones_[*victim];
  set_condition(*victim, v.write_pointer == g_.zone_start(*victim) ? ZoneCondition::kEmpty
                                                                    : ZoneCondition::kClosed);
  return Status::ok();
}

std::optional<uint32_t> ZoneTable::sequential_zone_at(uint64_t sector) const {
  if (sector >= g_.disk_sectors) return std::nullopt;
  uint32_t index = g_.zone_of(sector);
  if (g_.is_conventional(index) || g_.zone_start(index) != sector) return std::nullopt;
  return index;
}

Status ZoneTable::reserve_write(uint64_t sector, uint64_t sectors, bool append, uint64_t* start) {
  if (sectors == 0 || !in_disk(g_, sector, sectors)) return zone_status(StatusCode::kOutOfRange);
  uint32_t index = g_.zone_of(sector);
  Zone& z = zones_[index];
  if (g_.is_conventional(index)) return zone_status(StatusCode::kZoneInvalidCmd);
  switch (z.condition) {
    case ZoneCondition::kFull:
    case ZoneCondition::kReadOnly:
    case ZoneCondition::kOffline:
      return zone_status(StatusCode::kZoneInvalidCmd);
    default:
      break;
  }
  uint64_t zstart = g_.zone_start(index);
  uint64_t granule = g_.granularity_sectors();
  if (sectors % granule != 0) return zone_status(StatusCode::kZoneInvalidCmd);
  if (append) {
    if (sector != zstart || sectors > g_.max_append_sectors) {
      return zone_status(StatusCode::kZoneInvalidCmd);
    }
  } else {
    if (sectors > g_.zone_length(index) - (sector - zstart)) {
      return zone_status(StatusCode::kZoneInvalidCmd);  // crosses into the next zone
    }
    if (sector != z.write_pointer) return zone_status(StatusCode::kZoneUnalignedWp);
  }
  uint64_t target = z.write_pointer;
  uint64_t limit = zstart + g_.zone_capacity(index);
  if (target > limit || sectors > limit - target) return zone_status(StatusCode::kZoneInvalidCmd);

  if (z.condition == ZoneCondition::kEmpty) {
    if (!can_activate()) return zone_status(StatusCode::kZoneActiveResource);
    if (Status s = make_open_room(index); !s.is_ok()) return s;
    set_condition(index, ZoneCondition::kImplicitOpen);
  } else if (z.condition == ZoneCondition::kClosed) {
    if (Status s = make_open_room(index); !s.is_ok()) return s;
    set_condition(index, ZoneCondition::kImplicitOpen);
  }
  z.write_pointer = target + sectors;
  z.last_use = ++use_clock_;
  *start = target;
  return Status::ok();
}

void ZoneTable::commit(uint32_t index, uint64_t end) {
  Zone& z = zones_[index];
  if (end > z.data_end) z.data_end = end;
  uint64_t limit = g_.zone_start(index) + g_.zone_capacity(index);
  if (z.data_end >= limit && is_active(z.condition)) {
    set_condition(index, ZoneCondition::kFull);
    z.write_pointer = limit;
  }
}

void ZoneTable::roll_back(uint32_t index, uint64_t to) {
  Zone& z = zones_[index];
  if (to < z.data_end) to = z.data_end;
  if (to < z.write_pointer) z.write_pointer = to;
  // A closed zone left without data releases its active slot.
  if (z.condition == ZoneCondition::kClosed && z.write_pointer == g_.zone_start(index)) {
    set_condition(index, ZoneCondition::kEmpty);
  }
}

Status ZoneTable::open(uint64_t sector) {
  std::optional<uint32_t> at = sequential_zone_at(sector);
  if (!at) return zone_status(StatusCode::kZoneInvalidCmd);
  uint32_t index = *at;
  switch (zones_[index].condition) {
    case ZoneCondition::kExplicitOpen:
      return Status::ok();
    case ZoneCondition::kImplicitOpen:
      set_condition(index, ZoneCondition::kExplicitOpen);
      return Status::ok();
    case ZoneCondition::kEmpty:
      if (!can_activate()) return zone_status(StatusCode::kZoneActiveResource);
      [[fallthrough]];
    case ZoneCondition::kClosed:
      if (Status s = make_open_room(index); !s.is_ok()) return s;
      set_condition(index, ZoneCondition::kExplicitOpen);
      zones_[index].last_use = ++use_clock_;
      return Status::ok();
    default:
      return zone_status(StatusCode::kZoneInvalidCmd);
  }
}

Status ZoneTable::close(uint64_t sector) {
  std::optional<uint32_t> at = sequential_zone_at(sector);
  if (!at) return zone_status(StatusCode::kZoneInvalidCmd);
  uint32_t index = *at;
  Zone& z = zones_[index];
  switch (z.condition) {
    case ZoneCondition::kImplicitOpen:
    case ZoneCondition::kExplicitOpen:
      set_condition(index, z.write_pointer == sector ? ZoneCondition::kEmpty : ZoneCondition::kClosed);
      return Status::ok();
    case ZoneCondition::kClosed:
      return Status::ok();
    default:
      // Includes EMPTY: the spec lists no EMPTY -> CLOSED transition ("if the transition can not
      // be performed ... INVALID_CMD"); null_blk and ZNS drives refuse it too.
      return zone_status(StatusCode::kZoneInvalidCmd);
  }
}

Status ZoneTable::finish(uint64_t sector) {
  std::optional<uint32_t> at = sequential_zone_at(sector);
  if (!at) return zone_status(StatusCode::kZoneInvalidCmd);
  uint32_t index = *at;
  Zone& z = zones_[index];
  switch (z.condition) {
    case ZoneCondition::kFull:
      return Status::ok();
    case ZoneCondition::kEmpty:
    case ZoneCondition::kImplicitOpen:
    case ZoneCondition::kExplicitOpen:
    case ZoneCondition::kClosed:
      set_condition(index, ZoneCondition::kFull);
      z.write_pointer = sector + g_.zone_capacity(index);
      return Status::ok();  // data_end stays: the unwritten rest reads as zeroes
    default:
      return zone_status(StatusCode::kZoneInvalidCmd);
  }
}

Status ZoneTable::reset(uint64_t sector) {
  std::optional<uint32_t> at = sequential_zone_at(sector);
  if (!at) return zone_status(StatusCode::kZoneInvalidCmd);
  uint32_t index = *at;
  Zone& z = zones_[index];
  switch (z.condition) {
    case ZoneCondition::kReadOnly:
    case ZoneCondition::kOffline:
      return zone_status(StatusCode::kZoneInvalidCmd);
    default:
      set_condition(index, ZoneCondition::kEmpty);
      z.write_pointer = z.data_end = sector;
      return Status::ok();
  }
}

void ZoneTable::reset_all() {
  for (uint32_t i = g_.conventional_zones; i < g_.nr_zones; ++i) {
    ZoneCondition c = zones_[i].condition;
    if (is_active(c) || c == ZoneCondition::kFull) (void)reset(g_.zone_start(i));
  }
}

Status ZoneTable::check_read(uint64_t sector, uint64_t sectors) const {
  if (!in_disk(g_, sector, sectors)) return zone_status(StatusCode::kOutOfRange);
  if (sectors == 0) return Status::ok();
  uint32_t first = g_.zone_of(sector);
  uint32_t last = g_.zone_of(sector + sectors - 1);
  if (first != last && !g_.is_conventional(last)) return zone_status(StatusCode::kZoneInvalidCmd);
  if (zones_[first].condition == ZoneCondition::kOffline) return zone_status(StatusCode::kZoneInvalidCmd);
  return Status::ok();
}

Status ZoneTable::check_conventional(uint64_t sector, uint64_t sectors) const {
  if (!in_disk(g_, sector, sectors)) return zone_status(StatusCode::kOutOfRange);
  if (sectors == 0) return Status::ok();
  if (!g_.is_conventional(g_.zone_of(sector + sectors - 1))) return zone_status(StatusCode::kZoneInvalidCmd);
  return Status::ok();
}

bool ZoneTable::restore(uint32_t index, ZoneCondition condition, uint64_t data_end) {
  if (index >= g_.nr_zones || g_.is_conventional(index)) return false;
  uint64_t start = g_.zone_start(index);
  uint64_t limit = start + g_.zone_capacity(index);
  if (data_end < start || data_end > limit) return false;
  Zone& z = zones_[index];
  switch (condition) {
    case ZoneCondition::kEmpty:
    case ZoneCondition::kImplicitOpen:
    case ZoneCondition::kExplicitOpen:
    case ZoneCondition::kClosed:
      // After a restart nothing is open: a zone with data comes back CLOSED.
      condition = data_end == start ? ZoneCondition::kEmpty
                  : data_end == limit ? ZoneCondition::kFull
                                      : ZoneCondition::kClosed;
      break;
    case ZoneCondition::kFull:
    case ZoneCondition::kReadOnly:
    case ZoneCondition::kOffline:
      break;
    default:
      return false;
  }
  set_condition(index, condition);
  z.data_end = data_end;
  z.write_pointer = condition == ZoneCondition::kFull ? limit : data_end;
  return true;
}

bool ZoneTable::inject(uint32_t index, ZoneCondition condition) {
  if (condition != ZoneCondition::kReadOnly && condition != ZoneCondition::kOffline) return false;
  if (index >= g_.nr_zones || g_.is_conventional(index)) return false;
  set_condition(index, condition);
  return true;
}

}  // namespace block::zoned
