#include "vmm/io_bus.h"

#include <cstdio>
#include <stdexcept>

namespace vmm {
namespace {

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

void IoBus::add(uint64_t base, uint64_t size, std::shared_ptr<devices::IoDevice> device) {
  if (size == 0 || base + size < base) {
    throw std::invalid_argument(name_ + " bus: invalid range at " + hex(base));
  }
  if (!device) throw std::invalid_argument(name_ + " bus: null device at " + hex(base));
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + size) {
    throw std::invalid_argument(name_ + " bus: [" + hex(base) + ", " + hex(base + size) +
                                ") overlaps the device at " + hex(next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > base) {
      throw std::invalid_argument(name_ + " bus: [" + hex(base) + ", " + hex(base + size) +
                                  ") overlaps the device at " + hex(prev->first));
    }
  }
  ranges_.emplace(base, Range{size, std::move(device)});
}

const std::pair<const uint64_t, IoBus::Range>* IoBus::find(uint64_t address, size_t length) const {
  auto it = ranges_.upper_bound(address);
  if (it == ranges_.begin()) return nullptr;
  --it;
  const uint64_t offset = address - it->first;
  if (offset >= it->second.size || length > it->second.size - offset) return nullptr;
  return &*it;
}

bool IoBus::read(uint64_t address, std::span<uint8_t> data) {
  if (const auto* hit = find(address, data.size())) {
    hit->second.device->read(address - hit->first, data);
    return true;
  }
  for (auto& b : data) b = 0xFF;
  note_unmapped("read", address, data.size());
  return false;
}

bool IoBus::write(uint64_t address, std::span<const uint8_t> data) {
  if (const auto* hit = find(address, data.size())) {
    hit->second.device->write(address - hit->first, data);
    return true;
  }
  note_unmapped("write", address, data.size());
  return false;
}

void IoBus::note_unmapped(const char* kind, uint64_t address, size_t length) {
  const uint64_t count = unmapped_.fetch_add(1) + 1;
  if (log_unmapped_ && count <= kMaxUnmappedLogs) {
    std::fprintf(stderr, "vmm: %s bus: unmapped %zu-byte %s at %s%s\n", name_.c_str(), length,
                 kind, hex(address).c_str(),
                 count == kMaxUnmappedLogs ? " (further ones not logged)" : "");
  }
}

}  // namespace vmm
