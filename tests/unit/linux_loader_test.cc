#include "vmm/linux_loader.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <system_error>

#include "tests/unit/fake_bzimage.h"
#include "vmm/memory_layout.h"

namespace vmm {
namespace {

TEST(PlaceInitrd, HighestPageAlignedSlotBelowBothLimits) {
  EXPECT_EQ(place_initrd(512ull << 20, 0x7fffffff, 0x2000000, 0x1801), (512ull << 20) - 0x2000);
  // initrd_addr_max below the end of RAM wins.
  EXPECT_EQ(place_initrd(2ull << 30, 0x37ffffff, 0x2000000, 0x1000), 0x38000000ull - 0x1000);
}

TEST(PlaceInitrd, RefusesWhenItWouldOverlapTheKernel) {
  EXPECT_THROW(place_initrd(64ull << 20, 0x7fffffff, 60ull << 20, 8ull << 20), std::runtime_error);
  EXPECT_THROW(place_initrd(64ull << 20, 0x7fffffff, 1ull << 20, 128ull << 20), std::runtime_error);
}

TEST(LoadLinux, PlacesKernelCommandLineInitrdAndZeroPage) {
  GuestMemory memory(plan_ram_regions(64ull << 20));
  const auto image = testing::make_fake_bzimage();
  const std::vector<uint8_t> initrd(10000, 0x5a);
  const LinuxBootInfo info = load_linux(memory, image, InitrdImage::from_bytes(initrd), "console=ttyS0", std::nullopt);
  EXPECT_EQ(info.entry_point, 0x100200u);
  EXPECT_EQ(info.zero_page, layout::kZeroPage);
  EXPECT_EQ(std::memcmp(memory.span(0x100000, 0x3000).data(), image.data() + 5 * 512, 0x3000), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(memory.span(layout::kCommandLine, 14).data()),
               "console=ttyS0");
  uint32_t initrd_at, initrd_size;
  std::memcpy(&initrd_at, memory.span(layout::kZeroPage + 0x218, 4).data(), 4);
  std::memcpy(&initrd_size, memory.span(layout::kZeroPage + 0x21c, 4).data(), 4);
  EXPECT_EQ(initrd_size, 10000u);
  EXPECT_EQ(initrd_at % 4096, 0u);
  EXPECT_EQ(memory.span(initrd_at, 10000)[9999], 0x5a);
}

// A temporary file holding `bytes`, removed at the end of the test.
struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path = std::string(dir ? dir : "/tmp") + "/initrd-XXXXXX";
    const int fd = ::mkstemp(path.data());
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

TEST(LoadLinux, ReadsTheInitrdFileStraightIntoGuestMemory) {
  GuestMemory memory(plan_ram_regions(64ull << 20));
  std::vector<uint8_t> bytes(3 * 4096 + 17);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  TempFile file(bytes);
  const InputFile initrd(file.path);
  EXPECT_EQ(initrd.size(), bytes.size());
  load_linux(memory, testing::make_fake_bzimage(), InitrdImage::from_file(initrd), "", std::nullopt);
  uint32_t initrd_at, initrd_size;
  std::memcpy(&initrd_at, memory.span(layout::kZeroPage + 0x218, 4).data(), 4);
  std::memcpy(&initrd_size, memory.span(layout::kZeroPage + 0x21c, 4).data(), 4);
  ASSERT_EQ(initrd_size, bytes.size());
  EXPECT_EQ(std::memcmp(memory.span(initrd_at, bytes.size()).data(), bytes.data(), bytes.size()), 0);
}

TEST(InputFileTest, ErrorsNameTheFile) {
  try {
    InputFile missing("/nonexistent/initrd.img");
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/initrd.img"), std::string::npos) << e.what();
  }
  TempFile file(std::vector<uint8_t>(8192, 1));
  const InputFile shrinking(file.path);
  ASSERT_EQ(::truncate(file.path.c_str(), 4096), 0);
  std::vector<uint8_t> out(8192);
  try {
    shrinking.read_into(out);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file.path + ": file shrank"), std::string::npos) << e.what();
  }
}

TEST(LoadLinux, RejectsOverlongCommandLine) {
  GuestMemory memory(plan_ram_regions(64ull << 20));
  testing::FakeBzImageSpec spec;
  spec.cmdline_size = 16;
  const auto image = testing::make_fake_bzimage(spec);
  EXPECT_THROW(load_linux(memory, image, {}, std::string(17, 'x'), std::nullopt), std::runtime_error);
  EXPECT_NO_THROW(load_linux(memory, image, {}, std::string(16, 'x'), std::nullopt));
}

TEST(LoadLinux, RejectsTooLittleMemoryForTheKernel) {
  GuestMemory memory(plan_ram_regions(4ull << 20));
  testing::FakeBzImageSpec spec;
  spec.init_size = 8u << 20;
  EXPECT_THROW(load_linux(memory, testing::make_fake_bzimage(spec), {}, "", std::nullopt),
               std::runtime_error);
}

}  // namespace
}  // namespace vmm
