#include "devices/uart_16550.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_devices.h"

namespace devices {
namespace {

using U = Uart16550;

class UartTest : public ::testing::Test {
 protected:
  uint8_t in(uint64_t reg) {
    uint8_t v = 0;
    uart.read(reg, std::span(&v, 1));
    return v;
  }
  void out(uint64_t reg, uint8_t v) { uart.write(reg, std::span<const uint8_t>(&v, 1)); }
  void rx(const std::string& s) {
    uart.receive(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }

  vmm::testing::FakeInterruptLine irq;
  vmm::testing::FakeSerialOutput output;
  Uart16550 uart{irq, &output};
};

TEST_F(UartTest, ResetState) {
  EXPECT_EQ(in(U::kIerDlm), 0);
  EXPECT_EQ(in(U::kIirFcr), U::kIirNoInterrupt);
  EXPECT_EQ(in(U::kLsr), U::kLsrThrEmpty | U::kLsrTransmitterEmpty);
  EXPECT_FALSE(irq.level);
}

TEST_F(UartTest, TransmitGoesToOutput) {
  for (char c : std::string("hi\n")) out(U::kRbrThrDll, static_cast<uint8_t>(c));
  EXPECT_EQ(output.text, "hi\n");
  EXPECT_TRUE(in(U::kLsr) & U::kLsrThrEmpty);
}

TEST_F(UartTest, DlabSwitchesToDivisorLatches) {
  out(U::kLcr, U::kLcrDlab | 0x03);
  out(U::kRbrThrDll, 0x01);  // divisor 1 = 115200 baud, not transmitted
  out(U::kIerDlm, 0x00);
  EXPECT_EQ(in(U::kRbrThrDll), 0x01);
  EXPECT_EQ(in(U::kIerDlm), 0x00);
  EXPECT_EQ(in(U::kLcr), U::kLcrDlab | 0x03);
  EXPECT_EQ(output.text, "");
  out(U::kLcr, 0x03);
  out(U::kIerDlm, 0x05);
  EXPECT_EQ(in(U::kIerDlm), 0x05);
  EXPECT_EQ(in(U::kRbrThrDll), 0);  // empty RX reads 0
}

TEST_F(UartTest, IerKeepsOnlyTheFourDefinedBits) {
  out(U::kIerDlm, 0xFF);
  EXPECT_EQ(in(U::kIerDlm), 0x0F);
}

TEST_F(UartTest, ThreInterruptOnEnableAndAfterEachWrite) {
  out(U::kIerDlm, U::kIerThrEmpty);
  EXPECT_TRUE(irq.level);  // THR is empty, so enabling raises it at once
  EXPECT_EQ(in(U::kIirFcr) & 0x0F, U::kIirThrEmpty);
  EXPECT_FALSE(irq.level);  // reading IIR acknowledged it
  EXPECT_EQ(in(U::kIirFcr) & 0x0F, U::kIirNoInterrupt);
  out(U::kRbrThrDll, 'x');
  EXPECT_TRUE(irq.level);
  out(U::kIerDlm, 0);
  EXPECT_FALSE(irq.level);
}

TEST_F(UartTest, ReceiveFifoAndInterrupt) {
  rx("ab");
  EXPECT_FALSE(irq.level);  // RX interrupt not enabled yet
  EXPECT_TRUE(in(U::kLsr) & U::kLsrDataReady);
  out(U::kIerDlm, U::kIerRxAvailable);
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(in(U::kIirFcr) & 0x0F, U::kIirRxAvailable);
  EXPECT_TRUE(irq.level);  // reading IIR does not clear RX; reading the data does
  EXPECT_EQ(in(U::kRbrThrDll), 'a');
  EXPECT_TRUE(irq.level);
  EXPECT_EQ(in(U::kRbrThrDll), 'b');
  EXPECT_FALSE(irq.level);
  EXPECT_FALSE(in(U::kLsr) & U::kLsrDataReady);
}

TEST_F(UartTest, RxHasPriorityOverThre) {
  out(U::kIerDlm, U::kIerRxAvailable | U::kIerThrEmpty);
  rx("z");
  EXPECT_EQ(in(U::kIirFcr) & 0x0F, U::kIirRxAvailable);
  in(U::kRbrThrDll);
  EXPECT_EQ(in(U::kIirFcr) & 0x0F, U::kIirThrEmpty);
}

TEST_F(UartTest, FifoControl) {
  out(U::kIirFcr, U::kFcrEnable);
  EXPECT_EQ(in(U::kIirFcr) & U::kIirFifoEnabled, U::kIirFifoEnabled);
  rx("abc");
  out(U::kIirFcr, U::kFcrEnable | U::kFcrClearRx);
  EXPECT_FALSE(in(U::kLsr) & U::kLsrDataReady);
}

TEST_F(UartTest, ReceiveIsBounded) {
  std::string big(U::kRxCapacity + 10, 'q');
  EXPECT_EQ(uart.receive(std::span(reinterpret_cast<const uint8_t*>(big.data()), big.size())),
            U::kRxCapacity);
  EXPECT_EQ(uart.rx_space(), 0u);
}

TEST_F(UartTest, LoopbackEchoesAndMirrorsModemLines) {
  out(U::kMcr, U::kMcrLoop | 0x0A);  // loop + RTS + OUT2
  EXPECT_EQ(in(U::kMsr) & 0xF0, 0x90);  // CTS + DCD, what Linux's probe checks
  out(U::kRbrThrDll, 0x55);
  EXPECT_EQ(output.text, "");
  EXPECT_EQ(in(U::kRbrThrDll), 0x55);
  out(U::kMcr, 0x08);
  EXPECT_EQ(in(U::kMsr), 0xB0);
}

TEST_F(UartTest, ScratchRegisterAndWideAccess) {
  out(U::kScr, 0xA5);
  EXPECT_EQ(in(U::kScr), 0xA5);
  uint8_t wide[4] = {1, 2, 3, 4};
  uart.read(U::kScr, std::span(wide, 4));
  EXPECT_EQ(wide[0], 0xA5);
  EXPECT_EQ(wide[1], 0);
}

TEST_F(UartTest, LostEdgeIsResentWhenTheGuestNeverReadsIir) {
  out(U::kIerDlm, U::kIerThrEmpty);  // THRE pending at once: line raised
  ASSERT_TRUE(irq.level);
  EXPECT_FALSE(uart.resend_unacknowledged_interrupt());  // first look: maybe just slow
  const int changes = irq.changes;
  EXPECT_TRUE(uart.resend_unacknowledged_interrupt());   // still unread: send a fresh edge
  EXPECT_EQ(irq.changes, changes + 2);
  EXPECT_TRUE(irq.level);
}

TEST_F(UartTest, NoResendOnceTheGuestReadIir) {
  out(U::kIerDlm, U::kIerThrEmpty);
  EXPECT_FALSE(uart.resend_unacknowledged_interrupt());
  EXPECT_EQ(in(U::kIirFcr) & 0x0F, U::kIirThrEmpty);  // the handler ran
  const int changes = irq.changes;
  EXPECT_FALSE(uart.resend_unacknowledged_interrupt());
  EXPECT_FALSE(uart.resend_unacknowledged_interrupt());  // line is low now: nothing to resend
  EXPECT_EQ(irq.changes, changes);
}

TEST_F(UartTest, NoResendWhileTheLineIsLow) {
  EXPECT_FALSE(uart.resend_unacknowledged_interrupt());
  EXPECT_FALSE(uart.resend_unacknowledged_interrupt());
  EXPECT_EQ(irq.changes, 0);
}

TEST(UartWithoutOutput, DiscardsTransmittedBytes) {
  vmm::testing::FakeInterruptLine irq;
  Uart16550 uart(irq, nullptr);
  const uint8_t c = 'x';
  uart.write(U::kRbrThrDll, std::span(&c, 1));
  uint8_t lsr = 0;
  uart.read(U::kLsr, std::span(&lsr, 1));
  EXPECT_TRUE(lsr & U::kLsrThrEmpty);
}

}  // namespace
}  // namespace devices
