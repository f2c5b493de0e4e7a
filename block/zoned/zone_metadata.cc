#include "block/zoned/zone_metadata.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "block/error.h"
#include "block/zoned/crc32c.h"

namespace block::zoned {
namespace {

using L = MetadataLayout;

// Header field offsets (little-endian).
constexpr size_t kOffVersion = 8, kOffHeaderBytes = 12, kOffDiskSectors = 16, kOffZoneSectors = 24,
                 kOffCapacity = 32, kOffNrZones = 40, kOffConventional = 44, kOffRecordBytes = 48,
                 kOffSlots = 52, kOffRecords = 56, kOffHeaderCrc = 64;
// Record field offsets.
constexpr size_t kRecGeneration = 0, kRecDataEnd = 8, kRecZone = 16, kRecCondition = 20, kRecCrc = 28;

void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw BlockError("vmm: -drive: zone metadata " + path + ": " + reason);
}

bool full_pwrite(int fd, const uint8_t* p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return true;
}

bool full_pread(int fd, uint8_t* p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

std::vector<uint8_t> make_header(const ZoneGeometry& g) {
  std::vector<uint8_t> h(L::kHeaderBytes, 0);
  std::memcpy(h.data(), L::kMagic, sizeof L::kMagic);
  put32(&h[kOffVersion], L::kVersion);
  put32(&h[kOffHeaderBytes], L::kHeaderBytes);
  put64(&h[kOffDiskSectors], g.disk_sectors);
  put64(&h[kOffZoneSectors], g.zone_sectors);
  put64(&h[kOffCapacity], g.capacity_sectors);
  put32(&h[kOffNrZones], g.nr_zones);
  put32(&h[kOffConventional], g.conventional_zones);
  put32(&h[kOffRecordBytes], L::kRecordBytes);
  put32(&h[kOffSlots], L::kSlots);
  put64(&h[kOffRecords], L::kHeaderBytes);
  put32(&h[kOffHeaderCrc], crc32c(h.data(), kOffHeaderCrc));
  return h;
}

uint64_t file_bytes(const ZoneGeometry& g) { return L::slot_offset(g.nr_zones, 0); }

std::string sectors_text(uint64_t sectors) {
  uint64_t bytes = sectors * kSectorSize;
  if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes % 1024 == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

// Writes a fresh file next to `path` and renames it into place, so a crash while formatting
// never leaves a half-written metadata file under the real name.
void format(const std::string& path, const ZoneGeometry& g) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644));
  if (!fd.valid()) fail(path, std::string("cannot create: ") + std::strerror(errno));
  std::vector<uint8_t> header = make_header(g);
  if (!full_pwrite(fd.get(), header.data(), header.size(), 0) ||
      ::ftruncate(fd.get(), static_cast<off_t>(file_bytes(g))) != 0 || ::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("cannot write: ") + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("cannot rename into place: ") + std::strerror(err));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  UniqueFd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.valid()) ::fsync(dfd.get());
}

void check_header(const std::string& path, const uint8_t* h, const ZoneGeometry& g) {
  if (std::memcmp(h, L::kMagic, sizeof L::kMagic) != 0) fail(path, "not a zone metadata file (bad magic)");
  if (get32(h + kOffHeaderCrc) != crc32c(h, kOffHeaderCrc)) fail(path, "header checksum mismatch (damaged file)");
  if (get32(h + kOffVersion) != L::kVersion) {
    fail(path, "unsupported version " + std::to_string(get32(h + kOffVersion)));
  }
  if (get32(h + kOffHeaderBytes) != L::kHeaderBytes || get32(h + kOffRecordBytes) != L::kRecordBytes ||
      get32(h + kOffSlots) != L::kSlots || get64(h + kOffRecords) != L::kHeaderBytes) {
    fail(path, "unsupported record layout");
  }
  std::string mismatch;
  auto cmp = [&](const char* what, uint64_t file, uint64_t want, bool as_size) {
    if (file == want || !mismatch.empty()) return;
    mismatch = std::string(what) + " is " + (as_size ? sectors_text(file) : std::to_string(file)) +
               " in the file but " + (as_size ? sectors_text(want) : std::to_string(want)) +
               " with these options";
  };
  cmp("zone_size", get64(h + kOffZoneSectors), g.zone_sectors, true);
  cmp("zone_capacity", get64(h + kOffCapacity), g.capacity_sectors, true);
  cmp("conventional_zones", get32(h + kOffConventional), g.conventional_zones, false);
  cmp("the disk size", get64(h + kOffDiskSectors), g.disk_sectors, true);
  cmp("the zone count", get32(h + kOffNrZones), g.nr_zones, false);
  if (!mismatch.empty()) {
    fail(path, "geometry mismatch: " + mismatch + " (fix the -drive options, or delete the file to "
               "reformat, which empties every zone)");
  }
}

}  // namespace

