#include "block/image_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "block/error.h"

namespace block {
namespace {

// We lock one byte far beyond any real image size: OFD locks do not need the byte to exist,
// and a distinct range keeps us from interfering with other tools' lock layouts.
constexpr off_t kLockOffset = 0x7fff'ffff'0000'0000;

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw BlockError("vmm: -drive file=" + path + ": " + reason);
}

std::string errno_text(int err) { return std::strerror(err); }

// Writers take an exclusive lock, read-only users a shared one: any number of readers, or a
// single writer. F_OFD_SETLK locks belong to the open file description, so they also conflict
// within one process and vanish with the last fd.
void lock_image(int fd, const std::string& path, bool read_only) {
  struct flock lk {};
  lk.l_type = read_only ? F_RDLCK : F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = kLockOffset;
  lk.l_len = 1;
  if (::fcntl(fd, F_OFD_SETLK, &lk) == 0) return;
  int err = errno;
  if (err == EAGAIN || err == EACCES) fail(path, "image is locked by another process");
  fail(path, "cannot lock image: " + errno_text(err));
}

DioAlignment probe_dio_alignment(int fd, bool block_device) {
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) &&
      stx.stx_dio_offset_align != 0) {
    return {stx.stx_dio_mem_align == 0 ? stx.stx_dio_offset_align : stx.stx_dio_mem_align,
            stx.stx_dio_offset_align};
  }
  if (block_device) {
    int sector = 0;
    if (::ioctl(fd, BLKSSZGET, &sector) == 0 && sector > 0) {
      return {static_cast<uint32_t>(sector), static_cast<uint32_t>(sector)};
    }
  }
  // Older kernels / filesystems: try a 512-byte direct read; EINVAL means 4K is required.
  constexpr size_t kProbe = 4096;
  std::unique_ptr<void, decltype(&std::free)> buffer(std::aligned_alloc(kProbe, kProbe), &std::free);
  if (buffer != nullptr && ::pread(fd, buffer.get(), 512, 0) >= 0) return {512, 512};
  return {kProbe, kProbe};
}

}  // namespace

ImageFile ImageFile::open(const std::string& path, bool read_only, bool direct,
                          std::string_view cache_name) {
  ImageFile image;
  image.path_ = path;
  image.read_only_ = read_only;
  image.direct_ = direct;

  int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
  image.fd_.reset(::open(path.c_str(), flags));
  if (!image.fd_.valid()) {
    int err = errno;
    if (err == EINVAL && direct) {
      fail(path, "cache=" + std::string(cache_name) +
                     " needs O_DIRECT, which this file system does not support "
                     "(use cache=writeback or cache=writethrough)");
    }
    if (err == EISDIR) fail(path, "is a directory, not a disk image");
    if ((err == EACCES || err == EROFS) && !read_only) {
      fail(path, "cannot open for writing: " + errno_text(err) + " (use readonly=on?)");
    }
    fail(path, "cannot open: " + errno_text(err));
  }
  int fd = image.fd_.get();

  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, "fstat: " + errno_text(errno));
  if (S_ISREG(st.st_mode)) {
    image.size_ = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    image.block_device_ = true;
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) fail(path, "BLKGETSIZE64: " + errno_text(errno));
    image.size_ = bytes;
  } else {
    fail(path, "not a regular file or block device");
  }

  lock_image(fd, path, read_only);

  if (direct) {
    image.dio_ = probe_dio_alignment(fd, image.block_device_);
    if (image.dio_.offset > 512) image.physical_block_size_ = 4096;
  }
  if (image.block_device_) {
    unsigned int physical = 0;
    if (::ioctl(fd, BLKPBSZGET, &physical) == 0 && physical >= 512 && physical <= 65536) {
      image.physical_block_size_ = physical;
    }
  }
  return image;
}

}  // namespace block
