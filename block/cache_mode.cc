#include "block/cache_mode.h"

#include <array>
#include <string>
#include <utility>

#include "block/error.h"

namespace block {
namespace {

constexpr std::array<std::pair<std::string_view, CacheMode>, 5> kModes{{
    {"writeback", {.writeback = true, .direct = false, .no_flush = false}},
    {"none", {.writeback = true, .direct = true, .no_flush = false}},
    {"writethrough", {.writeback = false, .direct = false, .no_flush = false}},
    {"directsync", {.writeback = false, .direct = true, .no_flush = false}},
    {"unsafe", {.writeback = true, .direct = false, .no_flush = true}},
}};

}  // namespace

CacheMode parse_cache_mode(std::string_view name) {
  for (const auto& [mode_name, mode] : kModes) {
    if (name == mode_name) return mode;
  }
  throw BlockError("invalid cache mode '" + std::string(name) +
                   "' (expected writeback, none, writethrough, directsync or unsafe)");
}

std::string_view cache_mode_name(const CacheMode& mode) {
  for (const auto& [mode_name, known] : kModes) {
    if (mode == known) return mode_name;
  }
  if (mode.no_flush) return "unsafe";
  return mode.direct ? "directsync" : "writethrough";
}

}  // namespace block
