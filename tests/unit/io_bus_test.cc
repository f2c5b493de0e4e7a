#include "vmm/io_bus.h"

#include <gtest/gtest.h>

#include <vector>

namespace vmm {
namespace {

// Records accesses; reads return the offset.
class RecordingDevice : public devices::IoDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override {
    reads.push_back(offset);
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    writes.push_back({offset, data[0]});
  }
  std::vector<uint64_t> reads;
  std::vector<std::pair<uint64_t, uint8_t>> writes;
};

TEST(IoBus, RoutesToDeviceWithRelativeOffset) {
  IoBus bus("pio");
  auto a = std::make_shared<RecordingDevice>();
  auto b = std::make_shared<RecordingDevice>();
  bus.add(0x3f8, 8, a);
  bus.add(0x400, 4, b);
  uint8_t v = 0;
  EXPECT_TRUE(bus.read(0x3fd, std::span(&v, 1)));
  EXPECT_EQ(v, 5);
  const uint8_t w = 0x42;
  EXPECT_TRUE(bus.write(0x402, std::span(&w, 1)));
  EXPECT_EQ(a->reads, std::vector<uint64_t>{5});
  ASSERT_EQ(b->writes.size(), 1u);
  EXPECT_EQ(b->writes[0], (std::pair<uint64_t, uint8_t>{2, 0x42}));
}

TEST(IoBus, UnmappedReadsAllOnesAndWritesAreIgnored) {
  IoBus bus("pio");
  auto a = std::make_shared<RecordingDevice>();
  bus.add(0x3f8, 8, a);
  uint8_t data[4] = {0, 0, 0, 0};
  EXPECT_FALSE(bus.read(0x1234, std::span(data, 4)));
  for (uint8_t b : data) EXPECT_EQ(b, 0xFF);
  EXPECT_FALSE(bus.write(0x3f7, std::span<const uint8_t>(data, 1)));
  // An access straddling the end of a range is not routed either.
  EXPECT_FALSE(bus.read(0x3fe, std::span(data, 4)));
  EXPECT_EQ(bus.unmapped_accesses(), 3u);
  EXPECT_TRUE(a->reads.empty());
  EXPECT_TRUE(a->writes.empty());
}

TEST(IoBus, RejectsOverlapsAndEmptyRanges) {
  IoBus bus("mmio");
  auto d = std::make_shared<RecordingDevice>();
  bus.add(0x1000, 0x100, d);
  EXPECT_THROW(bus.add(0x1000, 0x100, d), std::invalid_argument);
  EXPECT_THROW(bus.add(0x10ff, 1, d), std::invalid_argument);
  EXPECT_THROW(bus.add(0xf00, 0x101, d), std::invalid_argument);
  EXPECT_THROW(bus.add(0x0, 0x2000, d), std::invalid_argument);
  EXPECT_THROW(bus.add(0x5000, 0, d), std::invalid_argument);
  EXPECT_THROW(bus.add(~0ull, 2, d), std::invalid_argument);
  EXPECT_THROW(bus.add(0x6000, 1, nullptr), std::invalid_argument);
  EXPECT_NO_THROW(bus.add(0x1100, 0x100, d));  // adjacent is fine
  EXPECT_NO_THROW(bus.add(0xf00, 0x100, d));
}

TEST(IoBus, OverlapErrorNamesTheRange) {
  IoBus bus("pio");
  auto d = std::make_shared<RecordingDevice>();
  bus.add(0x60, 5, d);
  try {
    bus.add(0x64, 1, d);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "pio bus: [0x64, 0x65) overlaps the device at 0x60");
  }
}

}  // namespace
}  // namespace vmm
