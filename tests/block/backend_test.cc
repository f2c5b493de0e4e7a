// Backend policy and both real drivers (io_uring and thread pool), run as one parameterized
// suite on real files.
#include "block/backend.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "block/image_file.h"
#include "block/raw_uring_driver.h"
#include "block/threadpool_driver.h"
#include "tests/block/recording_driver.h"
#include "tests/block/test_util.h"

namespace block::testing {
namespace {

enum class Kind { kIoUring, kThreads };

struct OpenOptions {
  CacheMode cache = parse_cache_mode("writeback");
  bool read_only = false;
  bool discard_unmap = false;
  std::optional<DioAlignment> force_alignment;  // pretend the host needs this O_DIRECT alignment
  unsigned queue_depth = 128;
};

class BackendTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override { path_ = dir_.file("disk.img"); }

  // Creates the image with `size` bytes of pattern data.
  void make_image(size_t size) {
    data_ = pattern(size, 1);
    write_file(path_, data_);
  }

  void open(OpenOptions setup = {}) {
    log_.clear();
    backend_.reset();
    ImageFile image = ImageFile::open(path_, setup.read_only, setup.cache.direct,
                                      cache_mode_name(setup.cache));
    detail::IoContext ctx{image.direct(), setup.force_alignment.value_or(image.dio_alignment())};
    std::unique_ptr<Driver> driver;
    if (GetParam() == Kind::kIoUring) {
      RawUringDriver::Options o;
      o.queue_depth = setup.queue_depth;
      driver = std::make_unique<RawUringDriver>(image.fd(), ctx, o);
    } else {
      driver = std::make_unique<ThreadPoolDriver>(image.fd(), ctx, ThreadPoolDriver::Options{});
    }
    auto recording = std::make_unique<RecordingDriver>(std::move(driver), &log_);
    recording_ = recording.get();
    backend_ = std::make_unique<Backend>(std::move(image), std::move(recording),
                                         BackendPolicy{setup.cache, setup.read_only, setup.discard_unmap});
  }

  // Submits and waits for one request.
  Status run(Slot& slot) {
    backend_->submit(slot.req);
    EXPECT_TRUE(wait_for(*backend_, slot)) << "request did not complete";
    EXPECT_EQ(slot.completions, 1);
    return slot.status;
  }

  Status rw(Op op, uint64_t offset, std::vector<iovec> iov, bool fua = false) {
    Slot slot;
    slot.req.op = op;
    slot.req.offset = offset;
    slot.req.fua = fua;
    uint64_t len = 0;
    for (const iovec& v : iov) len += v.iov_len;
    slot.req.length = len;
    slot.req.iov = iov;
    Status s = run(slot);
    if (s.is_ok()) {
      EXPECT_EQ(slot.bytes, len);
    }
    return s;
  }

  Status simple(Op op, uint64_t offset = 0, uint64_t length = 0, bool unmap = false) {
    Slot slot;
    slot.req.op = op;
    slot.req.offset = offset;
    slot.req.length = length;
    slot.req.unmap = unmap;
    return run(slot);
  }

  void require_direct() {
    if (!dir_.direct_ok()) GTEST_SKIP() << "no O_DIRECT-capable directory (tried TEST_TMPDIR, /var/tmp, /tmp)";
  }

  const BouncePool& bounce_pool() {
    if (GetParam() == Kind::kIoUring) return static_cast<RawUringDriver&>(recording_->inner()).bounce_pool();
    return static_cast<ThreadPoolDriver&>(recording_->inner()).bounce_pool();
  }

  blkcnt_t allocated_blocks() {
    struct stat st {};
    EXPECT_EQ(::stat(path_.c_str(), &st), 0);
    return st.st_blocks;
  }

