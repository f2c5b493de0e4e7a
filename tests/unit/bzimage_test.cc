#include "vmm/bzimage.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_bzimage.h"

namespace vmm {
namespace {

using testing::FakeBzImageSpec;
using testing::make_fake_bzimage;

std::string error_for(const std::vector<uint8_t>& image) {
  try {
    parse_bzimage(image);
  } catch (const BzImageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BzImage, ParsesHeaderFields) {
  const auto image = make_fake_bzimage();
  const BzImage parsed = parse_bzimage(image);
  EXPECT_EQ(parsed.protocol_version, 0x020f);
  EXPECT_EQ(parsed.initrd_addr_max, 0x7fffffffu);
  EXPECT_EQ(parsed.cmdline_size, 2047u);
  EXPECT_EQ(parsed.init_size, 0x20000u);
  EXPECT_EQ(parsed.setup_header.size(), 0x26cu - 0x1f1u);
  EXPECT_EQ(parsed.kernel.size(), 0x3000u);
  EXPECT_EQ(parsed.kernel.data(), image.data() + 5 * 512);
}

TEST(BzImage, ZeroSetupSectsMeansFour) {
  FakeBzImageSpec spec;
  spec.setup_sects = 4;
  auto image = make_fake_bzimage(spec);
  image[0x1f1] = 0;
  EXPECT_EQ(parse_bzimage(image).kernel.size(), 0x3000u);
}

TEST(BzImage, RejectsBadMagic) {
  auto image = make_fake_bzimage();
  image[0x202] = 'X';
  EXPECT_NE(error_for(image).find("HdrS"), std::string::npos) << error_for(image);
  image = make_fake_bzimage();
  image[0x1fe] = 0;
  EXPECT_NE(error_for(image).find("0xAA55"), std::string::npos);
}

TEST(BzImage, RejectsTooOldProtocol) {
  FakeBzImageSpec spec;
  spec.version = 0x0206;
  EXPECT_EQ(error_for(make_fake_bzimage(spec)), "boot protocol 2.6 is too old (need 2.12 or newer)");
}

TEST(BzImage, RejectsTruncatedFiles) {
  auto image = make_fake_bzimage();
  image.resize(image.size() - 100);
  EXPECT_NE(error_for(image).find("truncated"), std::string::npos) << error_for(image);
  image.resize(0x100);
  EXPECT_NE(error_for(image).find("too small"), std::string::npos);
  EXPECT_NE(error_for({}).find("too small"), std::string::npos);
  // Setup code alone claims more than the file holds.
  image = make_fake_bzimage();
  image[0x1f1] = 200;
  EXPECT_NE(error_for(image).find("truncated"), std::string::npos);
}

TEST(BzImage, RejectsKernelsWithout64BitEntry) {
  FakeBzImageSpec spec;
  spec.xloadflags = 0;
  EXPECT_NE(error_for(make_fake_bzimage(spec)).find("64-bit"), std::string::npos);
  spec = {};
  spec.loadflags = 0;
  EXPECT_NE(error_for(make_fake_bzimage(spec)).find("zImage"), std::string::npos);
}

}  // namespace
}  // namespace vmm
