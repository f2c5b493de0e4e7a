#pragma once
// Disks for the fuzzers: real block::Backends whose driver is wrapped in a CheckingDriver.
// Either the null driver (fast, completes through its eventfd like any driver) or the
// thread-pool driver on a temp image file (real preadv/pwritev into guest RAM).
#include <cstdint>
#include <memory>
#include <string>

#include "block/backend.h"
#include "block/zoned/zoned_backend.h"
#include "vmm/guest_memory.h"

namespace kvmm::fuzz {

// A sparse image file in a fresh temp directory, removed with the object.
class TempImage {
 public:
  explicit TempImage(uint64_t size);
  ~TempImage();
  TempImage(const TempImage&) = delete;
  TempImage& operator=(const TempImage&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// `fail_mask`: requests to fail with EIO (see CheckingDriver).
std::unique_ptr<block::Backend> null_backend(const vmm::GuestMemory& memory, uint64_t size,
                                             block::BackendPolicy policy, uint64_t fail_mask = 0,
                                             uint32_t physical_block_size = 512);
std::unique_ptr<block::Backend> file_backend(const vmm::GuestMemory& memory, const TempImage& image,
                                             block::BackendPolicy policy, uint64_t fail_mask = 0);
// A zoned drive over a null backend; zone state in memory only (no sidecar file).
std::unique_ptr<block::zoned::ZonedBackend> zoned_null_backend(const vmm::GuestMemory& memory,
                                                               uint64_t size,
                                                               const block::ZonedOptions& options,
                                                               uint64_t fail_mask = 0);

// Waits up to `ms` for `fd` to become readable; true if it is.
bool wait_readable(int fd, int ms);

}  // namespace kvmm::fuzz
