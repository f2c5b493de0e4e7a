// kvmm-crashwriter: the guest side of the crash-consistency test (tests/boot/crash_test.sh).
// It writes self-describing 4 KiB records with O_DIRECT, flushes every BATCH records and only
// then prints how many records are durable, so the host may SIGKILL the VMM at any moment and
// later check that every record announced as durable is intact.
//
//   kvmm-crashwriter write   DEV GEN BATCH   records 0,1,2,... of generation GEN at offset i*4K;
//                                             prints "DURABLE <n>" after each completed fsync
//   kvmm-crashwriter verify  DEV GEN COUNT   records [0,COUNT) must be generation GEN
//   kvmm-crashwriter zverify DEV GEN -       only the check below the write pointer ("ZWP <n>")
//   kvmm-crashwriter zwrite  DEV GEN BATCH   first sequential zone: checks every record below the
//                                             write pointer ("ZWP <records>"), resets the zone when
//                                             nearly full, appends at the write pointer and prints
//                                             "ZDURABLE <records>" after each completed fsync
// Record layout (little endian): "KVMMREC\0", u64 generation, u64 index, pattern bytes,
// u32 FNV-1a of bytes [0, 4092). The crash test also runs `verify` on the host, on the image file
// (Bazel target //guest/tools:crashwriter).
#include <fcntl.h>
#include <linux/blkzoned.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

constexpr size_t kRecord = 4096;
constexpr size_t kSumOffset = kRecord - 4;
constexpr char kMagic[8] = {'K', 'V', 'M', 'M', 'R', 'E', 'C', '\0'};

struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, AlignedFree>;

Buffer aligned_buffer() {
  void* p = nullptr;
  if (posix_memalign(&p, kRecord, kRecord) != 0) {
    std::fprintf(stderr, "crashwriter: out of memory\n");
    std::exit(2);
  }
  return Buffer(static_cast<uint8_t*>(p));
}

uint32_t fnv1a(const uint8_t* data, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 16777619u;
  return h;
}

void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

void fill_record(uint8_t* r, uint64_t gen, uint64_t index) {
  std::memcpy(r, kMagic, 8);
  put64(r + 8, gen);
  put64(r + 16, index);
  for (size_t j = 24; j < kSumOffset; ++j) r[j] = static_cast<uint8_t>(gen * 131 + index * 31 + j);
  const uint32_t sum = fnv1a(r, kSumOffset);
  for (int i = 0; i < 4; ++i) r[kSumOffset + i] = static_cast<uint8_t>(sum >> (8 * i));
}

// Empty string when the record is intact; otherwise what is wrong with it.
std::string check_record(const uint8_t* r, uint64_t index, const uint64_t* want_gen) {
  if (std::memcmp(r, kMagic, 8) != 0) return "no record magic";
  uint32_t sum = 0;
  for (int i = 0; i < 4; ++i) sum |= static_cast<uint32_t>(r[kSumOffset + i]) << (8 * i);
  if (sum != fnv1a(r, kSumOffset)) return "checksum mismatch (torn or mixed record)";
  if (get64(r + 16) != index) return "index " + std::to_string(get64(r + 16)) + " at the wrong place";
  if (want_gen != nullptr && get64(r + 8) != *want_gen) {
    return "generation " + std::to_string(get64(r + 8)) + ", expected " + std::to_string(*want_gen);
  }
  return {};
}

[[noreturn]] void die(const char* what) {
  std::printf("CRASHWRITER-ERROR %s: %s\n", what, std::strerror(errno));
  std::fflush(stdout);
  std::exit(1);
}

int open_direct(const char* dev) {
  int fd = ::open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
  // The host-side check reads image files, possibly on tmpfs, which has no O_DIRECT.
  if (fd < 0 && errno == EINVAL) fd = ::open(dev, O_RDWR | O_CLOEXEC);
  if (fd < 0) die(dev);
  return fd;
}

uint64_t records_on(int fd) {
  uint64_t bytes = 0;
  if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
    struct stat st {};
    if (errno != ENOTTY || ::fstat(fd, &st) != 0) die("BLKGETSIZE64");
    bytes = static_cast<uint64_t>(st.st_size);  // a regular file (host-side self test)
  }
  return bytes / kRecord;
}

void say(const char* fmt, uint64_t v) {
  std::printf(fmt, static_cast<unsigned long long>(v));
  std::fflush(stdout);
}

int write_plain(const char* dev, uint64_t gen, uint64_t batch) {
  const int fd = open_direct(dev);
  const uint64_t capacity = records_on(fd);
  Buffer buf = aligned_buffer();
  for (uint64_t i = 0; i < capacity; ++i) {
    fill_record(buf.get(), gen, i);
    if (::pwrite(fd, buf.get(), kRecord, static_cast<off_t>(i * kRecord)) != kRecord) die("pwrite");
    if ((i + 1) % batch == 0) {
      if (::fsync(fd) != 0) die("fsync");
      say("DURABLE %llu\n", i + 1);
    }
  }
  say("CRASH-FULL %llu\n", capacity);
  for (;;) ::pause();  // the host kills the VM; the disk is full of this generation
}