  TempDir dir_;
  std::string path_;
  std::vector<uint8_t> data_;
  std::vector<Recorded> log_;
  RecordingDriver* recording_ = nullptr;
  std::unique_ptr<Backend> backend_;
};

iovec iov_of(uint8_t* p, size_t n) { return {p, n}; }

TEST_P(BackendTest, MultiIovecWriteThenReadRoundTrips) {
  make_image(1 << 20);
  open();
  std::vector<uint8_t> out = pattern(12288, 99);
  ASSERT_TRUE(rw(Op::kWrite, 8192, {iov_of(out.data(), 4096), iov_of(out.data() + 4096, 512),
                                    iov_of(out.data() + 4608, 7680)})
                  .is_ok());
  std::vector<uint8_t> in(12288);
  ASSERT_TRUE(rw(Op::kRead, 8192, {iov_of(in.data(), 1024), iov_of(in.data() + 1024, 11264)}).is_ok());
  EXPECT_EQ(in, out);
  EXPECT_EQ(read_file(path_, 8192, 12288), out);
  EXPECT_EQ(read_file(path_, 0, 8192), std::vector<uint8_t>(data_.begin(), data_.begin() + 8192));
}

TEST_P(BackendTest, DirectAlignedBuffersRoundTrip) {
  require_direct();
  make_image(1 << 20);
  open({.cache = parse_cache_mode("none")});
  alignas(4096) static uint8_t out[8192];
  alignas(4096) static uint8_t in[8192];
  std::vector<uint8_t> p = pattern(sizeof out, 5);
  std::memcpy(out, p.data(), sizeof out);
  ASSERT_TRUE(rw(Op::kWrite, 65536, {iov_of(out, 4096), iov_of(out + 4096, 4096)}).is_ok());
  ASSERT_TRUE(rw(Op::kRead, 65536, {iov_of(in, 8192)}).is_ok());
  EXPECT_EQ(std::memcmp(in, out, sizeof in), 0);
  EXPECT_EQ(read_file(path_, 65536, 8192), p);
  EXPECT_EQ(bounce_pool().acquisitions(), 0u);  // aligned: straight into guest memory
}

TEST_P(BackendTest, DirectUnalignedGuestBuffersGoThroughBounce) {
  require_direct();
  make_image(1 << 20);
  open({.cache = parse_cache_mode("none")});
  // Odd addresses and segment lengths that are not multiples of the O_DIRECT alignment.
  std::vector<uint8_t> out_buf(4096 + 1), in_buf(4096 + 3);
  uint8_t* out = out_buf.data() + 1;
  uint8_t* in = in_buf.data() + 3;
  std::vector<uint8_t> p = pattern(2048, 42);
  std::memcpy(out, p.data(), p.size());
  ASSERT_TRUE(rw(Op::kWrite, 4096 + 512, {iov_of(out, 100), iov_of(out + 100, 412), iov_of(out + 512, 1536)})
                  .is_ok());
  ASSERT_TRUE(rw(Op::kRead, 4096 + 512, {iov_of(in, 7), iov_of(in + 7, 2041)}).is_ok());
  EXPECT_EQ(std::vector<uint8_t>(in, in + 2048), p);
  EXPECT_EQ(read_file(path_, 4096 + 512, 2048), p);
  // Neighbours untouched.
  EXPECT_EQ(read_file(path_, 4096, 512), std::vector<uint8_t>(data_.begin() + 4096, data_.begin() + 4608));
  const BouncePool& pool = bounce_pool();
  EXPECT_EQ(pool.acquisitions(), 2u);
  EXPECT_EQ(pool.heap_fallbacks(), 0u);
  EXPECT_EQ(pool.free_slots(), 16u);  // every slot returned
}

TEST_P(BackendTest, DirectReadAtOffsetBelowHostAlignmentIsWidened) {
  require_direct();
  make_image(1 << 20);
  // A 4K-native host: 512-byte guest sectors are smaller than the O_DIRECT granule.
  open({.cache = parse_cache_mode("none"), .force_alignment = DioAlignment{4096, 4096}});
  std::vector<uint8_t> in(1536);
  ASSERT_TRUE(rw(Op::kRead, 8192 + 512, {iov_of(in.data(), in.size())}).is_ok());
  EXPECT_EQ(in, std::vector<uint8_t>(data_.begin() + 8192 + 512, data_.begin() + 8192 + 2048));
}

TEST_P(BackendTest, DirectWriteBelowHostAlignmentIsReadModifyWrite) {
  require_direct();
  make_image(1 << 20);
  open({.cache = parse_cache_mode("none"), .force_alignment = DioAlignment{4096, 4096}});
  std::vector<uint8_t> out = pattern(1024, 3);
  ASSERT_TRUE(rw(Op::kWrite, 8192 + 512, {iov_of(out.data(), out.size())}).is_ok());
  std::vector<uint8_t> expected = data_;
  std::copy(out.begin(), out.end(), expected.begin() + 8192 + 512);
  EXPECT_EQ(read_file(path_, 0, data_.size()), expected);
  EXPECT_EQ(out, pattern(1024, 3));  // the guest's source buffer is untouched
}

TEST_P(BackendTest, ConcurrentReadModifyWritesToOneBlockLoseNothing) {
  require_direct();
  make_image(1 << 20);
  open({.cache = parse_cache_mode("none"), .force_alignment = DioAlignment{4096, 4096}});
  // Every 512-byte sector of 16 KiB written by its own request, all in flight together, mixed
  // with whole-block writes next to them: any unserialized RMW would resurrect stale bytes.
  constexpr size_t kSectors = 32;
  std::vector<Slot> slots(kSectors + 2);
  std::vector<std::vector<uint8_t>> bufs(kSectors + 2);
  std::vector<iovec> iovs(kSectors + 2);
  std::vector<uint8_t> expected = data_;
  {
    Backend::Batch batch(*backend_);
    for (size_t i = 0; i < slots.size(); ++i) {
      bool whole = i >= kSectors;
      uint64_t offset = whole ? 65536 + (i - kSectors) * 4096 : 4096 + i * 512;
      size_t len = whole ? 4096 : 512;
      bufs[i] = pattern(len, static_cast<uint8_t>(100 + i));
      iovs[i] = iov_of(bufs[i].data(), len);
      slots[i].req.op = Op::kWrite;
      slots[i].req.offset = offset;
      slots[i].req.length = len;
      slots[i].req.iov = {&iovs[i], 1};
      std::copy(bufs[i].begin(), bufs[i].end(), expected.begin() + offset);
      backend_->submit(slots[i].req);
    }
  }
  ASSERT_TRUE(pump_until(*backend_, [&] {
    for (const Slot& s : slots) {
      if (s.completions == 0) return false;
    }
    return true;
  }));
  for (const Slot& s : slots) EXPECT_TRUE(s.status.is_ok()) << to_string(s.status);
  EXPECT_EQ(read_file(path_, 0, data_.size()), expected);
}

TEST_P(BackendTest, WritethroughWritesCarryDsync) {
  make_image(1 << 20);
  open({.cache = parse_cache_mode("writethrough")});
  EXPECT_FALSE(backend_->write_cache_enabled());
  std::vector<uint8_t> out = pattern(4096, 1);
  ASSERT_TRUE(rw(Op::kWrite, 0, {iov_of(out.data(), out.size())}).is_ok());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].action, detail::Action::kWrite);
  EXPECT_EQ(log_[0].rw_flags, RWF_DSYNC);
  EXPECT_EQ(read_file(path_, 0, 4096), out);
}

