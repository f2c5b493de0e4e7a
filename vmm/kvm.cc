#include "vmm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "vmm/system_error.h"

namespace vmm {
namespace {

// The TSS needs three pages below 4 GiB that are neither RAM nor MMIO; the identity map page
// for VMX real mode goes right below. Same region firmware traditionally reserves.
constexpr uint64_t kTssAddress = 0xFFFBD000;
constexpr uint64_t kIdentityMapAddress = 0xFFFBC000;

// The UAPI headers declare kvm_cpuid2/kvm_msrs with __DECLARE_FLEX_ARRAY, which in C++ adds an
// empty struct (size 1) and so changes sizeof and the ioctl numbers derived from it. We use our
// own header layouts (count + padding, entries at offset 8) and ioctl numbers built from them.
struct CountHeader {
  uint32_t count;
  uint32_t padding;
};
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CountHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CountHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, CountHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, CountHeader);

// A count header followed by `count` entries of T, as one contiguous buffer.
template <typename T>
class CountedArray {
 public:
  explicit CountedArray(size_t count) : bytes_(sizeof(CountHeader) + count * sizeof(T)) {
    header()->count = static_cast<uint32_t>(count);
  }
  CountHeader* header() { return reinterpret_cast<CountHeader*>(bytes_.data()); }
  T* entries() { return reinterpret_cast<T*>(bytes_.data() + sizeof(CountHeader)); }
  void* data() { return bytes_.data(); }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace

Kvm::Kvm() : fd_(::open("/dev/kvm", O_RDWR | O_CLOEXEC)) {
  if (!fd_.valid()) throw_errno("/dev/kvm");
  const int version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    throw std::runtime_error("/dev/kvm: unsupported KVM API version " + std::to_string(version));
  }
  for (auto [cap, name] : {std::pair{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
                           {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
                           {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
                           {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"}}) {
    if (check_extension(cap) <= 0) {
      throw std::runtime_error(std::string("/dev/kvm: missing capability ") + name);
    }
  }
}

int Kvm::check_extension(long capability) const {
  return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
}

size_t Kvm::vcpu_mmap_size() const {
  const int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) throw_errno("KVM_GET_VCPU_MMAP_SIZE");
  return static_cast<size_t>(size);
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const {
  // kvm_cpuid2 ends in a flexible array; grow the buffer until KVM is satisfied.
  for (size_t count = 64; count <= 4096; count *= 2) {
    CountedArray<kvm_cpuid_entry2> cpuid(count);
    if (::ioctl(fd_.get(), kGetSupportedCpuid, cpuid.data()) == 0) {
      return {cpuid.entries(), cpuid.entries() + cpuid.header()->count};
    }
    if (errno != E2BIG) throw_errno("KVM_GET_SUPPORTED_CPUID");
  }
  throw std::runtime_error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

KvmVm::KvmVm(const Kvm& kvm) {
  int fd;
  do {
    fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("KVM_CREATE_VM");
  fd_.reset(fd);
}

void KvmVm::setup_pc_platform() {
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, kTssAddress) != 0) throw_errno("KVM_SET_TSS_ADDR");
  uint64_t identity = kIdentityMapAddress;
  if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity) != 0) {
    throw_errno("KVM_SET_IDENTITY_MAP_ADDR");
  }
  if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) != 0) throw_errno("KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;  // KVM also answers port 0x61 (speaker/PIT gate)
  if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &pit) != 0) throw_errno("KVM_CREATE_PIT2");
}

void KvmVm::set_memory_region(uint32_t slot, uint64_t guest_address, uint64_t size, void* host) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = guest_address;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    throw_errno("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot));
  }
}

void KvmVm::set_irq_line(uint32_t irq, bool level) const {
  kvm_irq_level line{};
  line.irq = irq;
  line.level = level ? 1 : 0;
  if (::ioctl(fd_.get(), KVM_IRQ_LINE, &line) != 0) throw_errno("KVM_IRQ_LINE " + std::to_string(irq));
}

void KvmVm::ignore_port_writes(uint16_t port, uint8_t length, int eventfd) {
  kvm_ioeventfd ioeventfd{};
  ioeventfd.addr = port;
  ioeventfd.len = length;
  ioeventfd.fd = eventfd;
  ioeventfd.flags = KVM_IOEVENTFD_FLAG_PIO;
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &ioeventfd) != 0) {
    throw_errno("KVM_IOEVENTFD port " + std::to_string(port));
  }
}

KvmVcpu::KvmVcpu(const Kvm& kvm, const KvmVm& vm, unsigned index) : index_(index) {
  const int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, index);
  if (fd < 0) throw_errno("KVM_CREATE_VCPU " + std::to_string(index));
  fd_.reset(fd);
  run_ = MemoryMapping::shared_fd(fd_.get(), kvm.vcpu_mmap_size(), "kvm_run");
}

void KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  CountedArray<kvm_cpuid_entry2> cpuid(entries.size());
  std::memcpy(cpuid.entries(), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  if (::ioctl(fd_.get(), kSetCpuid2, cpuid.data()) != 0) throw_errno("KVM_SET_CPUID2");
}

kvm_regs KvmVcpu::get_regs() const {
  kvm_regs regs{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &regs) != 0) throw_errno("KVM_GET_REGS");
  return regs;
}

void KvmVcpu::set_regs(const kvm_regs& regs) {
  if (::ioctl(fd_.get(), KVM_SET_REGS, &regs) != 0) throw_errno("KVM_SET_REGS");
}

kvm_sregs KvmVcpu::get_sregs() const {
  kvm_sregs sregs{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &sregs) != 0) throw_errno("KVM_GET_SREGS");
  return sregs;
}

uint32_t KvmVcpu::get_mp_state() const {
  kvm_mp_state state{};
  if (::ioctl(fd_.get(), KVM_GET_MP_STATE, &state) != 0) throw_errno("KVM_GET_MP_STATE");
  return state.mp_state;
}

kvm_vcpu_events KvmVcpu::get_vcpu_events() const {
  kvm_vcpu_events events{};
  if (::ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &events) != 0) throw_errno("KVM_GET_VCPU_EVENTS");
  return events;
}

kvm_lapic_state KvmVcpu::get_lapic() const {
  kvm_lapic_state lapic{};
  if (::ioctl(fd_.get(), KVM_GET_LAPIC, &lapic) != 0) throw_errno("KVM_GET_LAPIC");
  return lapic;
}

std::optional<uint64_t> KvmVcpu::translate(uint64_t guest_virtual) const {
  kvm_translation translation{};
  translation.linear_address = guest_virtual;
  if (::ioctl(fd_.get(), KVM_TRANSLATE, &translation) != 0) throw_errno("KVM_TRANSLATE");
  if (!translation.valid) return std::nullopt;
  return translation.physical_address;
}

std::optional<uint64_t> KvmVcpu::get_msr(uint32_t index) const {
  CountedArray<kvm_msr_entry> list(1);
  list.entries()[0] = kvm_msr_entry{.index = index, .reserved = 0, .data = 0};
  const int got = ::ioctl(fd_.get(), kGetMsrs, list.data());
  if (got < 0) throw_errno("KVM_GET_MSRS");
  if (got != 1) return std::nullopt;
  return list.entries()[0].data;
}

void KvmVcpu::set_sregs(const kvm_sregs& sregs) {
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &sregs) != 0) throw_errno("KVM_SET_SREGS");
}

void KvmVcpu::set_fpu(const kvm_fpu& fpu) {
  if (::ioctl(fd_.get(), KVM_SET_FPU, &fpu) != 0) throw_errno("KVM_SET_FPU");
}

size_t KvmVcpu::set_msrs(const std::vector<kvm_msr_entry>& msrs) {
  CountedArray<kvm_msr_entry> list(msrs.size());
  std::memcpy(list.entries(), msrs.data(), msrs.size() * sizeof(kvm_msr_entry));
  const int set = ::ioctl(fd_.get(), kSetMsrs, list.data());
  if (set < 0) throw_errno("KVM_SET_MSRS");
  return static_cast<size_t>(set);
}

void KvmVcpu::setup_local_apic_lints() {
  constexpr size_t kLvtLint0 = 0x350;
  constexpr size_t kLvtLint1 = 0x360;
  constexpr uint32_t kDeliveryModeMask = 0x700;
  constexpr uint32_t kExtInt = 0x700;
  constexpr uint32_t kNmi = 0x400;
  kvm_lapic_state lapic{};
  if (::ioctl(fd_.get(), KVM_GET_LAPIC, &lapic) != 0) throw_errno("KVM_GET_LAPIC");
  auto update = [&](size_t offset, uint32_t mode) {
    uint32_t value;
    std::memcpy(&value, lapic.regs + offset, 4);
    value = (value & ~kDeliveryModeMask) | mode;
    std::memcpy(lapic.regs + offset, &value, 4);
  };
  update(kLvtLint0, kExtInt);
  update(kLvtLint1, kNmi);
  if (::ioctl(fd_.get(), KVM_SET_LAPIC, &lapic) != 0) throw_errno("KVM_SET_LAPIC");
}

bool KvmVcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) return false;
  throw_errno("KVM_RUN on vCPU " + std::to_string(index_));
}

}  // namespace vmm
