#include "block/image_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "block/backend.h"
#include "block/error.h"
#include "tests/block/test_util.h"

namespace block::testing {
namespace {

std::string open_error(const std::string& path, bool read_only, bool direct = false) {
  try {
    ImageFile::open(path, read_only, direct);
  } catch (const BlockError& e) {
    return e.what();
  }
  return "(opened)";
}

class ImageFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("disk.img");
    write_file(path_, pattern(65536, 3));
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(ImageFileTest, ReportsSizeOfRegularFile) {
  ImageFile image = ImageFile::open(path_, false, false);
  EXPECT_EQ(image.size(), 65536u);
  EXPECT_FALSE(image.is_block_device());
  EXPECT_FALSE(image.read_only());
}

TEST_F(ImageFileTest, SecondReadWriteOpenIsRefused) {
  ImageFile first = ImageFile::open(path_, false, false);
  EXPECT_EQ(open_error(path_, false), "vmm: -drive file=" + path_ + ": image is locked by another process");
}

TEST_F(ImageFileTest, ReadOnlyOpenOfImageInUseForWritingIsRefused) {
  ImageFile writer = ImageFile::open(path_, false, false);
  EXPECT_EQ(open_error(path_, true), "vmm: -drive file=" + path_ + ": image is locked by another process");
}

TEST_F(ImageFileTest, WriterIsRefusedWhileReadersHoldTheImage) {
  ImageFile reader = ImageFile::open(path_, true, false);
  EXPECT_EQ(open_error(path_, false), "vmm: -drive file=" + path_ + ": image is locked by another process");
}

TEST_F(ImageFileTest, TwoReadOnlyOpensShareTheImage) {
  ImageFile a = ImageFile::open(path_, true, false);
  ImageFile b = ImageFile::open(path_, true, false);
  EXPECT_TRUE(a.read_only());
  EXPECT_TRUE(b.read_only());
}

TEST_F(ImageFileTest, LockIsReleasedWhenTheImageCloses) {
  { ImageFile first = ImageFile::open(path_, false, false); }
  EXPECT_NO_THROW(ImageFile::open(path_, false, false));
}

TEST_F(ImageFileTest, LockHoldsAcrossProcesses) {
  ImageFile first = ImageFile::open(path_, false, false);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A second VMM: must be refused.
    try {
      ImageFile::open(path_, false, false);
    } catch (const BlockError&) {
      ::_exit(0);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "second writer was not refused";
}

TEST_F(ImageFileTest, MissingFileErrorNamesTheFile) {
  std::string missing = dir_.file("nope.img");
  EXPECT_EQ(open_error(missing, false), "vmm: -drive file=" + missing + ": cannot open: No such file or directory");
}

TEST_F(ImageFileTest, DirectoryIsRejected) {
  EXPECT_EQ(open_error(dir_.path(), false), "vmm: -drive file=" + dir_.path() + ": is a directory, not a disk image");
  EXPECT_EQ(open_error(dir_.path(), true),
            "vmm: -drive file=" + dir_.path() + ": not a regular file or block device");
}

TEST_F(ImageFileTest, CharacterDeviceIsRejected) {
  EXPECT_EQ(open_error("/dev/null", true), "vmm: -drive file=/dev/null: not a regular file or block device");
}

TEST_F(ImageFileTest, OpeningNeverModifiesTheFile) {
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  { ImageFile image = ImageFile::open(path_, false, dir_.direct_ok()); }
  { ImageFile image = ImageFile::open(path_, true, false); }
  struct stat after {};
  ASSERT_EQ(::stat(path_.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(read_file(path_, 0, 65536), pattern(65536, 3));
}

TEST_F(ImageFileTest, DirectOpenProbesAlignment) {
  if (!dir_.direct_ok()) GTEST_SKIP() << "no O_DIRECT-capable directory";
  ImageFile image = ImageFile::open(path_, false, true);
  EXPECT_TRUE(image.direct());
  EXPECT_GE(image.dio_alignment().offset, 512u);
  EXPECT_LE(image.dio_alignment().offset, 4096u);
  EXPECT_GE(image.dio_alignment().memory, 1u);
}

TEST_F(ImageFileTest, BackendOpenUsesDriveOptions) {
  DriveOptions opts = parse_drive_options("file=" + path_ + ",readonly=on,aio=threads");
  std::unique_ptr<Backend> backend = Backend::open(opts);
  Geometry g = backend->geometry();
  EXPECT_EQ(g.size_bytes, 65536u);
  EXPECT_EQ(g.logical_block_size, 512u);
  EXPECT_TRUE(g.read_only);
  EXPECT_FALSE(g.discard);
  EXPECT_TRUE(backend->write_cache_enabled());
}

}  // namespace
}  // namespace block::testing