TEST_P(BackendTest, WritebackWritesHaveNoDsyncUnlessFua) {
  make_image(1 << 20);
  open();
  std::vector<uint8_t> out = pattern(4096, 1);
  ASSERT_TRUE(rw(Op::kWrite, 0, {iov_of(out.data(), out.size())}).is_ok());
  ASSERT_TRUE(rw(Op::kWrite, 4096, {iov_of(out.data(), out.size())}, /*fua=*/true).is_ok());
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0].rw_flags, 0);
  EXPECT_EQ(log_[1].rw_flags, RWF_DSYNC);
}

TEST_P(BackendTest, GuestTurningWriteCacheOffMakesWritesDsync) {
  make_image(1 << 20);
  open();
  std::vector<uint8_t> out = pattern(4096, 1);
  backend_->set_write_cache_enabled(false);
  ASSERT_TRUE(rw(Op::kWrite, 0, {iov_of(out.data(), out.size())}).is_ok());
  backend_->set_write_cache_enabled(true);
  ASSERT_TRUE(rw(Op::kWrite, 0, {iov_of(out.data(), out.size())}).is_ok());
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0].rw_flags, RWF_DSYNC);
  EXPECT_EQ(log_[1].rw_flags, 0);
}

TEST_P(BackendTest, WriteCacheObserverHearsOnlyRealChanges) {
  make_image(1 << 20);
  open();
  std::vector<bool> heard;
  backend_->on_write_cache_change([&](bool on) { heard.push_back(on); });
  const bool initial = backend_->write_cache_enabled();
  backend_->set_write_cache_enabled(initial);  // no change: nothing to tell
  backend_->set_write_cache_enabled(!initial);
  backend_->set_write_cache_enabled(!initial);
  backend_->set_write_cache_enabled(initial);
  EXPECT_EQ(heard, (std::vector<bool>{!initial, initial}));
}

