#include "tests/fuzz/zone_invariants.h"

#include <cstdio>
#include <cstdlib>

namespace kvmm::fuzz {
namespace {

using block::ZoneCondition;

[[noreturn]] void broken(uint32_t zone, const char* rule) {
  std::fprintf(stderr, "zone invariant broken (zone %u): %s\n", zone, rule);
  std::abort();
}

}  // namespace

void check_zone_invariants(const block::zoned::ZoneTable& table) {
  const auto& g = table.geometry();
  uint32_t implicit_open = 0, explicit_open = 0, closed = 0;
  for (uint32_t i = 0; i < g.nr_zones; ++i) {
    const auto& z = table.zone(i);
    uint64_t start = g.zone_start(i);
    uint64_t limit = start + g.zone_capacity(i);
    if (g.is_conventional(i)) {
      if (z.condition != ZoneCondition::kNotWritePointer) broken(i, "conventional zone with a condition");
      continue;
    }
    switch (z.condition) {
      case ZoneCondition::kImplicitOpen:
        ++implicit_open;
        break;
      case ZoneCondition::kExplicitOpen:
        ++explicit_open;
        break;
      case ZoneCondition::kClosed:
        ++closed;
        if (z.write_pointer == start) broken(i, "CLOSED zone at its start (should be EMPTY)");
        break;
      case ZoneCondition::kEmpty:
        if (z.write_pointer != start || z.data_end != start) broken(i, "EMPTY zone with data");
        break;
      case ZoneCondition::kFull:
        if (z.write_pointer != limit) broken(i, "FULL zone with its write pointer below capacity");
        break;
      case ZoneCondition::kReadOnly:
      case ZoneCondition::kOffline:
        continue;
      default:
        broken(i, "impossible condition");
    }
    if (z.data_end < start || z.data_end > z.write_pointer || z.write_pointer > limit) {
      broken(i, "write pointer / data end outside [start, start + capacity]");
    }
  }
  if (implicit_open != table.implicit_open_zones() || explicit_open != table.explicit_open_zones() ||
      closed + implicit_open + explicit_open != table.active_zones()) {
    broken(0, "open/active counters disagree with the zone conditions");
  }
  if (g.max_open_zones != 0 && table.open_zones() > g.max_open_zones) broken(0, "more open zones than max_open_zones");
  if (g.max_active_zones != 0 && table.active_zones() > g.max_active_zones) {
    broken(0, "more active zones than max_active_zones");
  }
}

}  // namespace kvmm::fuzz
