#include "vmm/file_contents.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "vmm/system_error.h"

namespace vmm {

InputFile::InputFile(const std::string& path) : path_(path) {
  fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.valid()) throw_errno(path);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) throw_errno(path);
  size_ = static_cast<uint64_t>(st.st_size);
}

void InputFile::read_into(std::span<uint8_t> out) const {
  if (out.size() != size_) throw std::logic_error(path_ + ": read_into needs exactly the file's size");
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(path_);
    if (n == 0) {
      throw std::runtime_error(path_ + ": file shrank while being read (" + std::to_string(done) + " of " +
                               std::to_string(size_) + " bytes)");
    }
    done += static_cast<size_t>(n);
  }
}

std::vector<uint8_t> read_file(const std::string& path) {
  const InputFile file(path);
  std::vector<uint8_t> data(static_cast<size_t>(file.size()));
  file.read_into(data);
  return data;
}

}  // namespace vmm
