// kvm_probe: checks that /dev/kvm can run guest code.
//
// Opens /dev/kvm, prints the KVM API version and whether the host KVM is hardware (kvm_intel /
// kvm_amd) or something else (e.g. kvm_pvm), then creates a VM with one vCPU that runs a few
// bytes of 16-bit real-mode code. The guest writes a string to an I/O port one byte at a time and
// halts; the probe collects the bytes from the PIO exits and prints them.
// Exit status: 0 when the guest's string arrived intact, 1 otherwise.

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

namespace {

constexpr std::string_view kMessage = "KVM probe: hello from real mode";
constexpr uint16_t kPort = 0x10;
constexpr uint64_t kGuestMemSize = 0x10000;  // 64 KiB at guest physical 0
constexpr uint16_t kCodeAddr = 0x1000;

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

// Owns an mmap()ed region.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, MAP_FAILED)), len_(std::exchange(o.len_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      Reset();
      addr_ = std::exchange(o.addr_, MAP_FAILED);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  ~Mapping() { Reset(); }
  bool valid() const { return addr_ != MAP_FAILED; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(addr_);
  }

  static Mapping Map(size_t len, int prot, int flags, int fd) {
    return Mapping(::mmap(nullptr, len, prot, flags, fd, 0), len);
  }

 private:
  void Reset() {
    if (addr_ != MAP_FAILED) ::munmap(addr_, len_);
    addr_ = MAP_FAILED;
    len_ = 0;
  }
  void* addr_ = MAP_FAILED;
  size_t len_ = 0;
};

int Fail(const char* what) {
  std::fprintf(stderr, "kvm_probe: %s: %s\n", what, std::strerror(errno));
  return 1;
}

// The loaded KVM module, by the same rule as tests/testhost/run.
std::pair<std::string, bool> KvmFlavor() {
  for (const char* m : {"kvm_intel", "kvm_amd"}) {
    if (std::filesystem::exists(std::string("/sys/module/") + m)) return {m, true};
  }
  if (std::filesystem::exists("/sys/module/kvm_pvm")) return {"kvm_pvm", false};
  return {"unknown", false};
}

// Real-mode program: DS:SI -> message, DX = port; out each byte until NUL; hlt.
std::string GuestCode() {
  const uint16_t msg = kCodeAddr + 15;  // the message follows the 15 bytes of code
  std::string code = {
      '\xBE', static_cast<char>(msg & 0xff), static_cast<char>(msg >> 8),     // mov si, msg
      '\xBA', static_cast<char>(kPort & 0xff), static_cast<char>(kPort >> 8),  // mov dx, port
      '\xAC',                                                                // next: lodsb
      '\x84', '\xC0',                                                        // test al, al
      '\x74', '\x03',                                                        // jz done
      '\xEE',                                                                // out dx, al
      '\xEB', '\xF8',                                                        // jmp next
      '\xF4',                                                                // done: hlt
  };
  code.append(kMessage);
  code.push_back('\0');
  return code;
}

}  // namespace

int main() {
  auto [module, hardware] = KvmFlavor();
  std::printf("kvm_probe: host KVM module: %s (%s)\n", module.c_str(),
              hardware ? "hardware virtualization" : "not hardware KVM");

  Fd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) return Fail("open /dev/kvm");
  int api = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (api < 0) return Fail("KVM_GET_API_VERSION");
  std::printf("kvm_probe: API version %d\n", api);
  if (api != KVM_API_VERSION) {
    std::fprintf(stderr, "kvm_probe: expected API version %d\n", KVM_API_VERSION);
    return 1;
  }

  Fd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm.valid()) return Fail("KVM_CREATE_VM");

  Mapping mem = Mapping::Map(kGuestMemSize, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
  if (!mem.valid()) return Fail("mmap guest memory");
  const std::string code = GuestCode();
  std::memcpy(mem.as<char>() + kCodeAddr, code.data(), code.size());

  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kGuestMemSize;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem.as<void>());
  if (::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return Fail("KVM_SET_USER_MEMORY_REGION");
  }

  Fd vcpu(::ioctl(vm.get(), KVM_CREATE_VCPU, 0));
  if (!vcpu.valid()) return Fail("KVM_CREATE_VCPU");
  int run_size = ::ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return Fail("KVM_GET_VCPU_MMAP_SIZE");
  Mapping run_map = Mapping::Map(static_cast<size_t>(run_size), PROT_READ | PROT_WRITE,
                                 MAP_SHARED, vcpu.get());
  if (!run_map.valid()) return Fail("mmap kvm_run");
  auto* run = run_map.as<kvm_run>();

  kvm_sregs sregs{};
  if (::ioctl(vcpu.get(), KVM_GET_SREGS, &sregs) < 0) return Fail("KVM_GET_SREGS");
  for (kvm_segment* s : {&sregs.cs, &sregs.ds, &sregs.es, &sregs.ss}) {
    s->base = 0;
    s->selector = 0;
  }
  if (::ioctl(vcpu.get(), KVM_SET_SREGS, &sregs) < 0) return Fail("KVM_SET_SREGS");
  kvm_regs regs{};
  regs.rip = kCodeAddr;
  regs.rsp = 0x8000;
  regs.rflags = 0x2;  // bit 1 is reserved and must be set
  if (::ioctl(vcpu.get(), KVM_SET_REGS, &regs) < 0) return Fail("KVM_SET_REGS");

  std::string received;
  for (int exits = 0; exits < 1000; ++exits) {
    if (::ioctl(vcpu.get(), KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      return Fail("KVM_RUN");
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO:
        if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == kPort) {
          const char* data = reinterpret_cast<const char*>(run) + run->io.data_offset;
          received.append(data, static_cast<size_t>(run->io.size) * run->io.count);
        } else {
          std::fprintf(stderr, "kvm_probe: unexpected I/O on port 0x%x\n", run->io.port);
          return 1;
        }
        break;
      case KVM_EXIT_HLT:
        std::printf("kvm_probe: guest says: %s\n", received.c_str());
        if (received != kMessage) {
          std::fprintf(stderr, "kvm_probe: FAIL: expected \"%.*s\"\n",
                       static_cast<int>(kMessage.size()), kMessage.data());
          return 1;
        }
        std::printf("kvm_probe: OK (%zu PIO exits)\n", received.size());
        return 0;
      case KVM_EXIT_INTERNAL_ERROR:
        std::fprintf(stderr, "kvm_probe: KVM internal error, suberror %u\n",
                     run->internal.suberror);
        return 1;
      default:
        std::fprintf(stderr, "kvm_probe: unexpected exit reason %u\n", run->exit_reason);
        return 1;
    }
  }
  std::fprintf(stderr, "kvm_probe: guest did not halt\n");
  return 1;
}
