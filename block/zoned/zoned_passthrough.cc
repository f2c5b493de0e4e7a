// ZonedBackend, pass-through part: the zone table follows a host zoned device (zone_device.h).
#include <utility>

#include "block/zoned/zoned_backend.h"

namespace block::zoned {

ZonedBackend::Setup ZonedBackend::setup_from_device(const Backend& inner, std::unique_ptr<ZoneDevice> device,
                                                    const std::string& image_name) {
  std::vector<ZoneReport> zones;
  Geometry base = inner.geometry();
  ZoneGeometry g = device_geometry(*device, base.size_bytes, base.physical_block_size, image_name, &zones);
  return Setup{g, ZoneMetadata::in_memory(g), std::move(device), std::move(zones)};
}

// Pass-through: takes a zone's state from the device. Open zones are closed on the device
// too at start-up, so its open-resource accounting starts where ours does.
void ZonedBackend::load_zone(uint32_t zone, const ZoneReport& r, bool close_open_zones) {
  const ZoneGeometry& g = table_.geometry();
  uint64_t start = g.zone_start(zone);
  uint64_t limit = start + g.zone_capacity(zone);
  bool ok = true;
  switch (r.condition) {
    case ZoneCondition::kEmpty:
      ok = table_.restore(zone, ZoneCondition::kEmpty, start);
      break;
    case ZoneCondition::kImplicitOpen:
    case ZoneCondition::kExplicitOpen:
    case ZoneCondition::kClosed:
      if (close_open_zones && r.condition != ZoneCondition::kClosed) {
        (void)device_->manage(ZoneCommand::kClose, start, g.zone_length(zone));
      }
      ok = table_.restore(zone, ZoneCondition::kClosed, r.write_pointer);
      break;
    case ZoneCondition::kFull:
    case ZoneCondition::kReadOnly:
      ok = table_.restore(zone, r.condition, limit);  // readable up to the capacity
      break;
    default:
      ok = false;
      break;
  }
  if (!ok) table_.inject(zone, ZoneCondition::kOffline);
  ZoneRuntime& rt = runtime_[zone];
  rt.durable = table_.zone(zone).data_end;  // the device keeps its own state: nothing to persist
  rt.persisted_condition = ZoneCondition::kEmpty;
  rt.persisted_end = start;
}

void ZonedBackend::resync_from_device(uint32_t zone) {
  ZoneReport r;
  size_t n = 0;
  Status s = device_->report(table_.geometry().zone_start(zone), {&r, 1}, &n);
  if (!s.is_ok() || n != 1) {
    table_.inject(zone, ZoneCondition::kOffline);  // the device no longer answers for it
    return;
  }
  load_zone(zone, r, true);  // (an open zone is closed on both sides, keeping them in step)
}

// Pass-through: the zone command for `op`, after the table accepted it and changed state.
Status ZonedBackend::device_command(Op op, uint32_t zone) {
  ZoneCommand command = ZoneCommand::kReset;
  if (op == Op::kZoneOpen) command = ZoneCommand::kOpen;
  if (op == Op::kZoneClose) command = ZoneCommand::kClose;
  if (op == Op::kZoneFinish) command = ZoneCommand::kFinish;
  const ZoneGeometry& g = table_.geometry();
  Status s = device_->manage(command, g.zone_start(zone), g.zone_length(zone));
  if (!s.is_ok()) resync_from_device(zone);
  return s;
}

}  // namespace block::zoned
