// A child process runs a zoned drive, writes, flushes (or relies on FUA/writethrough), reports
// the acknowledgements through a pipe and is SIGKILLed with everything still open. The parent
// reopens the image: every write pointer must cover exactly durable, correct data: at least
// what was acknowledged as durable, never data that is not there.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "block/zoned/zoned_backend.h"
#include "tests/block/test_util.h"
#include "tests/block/zoned/zoned_test_util.h"

namespace block::zoned::testing {
namespace {

using block::testing::TempDir;

constexpr uint64_t kZoneSectors = 2048;
constexpr uint64_t Z(uint32_t zone) { return zone * kZoneSectors; }

std::string options(const std::string& path, const std::string& cache, const std::string& aio) {
  return "file=" + path + ",zoned=on,zone_size=1M,conventional_zones=2,cache=" + cache + ",aio=" + aio;
}

uint8_t fill_for(uint32_t zone, uint64_t sector) { return static_cast<uint8_t>(zone * 16 + sector / 64 + 1); }

Status write_chunk(ZonedBackend& zb, uint32_t zone, uint64_t sector, uint64_t sectors, bool fua = false) {
  return write_at(zb, sector, sectors * kSector, fill_for(zone, sector - Z(zone)), fua);
}

Status flush(ZonedBackend& zb) {
  ZSlot s;
  s.req.op = Op::kFlush;
  return run(zb, s);
}

int child_main(const std::string& opts, int ack_fd) {
  try {
    auto zb = ZonedBackend::open(parse_drive_options(opts));
    // Zone 2: 128 sectors flushed, then 128 more without a flush.
    if (!write_chunk(*zb, 2, Z(2), 64).is_ok() || !write_chunk(*zb, 2, Z(2) + 64, 64).is_ok()) return 3;
    if (!flush(*zb).is_ok()) return 4;
    if (!write_chunk(*zb, 2, Z(2) + 128, 64).is_ok() || !write_chunk(*zb, 2, Z(2) + 192, 64).is_ok()) return 5;
    // Zone 3: FUA writes, never flushed.
    if (!write_chunk(*zb, 3, Z(3), 64, true).is_ok()) return 6;
    // Zone 4: data then FINISH.
    if (!write_chunk(*zb, 4, Z(4), 64).is_ok()) return 7;
    if (!zone_op(*zb, Op::kZoneFinish, Z(4)).is_ok()) return 8;
    // Zone 5: data, flush, RESET, new data without a flush.
    if (!write_chunk(*zb, 5, Z(5), 64).is_ok() || !flush(*zb).is_ok()) return 9;
    if (!zone_op(*zb, Op::kZoneReset, Z(5)).is_ok()) return 10;
    if (!write_chunk(*zb, 5, Z(5), 64).is_ok()) return 11;
    char ack = 'A';
    if (::write(ack_fd, &ack, 1) != 1) return 12;
    for (;;) ::pause();
  } catch (const std::exception& e) {
    ::fprintf(stderr, "child: %s\n", e.what());
    return 2;
  }
}

// Every sector below the write pointer holds what the child wrote there.
void expect_data_below_wp(ZonedBackend& zb, uint32_t zone, uint64_t wp) {
  for (uint64_t s = Z(zone); s < wp; s += 64) {
    ZSlot r;
    r.io(Op::kRead, s * kSector, 64 * kSector);
    ASSERT_TRUE(run(zb, r).is_ok());
    uint8_t want = fill_for(zone, s - Z(zone));
    for (uint8_t b : r.buf) {
      ASSERT_EQ(b, want) << "zone " << zone << " sector " << s;
    }
  }
}

class ZonedCrashTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(ZonedCrashTest, WritePointersMatchDurableDataAfterSigkill) {
  auto [cache, aio] = GetParam();
  TempDir dir;
  if (parse_cache_mode(cache).direct && !dir.direct_ok()) GTEST_SKIP() << "no O_DIRECT-capable directory";
  std::string path = dir.file("zoned.img");
  block::testing::write_file(path, std::vector<uint8_t>(16 << 20, 0x5c));
  std::string opts = options(path, cache, aio);

  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::_exit(child_main(opts, fds[1]));
  }
  ::close(fds[1]);
  pollfd p{fds[0], POLLIN, 0};
  char ack = 0;
  bool acked = ::poll(&p, 1, 20000) == 1 && ::read(fds[0], &ack, 1) == 1 && ack == 'A';
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  ASSERT_TRUE(acked) << "child exit status " << WEXITSTATUS(wstatus);

  auto zb = ZonedBackend::open(parse_drive_options(opts));
  bool writethrough = !parse_cache_mode(cache).writeback;
  ZoneReport z2 = report_one(*zb, Z(2));
  EXPECT_EQ(z2.condition, ZoneCondition::kClosed);
  EXPECT_GE(z2.write_pointer, Z(2) + 128);  // flushed
  EXPECT_LE(z2.write_pointer, Z(2) + 256);
  if (writethrough) {
    EXPECT_EQ(z2.write_pointer, Z(2) + 256);
  }
  expect_data_below_wp(*zb, 2, z2.write_pointer);

  ZoneReport z3 = report_one(*zb, Z(3));
  EXPECT_EQ(z3.write_pointer, Z(3) + 64);  // FUA: durable on completion
  expect_data_below_wp(*zb, 3, z3.write_pointer);

  EXPECT_EQ(report_one(*zb, Z(4)).condition, ZoneCondition::kFull);  // FINISH is durable
  uint64_t z4_data = zb->zones().zone(4).data_end;
  EXPECT_LE(z4_data, Z(4) + 64);
  if (writethrough) {
    EXPECT_EQ(z4_data, Z(4) + 64);
  }
  expect_data_below_wp(*zb, 4, z4_data);

  ZoneReport z5 = report_one(*zb, Z(5));  // the reset is durable; the new data maybe not
  EXPECT_LE(z5.write_pointer, Z(5) + 64);
  if (writethrough) {
    EXPECT_EQ(z5.write_pointer, Z(5) + 64);
  }
  expect_data_below_wp(*zb, 5, z5.write_pointer);

  // Reads above the recovered write pointers are zeroes, and writing resumes there.
  EXPECT_TRUE(write_at(*zb, z2.write_pointer, 8 * kSector).is_ok());
}

INSTANTIATE_TEST_SUITE_P(CacheModes, ZonedCrashTest,
                         ::testing::Values(std::make_tuple("writeback", "threads"),
                                           std::make_tuple("writeback", "io_uring"),
                                           std::make_tuple("none", "io_uring"),
                                           std::make_tuple("writethrough", "threads"),
                                           std::make_tuple("directsync", "io_uring")));

}  // namespace
}  // namespace block::zoned::testing
