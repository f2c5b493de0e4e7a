#include "tests/fuzz/fuzz_disks.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "block/null_driver.h"
#include "block/threadpool_driver.h"
#include "block/unique_fd.h"
#include "tests/fuzz/checking_driver.h"

namespace kvmm::fuzz {

TempImage::TempImage(uint64_t size) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base != nullptr ? base : "/tmp") + "/kvmm-fuzz.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("fuzz: mkdtemp failed");
  dir_ = templ;
  path_ = dir_ + "/disk.img";
  block::UniqueFd fd(::open(path_.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    throw std::runtime_error("fuzz: cannot create " + path_);
  }
}

TempImage::~TempImage() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::unique_ptr<block::Backend> null_backend(const vmm::GuestMemory& memory, uint64_t size,
                                             block::BackendPolicy policy, uint64_t fail_mask,
                                             uint32_t physical_block_size) {
  auto driver = std::make_unique<CheckingDriver>(memory, std::make_unique<block::NullDriver>(), fail_mask);
  return std::make_unique<block::Backend>(std::move(driver), policy, size, physical_block_size);
}

std::unique_ptr<block::Backend> file_backend(const vmm::GuestMemory& memory, const TempImage& image,
                                             block::BackendPolicy policy, uint64_t fail_mask) {
  block::ImageFile file = block::ImageFile::open(image.path(), policy.read_only, false);
  block::detail::IoContext ctx{file.direct(), file.dio_alignment()};
  block::ThreadPoolDriver::Options options;
  options.threads = 2;
  options.bounce_slots = 2;
  auto inner = std::make_unique<block::ThreadPoolDriver>(file.fd(), ctx, options);
  auto driver = std::make_unique<CheckingDriver>(memory, std::move(inner), fail_mask);
  return std::make_unique<block::Backend>(std::move(file), std::move(driver), policy);
}

std::unique_ptr<block::zoned::ZonedBackend> zoned_null_backend(const vmm::GuestMemory& memory,
                                                               uint64_t size,
                                                               const block::ZonedOptions& options,
                                                               uint64_t fail_mask) {
  return std::make_unique<block::zoned::ZonedBackend>(null_backend(memory, size, {}, fail_mask), options, "",
                                                      "fuzz.img");
}

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

}  // namespace kvmm::fuzz
