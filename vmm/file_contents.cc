#include "vmm/file_contents.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/system_error.h"
#include "vmm/unique_fd.h"

namespace vmm {

std::vector<uint8_t> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno(path);
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(path);
    if (n == 0) break;  // file shrank under us
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace vmm
