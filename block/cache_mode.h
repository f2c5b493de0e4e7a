#pragma once
// QEMU's cache= modes decomposed into the three switches the block layer actually acts on.
// The names are only a shorthand: `writeback` is the guest-visible write cache and can be
// toggled at run time by the guest (virtio CONFIG_WCE, ATA SET FEATURES 02h/82h), which is
// what turns writethrough behaviour on and off; `direct` and `no_flush` are fixed at open.
#include <string_view>

namespace block {

struct CacheMode {
  bool writeback = true;   // write cache enabled: writes may complete before being durable
  bool direct = false;     // O_DIRECT: bypass the host page cache
  bool no_flush = false;   // accept FLUSH/FUA but do not execute them (unsafe)

  friend bool operator==(const CacheMode&, const CacheMode&) = default;
};

// writeback | none | writethrough | directsync | unsafe. Throws BlockError naming the value
// and the accepted names.
CacheMode parse_cache_mode(std::string_view name);

// The cache= name of a mode. Combinations no name expresses (e.g. no_flush with direct) get
// the closest name by their fixed switches: unsafe if no_flush, else directsync/writethrough.
std::string_view cache_mode_name(const CacheMode& mode);

}  // namespace block
