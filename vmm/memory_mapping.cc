#include "vmm/memory_mapping.h"

#include <cstdint>
#include <string>

#include "vmm/system_error.h"

namespace vmm {

MemoryMapping MemoryMapping::anonymous(size_t size) {
  // Guest RAM is backed by transparent huge pages where the host allows it: every 4 KiB page
  // would otherwise cost its own nested-paging fault, which is very slow under nested KVM. THP
  // needs 2 MiB alignment, so reserve one extra huge page and trim both ends.
  constexpr size_t kHugePage = 2 << 20;
  const size_t reserve = size + kHugePage;
  // MAP_NORESERVE: guest RAM is touched lazily; a 4 GiB guest need not be backed up front.
  void* p = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap guest RAM (" + std::to_string(size >> 20) + " MiB)");
  const auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  if (aligned > start) ::munmap(p, aligned - start);
  const uintptr_t end = aligned + size;
  if (start + reserve > end) ::munmap(reinterpret_cast<void*>(end), start + reserve - end);
  // Advice only: without THP support the mapping still works with small pages.
  ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return MemoryMapping(reinterpret_cast<void*>(aligned), size);
}

MemoryMapping MemoryMapping::shared_fd(int fd, size_t size, const char* what) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_errno(std::string("mmap ") + what);
  return MemoryMapping(p, size);
}

}  // namespace vmm
