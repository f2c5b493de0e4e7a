// Owning wrapper for an mmap()ed range: munmaps on destruction.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace vmm {

class MemoryMapping {
 public:
  MemoryMapping() = default;
  MemoryMapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  MemoryMapping(const MemoryMapping&) = delete;
  MemoryMapping& operator=(const MemoryMapping&) = delete;
  MemoryMapping(MemoryMapping&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  MemoryMapping& operator=(MemoryMapping&& other) noexcept {
    if (this != &other) {
      release();
      addr_ = std::exchange(other.addr_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~MemoryMapping() { release(); }

  // Anonymous private read-write memory (guest RAM). Throws on failure.
  static MemoryMapping anonymous(size_t size);
  // Shared mapping of `fd` (the vCPU's kvm_run page). Throws on failure.
  static MemoryMapping shared_fd(int fd, size_t size, const char* what);

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }

 private:
  void release() {
    if (addr_ != nullptr) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace vmm