ZoneMetadata ZoneMetadata::in_memory(const ZoneGeometry& geometry) {
  ZoneMetadata m;
  m.generation_.assign(geometry.nr_zones, 0);
  m.loaded_.assign(geometry.nr_zones, PersistedZone{});
  for (uint32_t z = 0; z < geometry.nr_zones; ++z) m.loaded_[z].data_end = geometry.zone_start(z);
  return m;
}

ZoneMetadata ZoneMetadata::open(const std::string& path, const ZoneGeometry& geometry, bool read_only,
                                bool unsynced) {
  ZoneMetadata m = in_memory(geometry);
  m.path_ = path;
  m.read_only_ = read_only;
  m.unsynced_ = unsynced;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) fail(path, std::string("cannot stat: ") + std::strerror(errno));
    if (read_only) return m;  // nothing written yet: every zone is empty
    format(path, geometry);
    m.created_ = true;
  }
  m.fd_.reset(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!m.fd_.valid()) fail(path, std::string("cannot open: ") + std::strerror(errno));
  m.load(geometry);
  return m;
}

void ZoneMetadata::load(const ZoneGeometry& g) {
  std::vector<uint8_t> header(L::kHeaderBytes);
  if (!full_pread(fd_.get(), header.data(), header.size(), 0)) fail(path_, "too short for a header");
  check_header(path_, header.data(), g);
  std::vector<uint8_t> records(file_bytes(g) - L::kHeaderBytes);
  if (!full_pread(fd_.get(), records.data(), records.size(), L::kHeaderBytes)) {
    fail(path_, "truncated (expected " + std::to_string(file_bytes(g)) + " bytes)");
  }
  for (uint32_t zone = g.conventional_zones; zone < g.nr_zones; ++zone) {
    PersistedZone best;
    uint64_t best_gen = 0;
    bool any_written = false;
    for (uint32_t slot = 0; slot < L::kSlots; ++slot) {
      const uint8_t* r = records.data() + (L::slot_offset(zone, slot) - L::kHeaderBytes);
      bool blank = true;
      for (uint32_t i = 0; i < L::kRecordBytes; ++i) blank = blank && r[i] == 0;
      if (blank) continue;
      any_written = true;
      if (get32(r + kRecCrc) != crc32c(r, kRecCrc) || get32(r + kRecZone) != zone) continue;
      uint64_t gen = get64(r + kRecGeneration);
      if (gen <= best_gen) continue;
      uint64_t end = get64(r + kRecDataEnd);
      uint64_t start = g.zone_start(zone);
      uint8_t c = r[kRecCondition];
      bool known = c == uint8_t(ZoneCondition::kClosed) || c == uint8_t(ZoneCondition::kFull) ||
                   c == uint8_t(ZoneCondition::kReadOnly) || c == uint8_t(ZoneCondition::kOffline) ||
                   c == uint8_t(ZoneCondition::kEmpty);
      if (!known || end < start || end > start + g.zone_capacity(zone)) continue;
      best_gen = gen;
      best.condition = static_cast<ZoneCondition>(c);
      best.data_end = end;
    }
    if (any_written && best_gen == 0) best.corrupt = true;
    if (best_gen == 0 && !best.corrupt) best.data_end = g.zone_start(zone);
    generation_[zone] = best_gen;
    loaded_[zone] = best;
  }
}

Status ZoneMetadata::write(uint32_t zone, ZoneCondition condition, uint64_t data_end) {
  if (zone >= generation_.size()) return Status::of(StatusCode::kInvalid);
  if (!fd_.valid()) return read_only_ ? Status::of(StatusCode::kReadOnly) : Status::ok();
  uint64_t gen = generation_[zone] + 1;
  uint8_t r[L::kRecordBytes] = {};
  put64(r + kRecGeneration, gen);
  put64(r + kRecDataEnd, data_end);
  put32(r + kRecZone, zone);
  r[kRecCondition] = static_cast<uint8_t>(condition);
  put32(r + kRecCrc, crc32c(r, kRecCrc));
  // Alternate slots: the one holding the previous generation is never touched.
  if (!full_pwrite(fd_.get(), r, sizeof r, L::slot_offset(zone, static_cast<uint32_t>(gen % L::kSlots)))) {
    return Status::from_errno(errno == 0 ? EIO : errno);
  }
  generation_[zone] = gen;
  ++records_written_;
  return Status::ok();
}

Status ZoneMetadata::sync() {
  if (!fd_.valid() || unsynced_) return Status::ok();
  ++syncs_;
  if (::fdatasync(fd_.get()) != 0) return Status::from_errno(errno);
  return Status::ok();
}

}  // namespace block::zoned