TEST_P(BackendTest, UnsafeNeverAsksForDurability) {
  make_image(1 << 20);
  open({.cache = parse_cache_mode("unsafe")});
  std::vector<uint8_t> out = pattern(4096, 1);
  ASSERT_TRUE(rw(Op::kWrite, 0, {iov_of(out.data(), out.size())}, /*fua=*/true).is_ok());
  ASSERT_TRUE(simple(Op::kFlush).is_ok());
  ASSERT_EQ(log_.size(), 1u);  // the write only: the flush was accepted, not executed
  EXPECT_EQ(log_[0].rw_flags, 0);
}

TEST_P(BackendTest, FlushIssuesDatasync) {
  for (const char* mode : {"writeback", "writethrough"}) {
    SCOPED_TRACE(mode);
    make_image(1 << 20);
    open({.cache = parse_cache_mode(mode)});
    ASSERT_TRUE(simple(Op::kFlush).is_ok());
    ASSERT_EQ(log_.size(), 1u);
    EXPECT_EQ(log_[0].action, detail::Action::kDatasync);
  }
}

TEST_P(BackendTest, DirectFlushIssuesDatasync) {
  require_direct();
  make_image(1 << 20);
  open({.cache = parse_cache_mode("none")});
  ASSERT_TRUE(simple(Op::kFlush).is_ok());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].action, detail::Action::kDatasync);
}

TEST_P(BackendTest, DiscardPunchesHoleWhenUnmapEnabled) {
  make_image(1 << 20);
  open({.discard_unmap = true});
  EXPECT_TRUE(backend_->geometry().discard);
  blkcnt_t before = allocated_blocks();
  ASSERT_TRUE(simple(Op::kDiscard, 256 * 1024, 256 * 1024).is_ok());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].fallocate_mode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
  EXPECT_LT(allocated_blocks(), before);
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_HOLE), 256 * 1024);
  EXPECT_EQ(read_file(path_, 256 * 1024, 256 * 1024), std::vector<uint8_t>(256 * 1024, 0));
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);  // KEEP_SIZE
}

TEST_P(BackendTest, DiscardIgnoredWithoutUnmap) {
  make_image(1 << 20);
  open();
  EXPECT_FALSE(backend_->geometry().discard);
  ASSERT_TRUE(simple(Op::kDiscard, 0, 65536).is_ok());
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(read_file(path_, 0, data_.size()), data_);
}

