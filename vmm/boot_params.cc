#include "vmm/boot_params.h"

#include <cstring>
#include <stdexcept>

namespace vmm {
namespace {

template <typename T>
void put(ZeroPage& page, size_t offset, T value) {
  std::memcpy(page.data() + offset, &value, sizeof(T));
}

}  // namespace

ZeroPage build_boot_params(const BootParamsInput& input) {
  namespace h = setup_header;
  namespace z = zero_page;
  if (input.image == nullptr) throw std::invalid_argument("boot_params: no kernel image");
  if (input.e820.size() > z::kE820MaxEntries) throw std::invalid_argument("boot_params: e820 too long");
  ZeroPage page{};
  // The setup header is copied from the image, then the loader-owned fields are filled in.
  std::memcpy(page.data() + h::kStart, input.image->setup_header.data(),
              input.image->setup_header.size());
  page[h::kTypeOfLoader] = 0xff;  // "undefined" boot loader
  page[h::kLoadFlags] = static_cast<uint8_t>(input.image->loadflags | h::kCanUseHeap);
  put<uint16_t>(page, h::kHeapEndPtr, 0xfe00);
  put<uint32_t>(page, h::kCmdLinePtr, static_cast<uint32_t>(input.cmdline_address));
  put<uint32_t>(page, z::kExtCmdLinePtr, static_cast<uint32_t>(input.cmdline_address >> 32));
  put<uint32_t>(page, h::kRamdiskImage, static_cast<uint32_t>(input.initrd_address));
  put<uint32_t>(page, z::kExtRamdiskImage, static_cast<uint32_t>(input.initrd_address >> 32));
  put<uint32_t>(page, h::kRamdiskSize, static_cast<uint32_t>(input.initrd_size));
  put<uint32_t>(page, z::kExtRamdiskSize, static_cast<uint32_t>(input.initrd_size >> 32));
  if (input.acpi_rsdp_address) put<uint64_t>(page, z::kAcpiRsdpAddr, *input.acpi_rsdp_address);

  page[z::kE820Entries] = static_cast<uint8_t>(input.e820.size());
  for (size_t i = 0; i < input.e820.size(); ++i) {
    const size_t at = z::kE820Table + i * z::kE820EntrySize;
    put<uint64_t>(page, at, input.e820[i].address);
    put<uint64_t>(page, at + 8, input.e820[i].size);
    put<uint32_t>(page, at + 16, static_cast<uint32_t>(input.e820[i].type));
  }
  return page;
}

}  // namespace vmm
