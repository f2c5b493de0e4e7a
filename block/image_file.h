#pragma once
// An open disk image: the fd with the flags the cache mode asks for, an OFD lock so two VMMs
// cannot write one image, its size and O_DIRECT alignment. Opening never modifies the file.
#include <cstdint>
#include <string>
#include <string_view>

#include "block/alignment.h"
#include "block/unique_fd.h"

namespace block {

class ImageFile {
 public:
  // Throws BlockError: "vmm: -drive file=PATH: <reason>". `cache_name` only feeds the
  // message when O_DIRECT is refused.
  static ImageFile open(const std::string& path, bool read_only, bool direct,
                        std::string_view cache_name = "none");

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  bool direct() const { return direct_; }
  bool is_block_device() const { return block_device_; }
  // O_DIRECT constraints (1/1 when not direct).
  DioAlignment dio_alignment() const { return dio_; }
  // Physical block size hint for the guest (512 or 4096).
  uint32_t physical_block_size() const { return physical_block_size_; }

 private:
  ImageFile() = default;

  UniqueFd fd_;
  std::string path_;
  uint64_t size_ = 0;
  bool read_only_ = false;
  bool direct_ = false;
  bool block_device_ = false;
  DioAlignment dio_;
  uint32_t physical_block_size_ = 512;
};

}  // namespace block