TEST_P(BackendTest, WriteZeroesUsesZeroRange) {
  make_image(1 << 20);
  open();
  ASSERT_TRUE(simple(Op::kWriteZeroes, 4096, 65536).is_ok());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].fallocate_mode, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
  EXPECT_FALSE(log_[0].sync_after);
  EXPECT_EQ(read_file(path_, 4096, 65536), std::vector<uint8_t>(65536, 0));
  EXPECT_EQ(read_file(path_, 0, 4096), std::vector<uint8_t>(data_.begin(), data_.begin() + 4096));
}

TEST_P(BackendTest, WriteZeroesWithUnmapPunchesHole) {
  make_image(1 << 20);
  open({.discard_unmap = true});
  blkcnt_t before = allocated_blocks();
  ASSERT_TRUE(simple(Op::kWriteZeroes, 0, 512 * 1024, /*unmap=*/true).is_ok());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].fallocate_mode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
  EXPECT_LT(allocated_blocks(), before);
  EXPECT_EQ(read_file(path_, 0, 512 * 1024), std::vector<uint8_t>(512 * 1024, 0));
}

TEST_P(BackendTest, WriteZeroesUnderWritethroughSyncsAfterwards) {
  make_image(1 << 20);
  open({.cache = parse_cache_mode("writethrough")});
  ASSERT_TRUE(simple(Op::kWriteZeroes, 0, 8192).is_ok());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_TRUE(log_[0].sync_after);
  EXPECT_EQ(read_file(path_, 0, 8192), std::vector<uint8_t>(8192, 0));
}

TEST_P(BackendTest, WriteZeroesFallsBackToWritingZeroesWhenZeroRangeIsUnsupported) {
  // tmpfs implements PUNCH_HOLE but not ZERO_RANGE: the exact case for the fallback.
  char templ[] = "/dev/shm/blocktest.XXXXXX";
  if (::mkdtemp(templ) == nullptr) GTEST_SKIP() << "no writable /dev/shm (tmpfs) to exercise the fallback";
  path_ = std::string(templ) + "/disk.img";
  make_image(1 << 20);
  open();
  // 300 KiB: more than one 128 KiB chunk of the zero source.
  Status s = simple(Op::kWriteZeroes, 8192, 300 * 1024);
  std::vector<uint8_t> zeroes = read_file(path_, 8192, 300 * 1024);
  std::vector<uint8_t> after = read_file(path_, 8192 + 300 * 1024, 4096);
  backend_.reset();
  std::filesystem::remove_all(templ);
  ASSERT_TRUE(s.is_ok()) << to_string(s);
  EXPECT_EQ(zeroes, std::vector<uint8_t>(300 * 1024, 0));
  EXPECT_EQ(after, std::vector<uint8_t>(data_.begin() + 8192 + 300 * 1024, data_.begin() + 8192 + 304 * 1024));
}

TEST_P(BackendTest, ReadOnlyRefusesEveryModification) {
  make_image(1 << 20);
  open({.read_only = true, .discard_unmap = true});
  EXPECT_TRUE(backend_->geometry().read_only);
  std::vector<uint8_t> out = pattern(4096, 1);
  EXPECT_EQ(rw(Op::kWrite, 0, {iov_of(out.data(), out.size())}).code, StatusCode::kReadOnly);
  EXPECT_EQ(simple(Op::kDiscard, 0, 4096).code, StatusCode::kReadOnly);
  EXPECT_EQ(simple(Op::kWriteZeroes, 0, 4096).code, StatusCode::kReadOnly);
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(read_file(path_, 0, data_.size()), data_);
}

TEST_P(BackendTest, ReadOnlyStillReadsAndFlushSucceeds) {
  make_image(1 << 20);
  open({.read_only = true});
  std::vector<uint8_t> in(4096);
  ASSERT_TRUE(rw(Op::kRead, 4096, {iov_of(in.data(), in.size())}).is_ok());
  EXPECT_EQ(in, std::vector<uint8_t>(data_.begin() + 4096, data_.begin() + 8192));
  EXPECT_TRUE(simple(Op::kFlush).is_ok());  // OVMF flushes read-only disks
}

