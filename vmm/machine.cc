#include "vmm/machine.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "devices/acpi_pm.h"
#include "devices/boot_marker_port.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042_reset.h"
#include "devices/reset_control_port.h"
#include "devices/test_exit_port.h"
#include "devices/uart_16550.h"
#include "vmm/acpi_tables.h"
#include "vmm/cpuid.h"
#include "vmm/drives.h"
#include "vmm/exit_request.h"
#include "vmm/file_contents.h"
#include "vmm/guest_memory.h"
#include "vmm/io_bus.h"
#include "vmm/io_loop.h"
#include "vmm/kvm.h"
#include "vmm/kvm_irq_line.h"
#include "vmm/linux_loader.h"
#include "vmm/long_mode.h"
#include "vmm/memory_layout.h"
#include "vmm/mp_table.h"
#include "vmm/queued_output.h"
#include "vmm/serial_input.h"
#include "vmm/system_error.h"
#include "vmm/terminal_raw_mode.h"
#include "vmm/unique_fd.h"
#include "vmm/vcpu_setup.h"
#include "vmm/vcpu_snapshot.h"
#include "vmm/vcpu_thread.h"

namespace vmm {
namespace {

// Where COM1's output goes: stdout (not owned) or a file we opened.
struct SerialSink {
  UniqueFd owned;
  int fd = -1;
};

SerialSink open_serial_sink(const SerialConfig& config) {
  SerialSink sink;
  switch (config.kind) {
    case SerialConfig::Kind::kStdio:
      sink.fd = STDOUT_FILENO;
      break;
    case SerialConfig::Kind::kFile:
      sink.owned.reset(::open(config.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!sink.owned.valid()) {
        throw UsageError("-serial: " + config.path + ": " + std::strerror(errno));
      }
      sink.fd = sink.owned.get();
      break;
    case SerialConfig::Kind::kNone:
      break;
  }
  return sink;
}

// CPUID leaf 1 EAX/EDX, for the MP table's processor entries.
std::pair<uint32_t, uint32_t> cpu_signature(const std::vector<kvm_cpuid_entry2>& cpuid) {
  for (const auto& e : cpuid) {
    if (e.function == 1) return {e.eax, e.edx};
  }
  return {0, 0};
}

// Joins a std::thread on scope exit (RAII for the I/O thread).
class JoiningThread {
 public:
  explicit JoiningThread(std::thread t) : thread_(std::move(t)) {}
  ~JoiningThread() {
    if (thread_.joinable()) thread_.join();
  }
  JoiningThread(const JoiningThread&) = delete;
  JoiningThread& operator=(const JoiningThread&) = delete;

 private:
  std::thread thread_;
};

}  // namespace

int run_machine(const Options& options, const RunSettings& settings) {
  // Read inputs first: file errors should appear before any KVM work.
  std::vector<uint8_t> kernel = read_file(options.kernel_path);
  // The initrd is only opened here; load_linux() reads it straight into guest RAM.
  const std::optional<InputFile> initrd_file =
      options.initrd_path ? std::optional<InputFile>(std::in_place, *options.initrd_path) : std::nullopt;
  SerialSink sink = open_serial_sink(options.serial);

  Kvm kvm;
  KvmVm vm(kvm);
  vm.setup_pc_platform();

  GuestMemory memory(plan_ram_regions(options.memory_bytes));
  for (uint32_t slot = 0; slot < memory.slots().size(); ++slot) {
    const auto& s = memory.slots()[slot];
    vm.set_memory_region(slot, s.region.guest_address, s.region.size, s.mapping.data());
  }

  // Firmware tables: the MP table always, ACPI unless -no-acpi.
  const std::vector<kvm_cpuid_entry2> supported = kvm.supported_cpuid();
  const auto [signature, features] = cpu_signature(supported);
  MpTableConfig mp_config{options.vcpus, signature, features};
  mp_config.pci = !options.drives.empty();  // disks live on PCI bus 0 (vmm/drives.h)
  mp_config.pci_interrupts = disk_pci_interrupts(options.drives);
  memory.write(layout::kEbdaStart,
               build_mp_table(mp_config, static_cast<uint32_t>(layout::kEbdaStart)));
  std::optional<uint64_t> rsdp;
  if (options.acpi) {
    // PCI routing from mp_config, so the two tables cannot disagree.
    const AcpiConfig acpi_config{options.vcpus, mp_ioapic_id(options.vcpus), mp_config.pci,
                                 mp_config.pci_interrupts};
    const AcpiTables acpi = build_acpi_tables(acpi_config, layout::kBiosStart);
    memory.write(layout::kBiosStart, acpi.bytes);
    rsdp = acpi.rsdp_address;
  }

  const LinuxBootInfo boot = load_linux(
      memory, kernel, initrd_file ? InitrdImage::from_file(*initrd_file) : InitrdImage{}, options.append, rsdp);
  std::vector<uint8_t>().swap(kernel);  // it lives in guest RAM now
  const uint64_t cr3 = write_long_mode_tables(memory);

  CpuidOptions cpuid_options;
  cpuid_options.tsc_deadline_timer = kvm.check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
  std::vector<std::unique_ptr<KvmVcpu>> vcpus;
  for (unsigned i = 0; i < options.vcpus; ++i) {
    auto vcpu = std::make_unique<KvmVcpu>(kvm, vm, i);
    const auto refused = configure_vcpu(*vcpu, cpuid_for_vcpu(supported, i, options.vcpus, cpuid_options));
    if (settings.debug && i == 0) {
      for (uint32_t msr : refused) std::fprintf(stderr, "vmm: KVM refused MSR 0x%x\n", msr);
    }
    vcpus.push_back(std::move(vcpu));
  }
  set_boot_cpu_registers(*vcpus[0], {boot.entry_point, boot.zero_page, cr3, layout::kBootStack});

  // Port 0x80 is written for I/O delays all through boot; KVM absorbs it without an exit.
  UniqueFd port80_eventfd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!port80_eventfd.valid()) throw_errno("eventfd for port 0x80");
  vm.ignore_port_writes(0x80, 1, port80_eventfd.get());

