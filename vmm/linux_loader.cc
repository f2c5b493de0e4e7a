#include "vmm/linux_loader.h"

#include <algorithm>
#include <stdexcept>

#include "vmm/boot_params.h"
#include "vmm/e820.h"
#include "vmm/memory_layout.h"

namespace vmm {

uint64_t place_initrd(uint64_t low_ram_end, uint32_t initrd_addr_max, uint64_t kernel_end,
                      uint64_t size) {
  // initrd_addr_max is the highest address the initrd's last byte may occupy.
  const uint64_t limit = std::min<uint64_t>(low_ram_end, uint64_t{initrd_addr_max} + 1);
  if (size > limit || ((limit - size) & ~0xFFFull) < kernel_end) {
    throw std::runtime_error("initrd (" + std::to_string(size >> 10) +
                             " KiB) does not fit in guest memory below the kernel's limit; "
                             "try a larger -m");
  }
  return (limit - size) & ~0xFFFull;
}

InitrdImage InitrdImage::from_bytes(std::span<const uint8_t> bytes) {
  return {bytes.size(), [bytes](std::span<uint8_t> out) { std::copy(bytes.begin(), bytes.end(), out.begin()); }};
}

InitrdImage InitrdImage::from_file(const InputFile& file) {
  return {file.size(), [&file](std::span<uint8_t> out) { file.read_into(out); }};
}

LinuxBootInfo load_linux(const GuestMemory& memory, std::span<const uint8_t> bzimage,
                         const InitrdImage& initrd, const std::string& cmdline,
                         std::optional<uint64_t> acpi_rsdp) {
  const BzImage image = parse_bzimage(bzimage);

  // The decompressor needs init_size bytes from the load address.
  const uint64_t kernel_end =
      layout::kHighMemory + std::max<uint64_t>(image.kernel.size(), image.init_size);
  if (kernel_end > memory.low_ram_end()) {
    throw std::runtime_error("kernel needs " + std::to_string(kernel_end >> 20) +
                             " MiB of guest memory; try a larger -m");
  }
  memory.write(layout::kHighMemory, image.kernel);

  const uint64_t cmdline_limit = std::min<uint64_t>(
      layout::kCommandLineMax, image.cmdline_size == 0 ? 255 : image.cmdline_size);
  if (cmdline.size() > cmdline_limit) {
    throw std::runtime_error("-append: command line is " + std::to_string(cmdline.size()) +
                             " bytes, the kernel accepts at most " + std::to_string(cmdline_limit));
  }
  auto cmdline_area = memory.span(layout::kCommandLine, cmdline.size() + 1);
  std::copy(cmdline.begin(), cmdline.end(), cmdline_area.begin());
  cmdline_area.back() = 0;

  BootParamsInput params;
  params.image = &image;
  std::vector<RamRegion> regions;
  for (const auto& slot : memory.slots()) regions.push_back(slot.region);
  params.e820 = build_e820_map(regions);
  params.cmdline_address = layout::kCommandLine;
  params.cmdline_size = static_cast<uint32_t>(cmdline.size());
  if (initrd.size != 0) {
    params.initrd_address =
        place_initrd(memory.low_ram_end(), image.initrd_addr_max, kernel_end, initrd.size);
    params.initrd_size = initrd.size;
    initrd.fill(memory.span(params.initrd_address, initrd.size));
  }
  params.acpi_rsdp_address = acpi_rsdp;
  const ZeroPage page = build_boot_params(params);
  memory.write(layout::kZeroPage, page);
  return {layout::kHighMemory + 0x200, layout::kZeroPage};
}

}  // namespace vmm