TEST_P(BackendTest, OutOfRangeIsRefusedWithoutTouchingTheFile) {
  make_image(1 << 20);
  open({.discard_unmap = true});
  std::vector<uint8_t> buf(4096);
  EXPECT_EQ(rw(Op::kWrite, (1 << 20) - 512, {iov_of(buf.data(), buf.size())}).code, StatusCode::kOutOfRange);
  EXPECT_EQ(rw(Op::kRead, 1 << 20, {iov_of(buf.data(), buf.size())}).code, StatusCode::kOutOfRange);
  EXPECT_EQ(simple(Op::kDiscard, (1 << 20) - 512, 1024).code, StatusCode::kOutOfRange);
  EXPECT_EQ(simple(Op::kWriteZeroes, UINT64_MAX - 511, 1024).code, StatusCode::kOutOfRange);
  EXPECT_TRUE(log_.empty());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  EXPECT_EQ(read_file(path_, 0, data_.size()), data_);
}

TEST_P(BackendTest, LastSectorIsInRange) {
  make_image(1 << 20);
  open();
  std::vector<uint8_t> in(512);
  ASSERT_TRUE(rw(Op::kRead, (1 << 20) - 512, {iov_of(in.data(), in.size())}).is_ok());
  EXPECT_EQ(in, std::vector<uint8_t>(data_.end() - 512, data_.end()));
}

TEST_P(BackendTest, MalformedRequestsAreInvalid) {
  make_image(1 << 20);
  open();
  std::vector<uint8_t> buf(4096);
  EXPECT_EQ(rw(Op::kRead, 100, {iov_of(buf.data(), 512)}).code, StatusCode::kInvalid);
  Slot slot;  // length disagrees with the iovecs
  iovec v = iov_of(buf.data(), 4096);
  slot.req.op = Op::kWrite;
  slot.req.length = 512;
  slot.req.iov = {&v, 1};
  EXPECT_EQ(run(slot).code, StatusCode::kInvalid);
  EXPECT_TRUE(log_.empty());
}

TEST_P(BackendTest, MoreRequestsThanRingSlotsAllComplete) {
  make_image(1 << 20);
  open({.queue_depth = 8});
  constexpr size_t kRequests = 200;
  std::vector<Slot> slots(kRequests);
  std::vector<std::vector<uint8_t>> bufs(kRequests);
  std::vector<iovec> iovs(kRequests);
  {
    Backend::Batch batch(*backend_);
    for (size_t i = 0; i < kRequests; ++i) {
      bufs[i] = pattern(4096, static_cast<uint8_t>(i));
      iovs[i] = iov_of(bufs[i].data(), 4096);
      slots[i].req.op = Op::kWrite;
      slots[i].req.offset = i * 4096;
      slots[i].req.length = 4096;
      slots[i].req.iov = {&iovs[i], 1};
      backend_->submit(slots[i].req);
    }
  }
  ASSERT_TRUE(pump_until(*backend_, [&] {
    for (const Slot& s : slots) {
      if (s.completions == 0) return false;
    }
    return true;
  }));
  for (size_t i = 0; i < kRequests; ++i) {
    EXPECT_EQ(slots[i].completions, 1);
    EXPECT_TRUE(slots[i].status.is_ok()) << i;
    ASSERT_EQ(read_file(path_, i * 4096, 4096), bufs[i]) << i;
  }
  EXPECT_EQ(backend_->in_flight(), 0u);
  if (GetParam() == Kind::kIoUring) {
    auto& uring = static_cast<RawUringDriver&>(recording_->inner());
    EXPECT_EQ(uring.ring_entries(), 8u);
    EXPECT_GT(uring.backlog_high_water(), 0u);
  }
}

