// Thin RAII wrappers over the KVM ioctl API: the system fd, a VM and its vCPUs.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "vmm/memory_mapping.h"
#include "vmm/unique_fd.h"

namespace vmm {

class Kvm {
 public:
  // Opens /dev/kvm and checks the API version and the capabilities we rely on.
  Kvm();
  int fd() const { return fd_.get(); }
  int check_extension(long capability) const;
  size_t vcpu_mmap_size() const;
  // KVM_GET_SUPPORTED_CPUID: the host's and KVM's combined CPUID leaves.
  std::vector<kvm_cpuid_entry2> supported_cpuid() const;

 private:
  UniqueFd fd_;
};

class KvmVcpu;

class KvmVm {
 public:
  explicit KvmVm(const Kvm& kvm);
  int fd() const { return fd_.get(); }

  // The classic PC platform: TSS/identity-map pages (VMX real mode needs them), the in-kernel
  // PIC+IOAPIC+LAPIC and the in-kernel PIT.
  void setup_pc_platform();
  void set_memory_region(uint32_t slot, uint64_t guest_address, uint64_t size, void* host);
  // Drives an interrupt line of the in-kernel irqchip (GSI `irq`).
  void set_irq_line(uint32_t irq, bool level) const;
  // Lets KVM absorb guest writes to `port` without an exit (e.g. port 0x80 delays).
  void ignore_port_writes(uint16_t port, uint8_t length, int eventfd);

 private:
  UniqueFd fd_;
};

class KvmVcpu {
 public:
  KvmVcpu(const Kvm& kvm, const KvmVm& vm, unsigned index);
  int fd() const { return fd_.get(); }
  unsigned index() const { return index_; }
  kvm_run* run_state() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  kvm_regs get_regs() const;
  void set_regs(const kvm_regs& regs);
  kvm_sregs get_sregs() const;
  void set_sregs(const kvm_sregs& sregs);
  uint32_t get_mp_state() const;  // KVM_MP_STATE_*
  kvm_vcpu_events get_vcpu_events() const;
  kvm_lapic_state get_lapic() const;
  // KVM_TRANSLATE through the guest's page tables; nullopt if the address is not mapped.
  std::optional<uint64_t> translate(uint64_t guest_virtual) const;
  // One MSR's value; nullopt if KVM does not report it.
  std::optional<uint64_t> get_msr(uint32_t index) const;
  void set_fpu(const kvm_fpu& fpu);
  // Sets each MSR; returns how many KVM accepted (it stops at the first it refuses).
  size_t set_msrs(const std::vector<kvm_msr_entry>& msrs);
  // LINT0 = ExtINT (the 8259 PIC), LINT1 = NMI, as firmware would leave them.
  void setup_local_apic_lints();
  // One KVM_RUN. Returns false if interrupted (EINTR/EAGAIN); throws on real errors.
  bool run();

 private:
  UniqueFd fd_;
  MemoryMapping run_;
  unsigned index_;
};

}  // namespace vmm
