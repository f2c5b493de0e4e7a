// Reading input files (kernel, initrd); errors name the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmm/unique_fd.h"

namespace vmm {

// Throws std::system_error "PATH: reason".
std::vector<uint8_t> read_file(const std::string& path);

// A file opened for reading with its size known up front, so its bytes can go straight to
// their destination (the initrd into guest RAM: no 100+ MiB heap copy first).
class InputFile {
 public:
  explicit InputFile(const std::string& path);  // throws std::system_error "PATH: reason"
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Copies the whole file into `out` (out.size() == size()); throws if it cannot, including
  // when the file shrank since it was opened.
  void read_into(std::span<uint8_t> out) const;

 private:
  std::string path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

}  // namespace vmm