TEST_P(BackendTest, ReadPastEndOfShrunkFileGivesZeroes) {
  std::vector<const char*> modes{"writeback"};
  if (dir_.direct_ok()) modes.push_back("none");
  for (const char* mode : modes) {
    SCOPED_TRACE(mode);
    make_image(65536);
    open({.cache = parse_cache_mode(mode)});
    // Someone shrinks the image under us to a size that is not even sector aligned.
    ASSERT_EQ(::truncate(path_.c_str(), 10000), 0);
    std::vector<uint8_t> in(8192, 0xAA);
    ASSERT_TRUE(rw(Op::kRead, 8192, {iov_of(in.data(), 4096), iov_of(in.data() + 4096, 4096)}).is_ok());
    std::vector<uint8_t> expected(8192, 0);
    std::copy(data_.begin() + 8192, data_.begin() + 10000, expected.begin());
    EXPECT_EQ(in, expected);
  }
}

TEST_P(BackendTest, SubmittingARequestStillInFlightIsADeviceBug) {
  make_image(1 << 20);
  open();
  std::vector<uint8_t> buf(4096);
  iovec v = iov_of(buf.data(), buf.size());
  Slot slot;
  slot.req.op = Op::kRead;
  slot.req.length = 4096;
  slot.req.iov = {&v, 1};
  backend_->submit(slot.req);
  EXPECT_THROW(backend_->submit(slot.req), std::logic_error);
  ASSERT_TRUE(wait_for(*backend_, slot));
  EXPECT_EQ(slot.completions, 1);
  EXPECT_TRUE(slot.status.is_ok());
}

TEST_P(BackendTest, GeometryDescribesTheDisk) {
  make_image(1 << 20);
  open({.cache = parse_cache_mode("writethrough"), .discard_unmap = true});
  Geometry g = backend_->geometry();
  EXPECT_EQ(g.size_bytes, 1u << 20);
  EXPECT_EQ(g.logical_block_size, 512u);
  EXPECT_EQ(g.physical_block_size, 512u);
  EXPECT_FALSE(g.read_only);
  EXPECT_TRUE(g.discard);
  EXPECT_TRUE(g.write_zeroes);
  EXPECT_FALSE(g.write_cache);
  backend_->set_write_cache_enabled(true);
  EXPECT_TRUE(backend_->geometry().write_cache);
}

TEST_P(BackendTest, CompletionMayResubmitItsRequest) {
  make_image(1 << 20);
  open();
  // A device that reuses its slot from inside complete(), as a real queue does.
  struct Chain : Completion {
    Backend* backend = nullptr;
    Request req;
    std::vector<uint8_t> buf = std::vector<uint8_t>(512);
    iovec v{};
    int remaining = 5;
    int completed = 0;
    void complete(Status s, size_t) override {
      EXPECT_TRUE(s.is_ok());
      ++completed;
      if (--remaining > 0) {
        req.offset += 512;
        backend->submit(req);
      }
    }
  } chain;
  chain.backend = backend_.get();
  chain.v = iov_of(chain.buf.data(), 512);
  chain.req = Request{.op = Op::kRead, .offset = 0, .length = 512, .iov = {&chain.v, 1}, .completion = &chain};
  backend_->submit(chain.req);
  ASSERT_TRUE(pump_until(*backend_, [&] { return chain.completed == 5; }));
  EXPECT_EQ(chain.buf, std::vector<uint8_t>(data_.begin() + 2048, data_.begin() + 2560));
}

