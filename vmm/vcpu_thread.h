// Runs one vCPU on its own thread: KVM_RUN, then route PIO/MMIO exits to the buses, until
// stopped. stop() kicks the thread out of KVM_RUN with immediate_exit plus a signal.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "devices/machine_control.h"
#include "vmm/io_bus.h"
#include "vmm/kvm.h"

namespace vmm {

// The signal used to kick vCPU threads out of KVM_RUN. Its handler does nothing; installing it
// (once, before threads start) makes the signal interrupt the ioctl instead of killing us.
int vcpu_kick_signal();
void install_vcpu_kick_handler();

class VcpuThread {
 public:
  VcpuThread(KvmVcpu& vcpu, IoBus& pio, IoBus& mmio, devices::MachineControl& control);
  ~VcpuThread();  // stops and joins
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;

  void start();
  void stop();
  // After stop(): one line on what this vCPU was last doing (exit count, the last exit and how
  // long ago, registers, run state), for a VMM stopped because the guest made no progress.
  std::string post_mortem() const;

 private:
  void run_loop();
  // Returns false when the vCPU must stop (exit requested).
  bool handle_exit();
  std::string cpu_state_summary() const;  // registers for a post-mortem line
  void handle_io(kvm_run& run);
  void handle_mmio(kvm_run& run);

  KvmVcpu& vcpu_;
  IoBus& pio_;
  IoBus& mmio_;
  devices::MachineControl& control_;
  std::atomic<bool> stop_{false};
  // Activity, written by the vCPU thread on each exit and read by post_mortem().
  std::atomic<uint64_t> exits_{0};
  std::atomic<uint32_t> last_exit_reason_{0};
  std::atomic<uint32_t> last_exit_detail_{0};  // I/O port or low MMIO address bits
  std::atomic<int64_t> last_exit_ns_{0};       // steady_clock
  std::thread thread_;
};

}  // namespace vmm
