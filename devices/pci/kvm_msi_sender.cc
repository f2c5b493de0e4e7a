#include "devices/pci/kvm_msi_sender.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace devices::pci {

void KvmMsiSender::send(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  // > 0 delivered, 0 blocked by the guest (e.g. APIC disabled), < 0 error.
  if (::ioctl(vm_fd_, KVM_SIGNAL_MSI, &msi) < 0) {
    int err = errno;
    if (failures_.fetch_add(1, std::memory_order_relaxed) < 4) {
      std::fprintf(stderr, "vmm: KVM_SIGNAL_MSI address 0x%llx data 0x%x: %s\n",
                   static_cast<unsigned long long>(address), data, std::strerror(err));
    }
  }
}

}  // namespace devices::pci
