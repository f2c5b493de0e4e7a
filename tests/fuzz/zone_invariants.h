#pragma once
// The zoned fuzzer's oracle: rules every state of block::zoned::ZoneTable must satisfy,
// whatever sequence of commands led there. Aborts with the broken rule.
#include "block/zoned/zone_state.h"

namespace kvmm::fuzz {

void check_zone_invariants(const block::zoned::ZoneTable& table);

}  // namespace kvmm::fuzz