// Many rounds of concurrent requests on disjoint ranges, with odd buffer addresses and random
// iovec splits, checked against an in-memory model of the disk. Run buffered, O_DIRECT, and
// O_DIRECT on a pretend 4K-native host (bounce + read-modify-write everywhere).
TEST_P(BackendTest, RandomizedRequestsMatchAModel) {
  struct Config {
    const char* cache;
    std::optional<DioAlignment> force;
  };
  std::vector<Config> configs{{"writeback", std::nullopt}};
  if (dir_.direct_ok()) {
    configs.push_back({"none", std::nullopt});
    configs.push_back({"none", DioAlignment{4096, 4096}});
  }
  constexpr size_t kSectors = 512;  // 256 KiB disk
  for (const Config& config : configs) {
    SCOPED_TRACE(std::string(config.cache) + (config.force ? " (4K host)" : ""));
    make_image(kSectors * 512);
    open({.cache = parse_cache_mode(config.cache), .discard_unmap = true,
          .force_alignment = config.force, .queue_depth = 4});
    std::vector<uint8_t> model = data_;
    std::mt19937 rng(1234);
    for (int round = 0; round < 60; ++round) {
      struct Item {
        Slot slot;
        std::vector<uint8_t> raw;
        std::vector<iovec> iov;
        uint8_t* data = nullptr;
      };
      std::vector<Item> items(1 + rng() % 12);
      std::vector<bool> used(kSectors, false);
      {
        Backend::Batch batch(*backend_);
        for (Item& it : items) {
          size_t start = 0, count = 0;
          for (int attempt = 0; attempt < 20 && count == 0; ++attempt) {
            size_t s = rng() % kSectors;
            size_t n = 1 + rng() % std::min<size_t>(24, kSectors - s);
            bool clash = false;
            for (size_t i = s; i < s + n; ++i) clash = clash || used[i];
            if (!clash) start = s, count = n;
          }
          if (count == 0) {  // could not place it: make it a flush
            it.slot.req.op = Op::kFlush;
            backend_->submit(it.slot.req);
            continue;
          }
          for (size_t i = start; i < start + count; ++i) used[i] = true;
          size_t len = count * 512;
          unsigned kind = rng() % 10;
          Op op = kind < 4 ? Op::kRead : kind < 8 ? Op::kWrite : kind == 8 ? Op::kWriteZeroes : Op::kDiscard;
          it.slot.req.op = op;
          it.slot.req.offset = start * 512;
          it.slot.req.length = len;
          if (op == Op::kRead || op == Op::kWrite) {
            size_t misalign = rng() % 8;
            it.raw.assign(len + 8, 0xCD);
            it.data = it.raw.data() + misalign;
            if (op == Op::kWrite) {
              for (size_t i = 0; i < len; ++i) it.data[i] = static_cast<uint8_t>(rng());
            }
            size_t pos = 0;
            while (pos < len) {
              size_t piece = (it.iov.size() == 2) ? len - pos : std::min(len - pos, 1 + rng() % len);
              it.iov.push_back({it.data + pos, piece});
              pos += piece;
            }
            it.slot.req.iov = it.iov;
          }
          backend_->submit(it.slot.req);
        }
      }
      ASSERT_TRUE(pump_until(*backend_, [&] {
        for (const Item& it : items) {
          if (it.slot.completions == 0) return false;
        }
        return true;
      }));
      for (Item& it : items) {
        const Request& r = it.slot.req;
        ASSERT_TRUE(it.slot.status.is_ok()) << to_string(it.slot.status) << " round " << round;
        ASSERT_EQ(it.slot.completions, 1);
        uint8_t* m = model.data() + r.offset;
        switch (r.op) {
          case Op::kRead:
            ASSERT_EQ(std::memcmp(it.data, m, r.length), 0) << "round " << round << " offset " << r.offset;
            break;
          case Op::kWrite:
            std::memcpy(m, it.data, r.length);
            break;
          case Op::kWriteZeroes:
          case Op::kDiscard:  // ext4 punches a hole: reads back as zeroes
            std::memset(m, 0, r.length);
            break;
          case Op::kFlush:
            break;
          default:  // zone requests: never generated here
            break;
        }
      }
    }
    ASSERT_EQ(read_file(path_, 0, model.size()), model);
  }
}

INSTANTIATE_TEST_SUITE_P(Drivers, BackendTest, ::testing::Values(Kind::kIoUring, Kind::kThreads),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kIoUring ? "io_uring" : "threads";
                         });

}  // namespace
}  // namespace block::testing
