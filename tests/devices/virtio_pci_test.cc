// The virtio-pci transport on its own, with a minimal device type: configuration changes
// (config_generation + configuration interrupt), feature windows, the device's veto on
// FEATURES_OK, and machine reset.
#include <cstring>

#include <gtest/gtest.h>

#include "devices/virtio/virtio_pci_device.h"
#include "virtio_test_util.h"

namespace devices::virtio {
namespace {

class TestVirtioDevice final : public VirtioPciDevice {
 public:
  explicit TestVirtioDevice(const vmm::GuestMemory& memory)
      : VirtioPciDevice(memory, Params{.device_type = 0x3F,
                                       .num_queues = 1,
                                       .device_features = bit(0) | bit(40),
                                       .device_config_size = 8}) {}
  void process_queue(uint16_t) override {}
  void change_config(uint32_t value) {
    std::lock_guard lock(mutex());
    config_value_ = value;
    config_changed();
  }
  bool refuse = false;
  int resets = 0;

 protected:
  void read_device_config(uint32_t offset, std::span<uint8_t> data) override {
    uint8_t c[8] = {};
    std::memcpy(c, &config_value_, 4);
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < 8 ? c[offset + i] : 0;
  }
  bool validate_features(uint64_t) override { return !refuse; }
  void device_reset() override { ++resets; }

 private:
  uint32_t config_value_ = 0;
};

class VirtioPciTest : public ::testing::Test {
 protected:
  VirtioPciTest() : dev(ram.memory), drv(dev, ram) {
    dev.set_msi_sender(&msi);
    dev.connect_intx(&line, 5);
  }
  testing::TestRam ram;
  TestVirtioDevice dev;
  testing::TestDriver drv;
  testing::FakeMsi msi;
  testing::FakeLine line;
};

TEST_F(VirtioPciTest, DeviceIdFollowsType) {
  EXPECT_EQ(drv.cfg_read(pci::reg::kDeviceId, 2), 0x1040u + 0x3F);
}

TEST_F(VirtioPciTest, FeatureWindows) {
  drv.enable_device();
  uint64_t f = drv.device_features();
  EXPECT_EQ(f & (bit(0) | bit(40)), bit(0) | bit(40));
  EXPECT_TRUE(f & bit(feature::kVersion1));
  drv.write(0x00, 2, 4);  // no third window
  EXPECT_EQ(drv.read(0x04, 4), 0u);
}

TEST_F(VirtioPciTest, DeviceCanVetoFeaturesOk) {
  drv.enable_device();
  dev.refuse = true;
  EXPECT_FALSE(drv.negotiate(bit(feature::kVersion1)));
  drv.set_status(0);
  dev.refuse = false;
  EXPECT_TRUE(drv.negotiate(bit(feature::kVersion1) | bit(40)));
}

TEST_F(VirtioPciTest, ConfigChangeBumpsGenerationAndInterruptsMsix) {
  drv.bring_up(bit(feature::kVersion1));
  auto gen = drv.read(0x15, 1);
  dev.change_config(0xABCD);
  EXPECT_EQ(drv.read(0x15, 1), (gen + 1) & 0xFF);
  EXPECT_EQ(drv.read(VirtioPciDevice::kDeviceConfigOffset, 4), 0xABCDu);
  EXPECT_EQ(msi.count(0x100), 1u);  // config vector 0
}

TEST_F(VirtioPciTest, ConfigChangeUsesIsrBitOneWithoutMsix) {
  drv.enable_device();
  ASSERT_TRUE(drv.negotiate(bit(feature::kVersion1)));
  drv.driver_ok();
  dev.change_config(1);
  EXPECT_TRUE(line.level);
  EXPECT_EQ(drv.read(VirtioPciDevice::kIsrOffset, 1), 2u);
  EXPECT_FALSE(line.level);
}

TEST_F(VirtioPciTest, NoConfigInterruptBeforeDriverOk) {
  drv.enable_device();
  dev.change_config(1);
  EXPECT_FALSE(line.level);
  EXPECT_EQ(msi.total(), 0u);
}

TEST_F(VirtioPciTest, MachineResetAlsoResetsMsix) {
  drv.bring_up(bit(feature::kVersion1));
  int before = dev.resets;
  dev.reset();
  EXPECT_EQ(dev.resets, before + 1);
  EXPECT_EQ(dev.status(), 0);
  uint8_t cap = drv.msix_cap();
  EXPECT_EQ(drv.cfg_read(cap + 2, 2) & 0x8000, 0u);                     // MSI-X disabled
  EXPECT_EQ(drv.read(VirtioPciDevice::kMsixTableOffset + 12, 4), 1u);  // vector masked
}

TEST_F(VirtioPciTest, StatusBitsAccumulateAndNeedsResetIsDeviceOwned) {
  drv.enable_device();
  drv.set_status(device_status::kAcknowledge | device_status::kNeedsReset);
  EXPECT_EQ(drv.status(), device_status::kAcknowledge);  // the driver cannot set NEEDS_RESET
}

}  // namespace
}  // namespace devices::virtio
