// MSI-X: table access, per-vector and function masking, pending bits.
#include <cstring>

#include <gtest/gtest.h>

#include "devices/pci/msix.h"
#include "devices/pci/pci_config_space.h"
#include "virtio_test_util.h"

namespace devices::pci {
namespace {

class MsixTest : public ::testing::Test {
 protected:
  MsixTest() : config(PciIds{.vendor = 1, .device = 2}), msix(config, 4, 0, 0x4000, 0x5000) {
    msix.set_sender(&sender);
  }
  void table_write32(uint64_t off, uint32_t v) {
    msix.table_write(off, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
  }
  uint32_t table_read32(uint64_t off) {
    uint32_t v;
    msix.table_read(off, std::span(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void control(uint16_t v) {
    config.write(msix.capability_offset() + 2, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&v), 2));
    msix.control_written();
  }
  void program(uint16_t vec, uint32_t data, bool masked) {
    table_write32(16 * vec, 0xFEE0'1000);
    table_write32(16 * vec + 4, 0);
    table_write32(16 * vec + 8, data);
    table_write32(16 * vec + 12, masked ? 1 : 0);
  }
  uint64_t pba() {
    uint64_t v;
    msix.pba_read(0, std::span(reinterpret_cast<uint8_t*>(&v), 8));
    return v;
  }
  PciConfigSpace config;
  MsixCapability msix;
  testing::FakeMsi sender;
};

TEST_F(MsixTest, CapabilityLayout) {
  uint8_t cap = msix.capability_offset();
  EXPECT_EQ(config.get8(cap), cap_id::kMsix);
  EXPECT_EQ(config.get16(cap + 2) & 0x7FF, 3);  // table size - 1
  EXPECT_EQ(config.get32(cap + 4), 0x4000u);    // BIR 0
  EXPECT_EQ(config.get32(cap + 8), 0x5000u);
  EXPECT_EQ(table_read32(12), 1u);              // vectors start masked
  EXPECT_FALSE(msix.enabled());
}

TEST_F(MsixTest, DisabledFallsBackToCaller) {
  program(0, 0x41, false);
  EXPECT_FALSE(msix.notify(0));
  EXPECT_EQ(sender.total(), 0u);
}

TEST_F(MsixTest, UnmaskedVectorSendsMessage) {
  program(1, 0x42, false);
  control(MsixCapability::kControlEnable);
  EXPECT_TRUE(msix.notify(1));
  ASSERT_EQ(sender.sent.size(), 1u);
  EXPECT_EQ(sender.sent[0], (std::pair<uint64_t, uint32_t>{0xFEE0'1000, 0x42}));
  EXPECT_FALSE(msix.notify(9));  // no such vector
}

TEST_F(MsixTest, MaskedVectorSetsPendingAndUnmaskDelivers) {
  program(2, 0x43, true);
  control(MsixCapability::kControlEnable);
  EXPECT_TRUE(msix.notify(2));
  EXPECT_EQ(sender.total(), 0u);
  EXPECT_TRUE(msix.pending(2));
  EXPECT_EQ(pba(), 0b100u);
  table_write32(16 * 2 + 12, 0);  // unmask
  EXPECT_EQ(sender.count(0x43), 1u);
  EXPECT_FALSE(msix.pending(2));
  EXPECT_EQ(pba(), 0u);
}

TEST_F(MsixTest, FunctionMaskHoldsAllVectors) {
  program(0, 0x50, false);
  program(3, 0x53, false);
  control(MsixCapability::kControlEnable | MsixCapability::kControlFunctionMask);
  msix.notify(0);
  msix.notify(3);
  EXPECT_EQ(sender.total(), 0u);
  EXPECT_EQ(pba(), 0b1001u);
  control(MsixCapability::kControlEnable);
  EXPECT_EQ(sender.count(0x50), 1u);
  EXPECT_EQ(sender.count(0x53), 1u);
  EXPECT_EQ(pba(), 0u);
}

TEST_F(MsixTest, PbaIsReadOnlyAndResetMasksEverything) {
  program(0, 0x60, false);
  control(MsixCapability::kControlEnable);
  msix.reset();
  EXPECT_FALSE(msix.enabled());
  EXPECT_EQ(table_read32(12), 1u);
  EXPECT_EQ(table_read32(8), 0u);
  // Reserved vector-control bits read as zero.
  table_write32(12, 0xFFFF'FFFE);
  EXPECT_EQ(table_read32(12), 0u);
}

}  // namespace
}  // namespace devices::pci