int verify_plain(const char* dev, uint64_t gen, uint64_t count) {
  const int fd = open_direct(dev);
  Buffer buf = aligned_buffer();
  for (uint64_t i = 0; i < count; ++i) {
    if (::pread(fd, buf.get(), kRecord, static_cast<off_t>(i * kRecord)) != kRecord) die("pread");
    const std::string bad = check_record(buf.get(), i, &gen);
    if (!bad.empty()) {
      std::printf("CRASH-VERIFY bad record %llu: %s\n", static_cast<unsigned long long>(i), bad.c_str());
      return 1;
    }
  }
  say("CRASH-VERIFY ok %llu\n", count);
  return 0;
}

struct Zone {
  uint64_t start = 0;  // sectors
  uint64_t wp = 0;
  uint64_t capacity = 0;
};

Zone first_sequential_zone(int fd) {
  constexpr unsigned kZones = 64;
  const size_t bytes = sizeof(blk_zone_report) + kZones * sizeof(blk_zone);
  auto mem = std::make_unique<uint8_t[]>(bytes);
  auto* report = reinterpret_cast<blk_zone_report*>(mem.get());
  uint64_t sector = 0;
  for (;;) {
    std::memset(mem.get(), 0, bytes);
    report->sector = sector;
    report->nr_zones = kZones;
    if (::ioctl(fd, BLKREPORTZONE, report) != 0) die("BLKREPORTZONE");
    if (report->nr_zones == 0) break;
    for (unsigned i = 0; i < report->nr_zones; ++i) {
      const blk_zone& z = report->zones[i];
      if (z.type == BLK_ZONE_TYPE_SEQWRITE_REQ) {
        const uint64_t cap = (report->flags & BLK_ZONE_REP_CAPACITY) ? z.capacity : z.len;
        return {z.start, z.wp, cap};
      }
      sector = z.start + z.len;
    }
  }
  errno = ENODEV;
  die("no sequential zone");
}

// Checks every record below the first sequential zone's write pointer (a pointer ahead of the
// data shows up here) and prints "ZWP <records>". Returns false (after a ZVERIFY line) if one
// is damaged.
bool check_below_write_pointer(int fd, const Zone& zone, uint64_t wp) {
  Buffer buf = aligned_buffer();
  for (uint64_t i = 0; i < wp; ++i) {
    const off_t at = static_cast<off_t>(zone.start * 512 + i * kRecord);
    if (::pread(fd, buf.get(), kRecord, at) != kRecord) die("pread below the write pointer");
    const std::string bad = check_record(buf.get(), i, nullptr);
    if (!bad.empty()) {
      std::printf("ZVERIFY bad record %llu below the write pointer %llu: %s\n",
                  static_cast<unsigned long long>(i), static_cast<unsigned long long>(wp), bad.c_str());
      std::fflush(stdout);
      return false;
    }
  }
  say("ZWP %llu\n", wp);
  return true;
}

int zoned(const char* dev, uint64_t gen, uint64_t batch, bool write) {
  const int fd = open_direct(dev);
  const Zone zone = first_sequential_zone(fd);
  const uint64_t zone_records = zone.capacity * 512 / kRecord;
  uint64_t wp = (zone.wp - zone.start) * 512 / kRecord;
  if (!check_below_write_pointer(fd, zone, wp)) return 1;
  if (!write) return 0;
  if (zone_records - wp < 4 * batch) {
    blk_zone_range range{zone.start, zone.capacity};
    if (::ioctl(fd, BLKRESETZONE, &range) != 0) die("BLKRESETZONE");
    wp = 0;
    say("ZRESET %llu\n", 0);
  }
  Buffer buf = aligned_buffer();
  for (; wp < zone_records; ++wp) {
    fill_record(buf.get(), gen, wp);
    const off_t at = static_cast<off_t>(zone.start * 512 + wp * kRecord);
    if (::pwrite(fd, buf.get(), kRecord, at) != kRecord) die("pwrite at the write pointer");
    if ((wp + 1) % batch == 0) {
      if (::fsync(fd) != 0) die("fsync");
      say("ZDURABLE %llu\n", wp + 1);
    }
  }
  say("ZFULL %llu\n", wp);
  for (;;) ::pause();
}

uint64_t number(const char* text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 0);
  if (errno != 0 || end == text || *end != '\0') {
    std::fprintf(stderr, "crashwriter: bad %s '%s'\n", what, text);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s write|verify|zwrite|zverify DEV GEN BATCH|COUNT|-\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const uint64_t gen = number(argv[3], "generation");
  const uint64_t n = mode == "zverify" ? 0 : number(argv[4], mode == "verify" ? "count" : "batch");
  if (mode == "write" && n > 0) return write_plain(argv[2], gen, n);
  if (mode == "verify") return verify_plain(argv[2], gen, n);
  if (mode == "zwrite" && n > 0) return zoned(argv[2], gen, n, /*write=*/true);
  if (mode == "zverify") return zoned(argv[2], gen, 1, /*write=*/false);
  std::fprintf(stderr, "crashwriter: unknown mode '%s' (or zero batch)\n", argv[1]);
  return 2;
}