  IoLoop loop;
  loop.set_poll_max(std::chrono::nanoseconds(options.iothread_poll_max_ns));
  ExitRequest exit_request(settings.start, [&loop](std::string line) {
    loop.post([line = std::move(line)] { std::fputs(line.c_str(), stderr); });
  });

  std::unique_ptr<QueuedOutput> serial_out;
  if (sink.fd >= 0) {
    serial_out = std::make_unique<QueuedOutput>(sink.fd, [&loop, &serial_out] {
      loop.post([&serial_out] { serial_out->flush(); });
    });
  }

  KvmIrqLine com1_irq(vm, devices::Uart16550::kCom1Irq);
  unsigned com1_interrupts_resent = 0;
  auto com1 = std::make_shared<devices::Uart16550>(com1_irq, serial_out.get());
  // Safety net for a lost COM1 edge (the guest's tty would wait forever for THRE), and a
  // diagnostic: a large count at exit means the guest stopped taking interrupts at all. See
  // Uart16550::resend_unacknowledged_interrupt. Re-armed every 100 ms on the I/O thread.
  std::function<void()> check_com1_irq = [&] {
    if (com1->resend_unacknowledged_interrupt()) {
      ++com1_interrupts_resent;
      // Said at exit otherwise: a line in the middle of the guest's console would split its lines.
      if (settings.debug) {
        std::fprintf(stderr, "vmm: COM1 interrupt not taken by the guest for 100 ms; raised again\n");
      }
    }
    loop.add_timer(std::chrono::milliseconds(100), check_com1_irq);
  };
  loop.add_timer(std::chrono::milliseconds(100), check_com1_irq);
  IoBus pio("pio", settings.debug);
  IoBus mmio("mmio", settings.debug);
  pio.add(devices::Uart16550::kCom1Base, devices::Uart16550::kRegisterCount, com1);
  pio.add(devices::I8042Reset::kBase, devices::I8042Reset::kSize,
          std::make_shared<devices::I8042Reset>(exit_request));
  pio.add(devices::CmosRtc::kBase, devices::CmosRtc::kSize, std::make_shared<devices::CmosRtc>());
  // 0xCF9 lies inside the PCI configuration ports: with disks, DiskDevices routes it.
  auto reset_port = std::make_shared<devices::ResetControlPort>(exit_request);
  if (options.drives.empty()) pio.add(devices::ResetControlPort::kPort, 1, reset_port);
  pio.add(devices::TestExitPort::kPort, 1, std::make_shared<devices::TestExitPort>(exit_request));
  pio.add(devices::BootMarkerPort::kPort, 1,
          std::make_shared<devices::BootMarkerPort>(exit_request));
  // The fixed-feature PM registers the FADT points at (PM timer, ACPI power-off).
  if (options.acpi) {
    pio.add(devices::AcpiPm::kBase, devices::AcpiPm::kSize,
            std::make_shared<devices::AcpiPm>(exit_request));
  }
  // PCI bus + disks; destroyed (at return) after the threads are joined and the loop drained.
  DiskDevices disks(options.drives, vm, memory, loop, pio, mmio, reset_port);

