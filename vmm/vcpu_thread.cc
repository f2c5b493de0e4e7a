#include "vmm/vcpu_thread.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace vmm {

int vcpu_kick_signal() { return SIGUSR1; }

void install_vcpu_kick_handler() {
  struct sigaction action {};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(vcpu_kick_signal(), &action, nullptr);
}

VcpuThread::VcpuThread(KvmVcpu& vcpu, IoBus& pio, IoBus& mmio, devices::MachineControl& control)
    : vcpu_(vcpu), pio_(pio), mmio_(mmio), control_(control) {}

VcpuThread::~VcpuThread() { stop(); }

void VcpuThread::start() {
  thread_ = std::thread([this] {
    char name[16];
    std::snprintf(name, sizeof name, "vcpu%u", vcpu_.index());
    pthread_setname_np(pthread_self(), name);
    try {
      run_loop();
    } catch (const std::exception& e) {
      control_.request_exit(1, std::string("vCPU ") + std::to_string(vcpu_.index()) + ": " + e.what());
    }
  });
}

void VcpuThread::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  // immediate_exit covers the window between the stop_ check and entering KVM_RUN; the signal
  // interrupts a KVM_RUN already in progress.
  reinterpret_cast<volatile uint8_t&>(vcpu_.run_state()->immediate_exit) = 1;
  pthread_kill(thread_.native_handle(), vcpu_kick_signal());
  thread_.join();
}

void VcpuThread::run_loop() {
  while (!stop_.load()) {
    if (!vcpu_.run()) continue;  // interrupted: re-check stop_
    const kvm_run& run = *vcpu_.run_state();
    exits_.fetch_add(1, std::memory_order_relaxed);
    last_exit_reason_.store(run.exit_reason, std::memory_order_relaxed);
    last_exit_detail_.store(run.exit_reason == KVM_EXIT_IO     ? run.io.port
                            : run.exit_reason == KVM_EXIT_MMIO ? static_cast<uint32_t>(run.mmio.phys_addr)
                                                               : 0,
                            std::memory_order_relaxed);
    last_exit_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count(),
                        std::memory_order_relaxed);
    if (!handle_exit()) return;
  }
}

std::string VcpuThread::post_mortem() const {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  const int64_t last = last_exit_ns_.load();
  char text[320];
  std::string where;
  switch (last_exit_reason_.load()) {
    case KVM_EXIT_IO: {
      char port[32];
      std::snprintf(port, sizeof port, "I/O port 0x%x", last_exit_detail_.load());
      where = port;
      break;
    }
    case KVM_EXIT_MMIO: {
      char addr[32];
      std::snprintf(addr, sizeof addr, "MMIO 0x%x", last_exit_detail_.load());
      where = addr;
      break;
    }
    default:
      where = "exit reason " + std::to_string(last_exit_reason_.load());
  }
  std::string state;
  try {
    const kvm_regs r = vcpu_.get_regs();
    char regs[160];
    std::snprintf(regs, sizeof regs, "rip=0x%llx rsp=0x%llx rflags=0x%llx (IF=%d), mp_state %u",
                  static_cast<unsigned long long>(r.rip), static_cast<unsigned long long>(r.rsp),
                  static_cast<unsigned long long>(r.rflags), (r.rflags & 0x200) ? 1 : 0,
                  vcpu_.get_mp_state());
    state = regs;
  } catch (const std::exception& e) {
    state = std::string("registers unavailable: ") + e.what();
  }
  std::snprintf(text, sizeof text, "vCPU %u: %llu exits, the last (%s) %.1f s ago; %s",
                vcpu_.index(), static_cast<unsigned long long>(exits_.load()), where.c_str(),
                last == 0 ? 0.0 : static_cast<double>(now - last) / 1e9, state.c_str());
  return text;
}

void VcpuThread::handle_io(kvm_run& run) {
  auto* data = reinterpret_cast<uint8_t*>(&run) + run.io.data_offset;
  // String instructions (rep ins/outs) arrive as `count` consecutive elements.
  for (uint32_t i = 0; i < run.io.count; ++i, data += run.io.size) {
    if (run.io.direction == KVM_EXIT_IO_OUT) {
      pio_.write(run.io.port, std::span<const uint8_t>(data, run.io.size));
    } else {
      pio_.read(run.io.port, std::span<uint8_t>(data, run.io.size));
    }
  }
}

void VcpuThread::handle_mmio(kvm_run& run) {
  const size_t len = std::min<size_t>(run.mmio.len, sizeof run.mmio.data);
  if (run.mmio.is_write) {
    mmio_.write(run.mmio.phys_addr, std::span<const uint8_t>(run.mmio.data, len));
  } else {
    mmio_.read(run.mmio.phys_addr, std::span<uint8_t>(run.mmio.data, len));
  }
}

std::string VcpuThread::cpu_state_summary() const {
  try {
    const kvm_regs r = vcpu_.get_regs();
    const kvm_sregs sr = vcpu_.get_sregs();
    char text[256];
    std::snprintf(text, sizeof text,
                  "at rip=0x%llx rsp=0x%llx cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx "
                  "efer=0x%llx idt=0x%llx/%u",
                  static_cast<unsigned long long>(r.rip), static_cast<unsigned long long>(r.rsp),
                  static_cast<unsigned long long>(sr.cr0), static_cast<unsigned long long>(sr.cr2),
                  static_cast<unsigned long long>(sr.cr3), static_cast<unsigned long long>(sr.cr4),
                  static_cast<unsigned long long>(sr.efer),
                  static_cast<unsigned long long>(sr.idt.base), sr.idt.limit);
    return text;
  } catch (const std::exception& e) {
    return std::string("(registers unavailable: ") + e.what() + ")";
  }
}

bool VcpuThread::handle_exit() {
  kvm_run& run = *vcpu_.run_state();
  const std::string who = "vCPU " + std::to_string(vcpu_.index());
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      handle_io(run);
      return true;
    case KVM_EXIT_MMIO:
      handle_mmio(run);
      return true;
    case KVM_EXIT_INTR:
      return true;
    case KVM_EXIT_HLT:
      control_.request_exit(0, who + " halted");
      return false;
    case KVM_EXIT_SHUTDOWN:
      // A triple fault resets a PC; Linux uses it as a last-resort reboot method. It may also
      // be a guest crash, so say where the CPU was.
      control_.request_exit(0, who + ": triple fault (treated as reset) " + cpu_state_summary());
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      if (run.system_event.type == KVM_SYSTEM_EVENT_CRASH) {
        control_.request_exit(1, who + ": guest crash event");
      } else {
        control_.request_exit(0, who + ": system event " + std::to_string(run.system_event.type));
      }
      return false;
    case KVM_EXIT_FAIL_ENTRY: {
      char buf[64];
      std::snprintf(buf, sizeof buf, ": KVM entry failed, hardware reason 0x%llx",
                    static_cast<unsigned long long>(run.fail_entry.hardware_entry_failure_reason));
      control_.request_exit(1, who + buf);
      return false;
    }
    case KVM_EXIT_INTERNAL_ERROR: {
      const kvm_regs regs = vcpu_.get_regs();
      char buf[128];
      std::snprintf(buf, sizeof buf, ": KVM internal error, suberror %u, rip 0x%llx",
                    run.internal.suberror, static_cast<unsigned long long>(regs.rip));
      control_.request_exit(1, who + buf);
      return false;
    }
    default:
      control_.request_exit(1, who + ": unhandled KVM exit reason " + std::to_string(run.exit_reason));
      return false;
  }
}

}  // namespace vmm
