// Test doubles for the interfaces devices use to reach the machine.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "devices/interrupt_line.h"
#include "devices/machine_control.h"
#include "devices/serial_output.h"

namespace vmm::testing {

class FakeInterruptLine : public devices::InterruptLine {
 public:
  void set_level(bool asserted) override {
    level = asserted;
    ++changes;
  }
  bool level = false;
  int changes = 0;
};

class FakeSerialOutput : public devices::SerialOutput {
 public:
  void write(std::span<const uint8_t> bytes) override { text.append(bytes.begin(), bytes.end()); }
  std::string text;
};

class FakeMachineControl : public devices::MachineControl {
 public:
  void request_exit(int status, const std::string& reason) override {
    if (!exit_status) {
      exit_status = status;
      exit_reason = reason;
    }
  }
  void guest_init_reached() override { ++init_reached; }
  std::optional<int> exit_status;
  std::string exit_reason;
  int init_reached = 0;
};

}  // namespace vmm::testing