  // Host signals arrive as data on the I/O thread rather than in a handler.
  sigset_t host_signals;
  sigemptyset(&host_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&host_signals, sig);
  std::atomic<bool> host_signalled{false};
  UniqueFd signal_fd(::signalfd(-1, &host_signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd.valid()) throw_errno("signalfd");
  loop.watch_readable(signal_fd.get(), [&] {
    signalfd_siginfo info{};
    if (::read(signal_fd.get(), &info, sizeof info) == sizeof info) {
      host_signalled.store(true);
      exit_request.request_exit(128 + static_cast<int>(info.ssi_signo),
                                std::string("host signal ") + strsignal(static_cast<int>(info.ssi_signo)));
    }
    return true;
  });

  std::optional<TerminalRawMode> raw_mode;
  std::optional<SerialInput> serial_in;
  if (options.serial.kind == SerialConfig::Kind::kStdio) {
    raw_mode.emplace(STDIN_FILENO);
    serial_in.emplace(loop, STDIN_FILENO, *com1);
    serial_in->start();
  }

  install_vcpu_kick_handler();
  int status;
  {
    JoiningThread io_thread(std::thread([&] {
      pthread_setname_np(pthread_self(), "io");
      try {
        loop.run();
      } catch (const std::exception& e) {
        exit_request.request_exit(1, std::string("I/O thread: ") + e.what());
      }
    }));
    {
      std::vector<std::unique_ptr<VcpuThread>> threads;
      for (auto& vcpu : vcpus) {
        threads.push_back(std::make_unique<VcpuThread>(*vcpu, pio, mmio, exit_request));
        threads.back()->start();
      }
      status = exit_request.wait();
      // Writers blocked on a full output queue must not keep their vCPU from stopping.
      if (serial_out) serial_out->close();
      if (host_signalled.load()) {
        // Stopped from outside, typically by a harness whose guest stopped making progress:
        // say what each vCPU was last doing.
        for (size_t i = 0; i < threads.size(); ++i) {
          threads[i]->stop();
          std::fprintf(stderr, "vmm: %s\n", threads[i]->post_mortem().c_str());
          std::fprintf(stderr, "vmm: vCPU %zu state: %s\n", i,
                       describe_vcpu_snapshot(take_vcpu_snapshot(*vcpus[i], memory)).c_str());
        }
        std::fputs(disks.describe_state().c_str(), stderr);
      }
    }  // vCPU threads stopped and joined here
    loop.stop();
  }  // I/O thread joined here
  loop.run_pending();  // e.g. a boot-marker report posted just before the exit
  if (serial_out) serial_out->flush();
  if (com1_interrupts_resent > 0) {
    std::fprintf(stderr, "vmm: COM1: re-sent %u interrupt(s) the guest had not taken for 100 ms\n",
                 com1_interrupts_resent);
  }
  // Always say why: a reset or a triple fault also ends with status 0.
  std::fprintf(stderr, "vmm: exiting with status %d: %s\n", status, exit_request.reason().c_str());
  return status;
}

}  // namespace vmm
