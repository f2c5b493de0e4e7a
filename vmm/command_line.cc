#include "vmm/command_line.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>

#include "block/error.h"

namespace vmm {
namespace {

constexpr uint64_t kMaxMemory = 1ull << 40;  // 1 TiB: anything larger is surely a typo
constexpr unsigned kMaxVcpus = 64;           // bounded by the MP table's CPU entries
constexpr uint64_t kMaxPollNs = 1000000;     // a longer busy-poll only burns a host CPU

uint64_t parse_unsigned(const std::string& text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) {
    throw std::invalid_argument("not a number");
  }
  size_t used = 0;
  uint64_t value = std::stoull(text, &used, 10);
  if (used != text.size()) throw std::invalid_argument("not a number");
  return value;
}

// Checks that `path` can be opened for reading; the message names the flag and the file.
void require_readable(const std::string& flag, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw UsageError(flag + ": " + path + ": " + std::strerror(errno));
  ::close(fd);
}

SerialConfig parse_serial(const std::string& value) {
  if (value == "stdio") return {SerialConfig::Kind::kStdio, {}};
  if (value == "none" || value == "null") return {SerialConfig::Kind::kNone, {}};
  if (value.rfind("file:", 0) == 0 && value.size() > 5) {
    return {SerialConfig::Kind::kFile, value.substr(5)};
  }
  throw UsageError("-serial: '" + value + "': expected stdio, file:PATH or none");
}

}  // namespace

uint64_t parse_memory_size(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 15) throw std::invalid_argument("not a size");
  const uint64_t number = std::stoull(text.substr(0, digits));
  std::string suffix = text.substr(digits);
  for (char& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::map<std::string, unsigned> kShift = {
      {"", 20},  {"K", 10},  {"KB", 10}, {"KIB", 10}, {"M", 20}, {"MB", 20}, {"MIB", 20},
      {"G", 30}, {"GB", 30}, {"GIB", 30}, {"T", 40}, {"TB", 40}, {"TIB", 40}};
  auto it = kShift.find(suffix);
  if (it == kShift.end()) throw std::invalid_argument("unknown size suffix '" + suffix + "'");
  if (number > (kMaxMemory >> it->second)) throw std::invalid_argument("size too large");
  return number << it->second;
}

Options parse_command_line(const std::vector<std::string>& args) {
  Options options;
  // Each flag that takes a value gets a handler; the value is args[i + 1].
  const std::map<std::string, std::function<void(const std::string&)>> with_value = {
      {"-m",
       [&](const std::string& v) {
         try {
           options.memory_bytes = parse_memory_size(v);
         } catch (const std::exception& e) {
           throw UsageError("-m: '" + v + "': " + e.what() + " (e.g. 512M, 2G)");
         }
         if (options.memory_bytes < (32ull << 20)) {
           throw UsageError("-m: '" + v + "': at least 32M of guest memory is needed");
         }
       }},
      {"-smp",
       [&](const std::string& v) {
         // QEMU also accepts "cpus=N"; the plain count is what we need.
         std::string count = v.rfind("cpus=", 0) == 0 ? v.substr(5) : v;
         uint64_t n = 0;
         try {
           n = parse_unsigned(count);
         } catch (const std::exception&) {
           throw UsageError("-smp: '" + v + "': not a number");
         }
         if (n < 1 || n > kMaxVcpus) {
           throw UsageError("-smp: '" + v + "': must be between 1 and " + std::to_string(kMaxVcpus));
         }
         options.vcpus = static_cast<unsigned>(n);
       }},
      {"-kernel",
       [&](const std::string& v) {
         require_readable("-kernel", v);
         options.kernel_path = v;
       }},
      {"-initrd",
       [&](const std::string& v) {
         require_readable("-initrd", v);
         options.initrd_path = v;
       }},
      {"-append", [&](const std::string& v) { options.append = v; }},
      {"-iothread-poll-max-ns",
       [&](const std::string& v) {
         uint64_t n = 0;
         try {
           n = parse_unsigned(v);
         } catch (const std::exception&) {
           throw UsageError("-iothread-poll-max-ns: '" + v + "': not a number (0 turns polling off)");
         }
         if (n > kMaxPollNs) {
           throw UsageError("-iothread-poll-max-ns: '" + v + "': at most " + std::to_string(kMaxPollNs) +
                            " (1 ms)");
         }
         options.iothread_poll_max_ns = n;
       }},
      {"-serial", [&](const std::string& v) { options.serial = parse_serial(v); }},
      {"-drive",
       [&](const std::string& v) {
         try {
           options.drives.push_back(block::parse_drive_options(v));
         } catch (const block::BlockError& e) {
           // The block layer's messages already start with "vmm: -drive: ...".
           std::string message = e.what();
           if (message.rfind("vmm: ", 0) == 0) message.erase(0, 5);
           throw UsageError(message);
         }
         const block::DriveOptions& d = options.drives.back();
         if (d.zoned.enabled && d.interface != block::DriveInterface::kVirtio) {
           throw UsageError("-drive file=" + d.file + ": zoned=on needs if=virtio");
         }
       }},
  };

  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    // QEMU accepts --flag as well as -flag.
    if (flag.rfind("--", 0) == 0 && flag.size() > 2) flag = flag.substr(1);
    if (flag == "-h" || flag == "-help") {
      options.show_help = true;
      return options;
    }
    if (flag == "-nographic") continue;  // we never have graphics
    if (flag == "-no-acpi") {
      options.acpi = false;
      continue;
    }
    auto handler = with_value.find(flag);
    if (handler == with_value.end()) {
      throw UsageError(args[i] + ": unknown option (try --help)");
    }
    if (i + 1 >= args.size()) throw UsageError(flag + ": missing value");
    handler->second(args[++i]);
  }
  if (options.kernel_path.empty()) throw UsageError("-kernel: no kernel given (try --help)");
  size_t ahci = 0, ide = 0;
  for (const block::DriveOptions& d : options.drives) {
    if (d.interface == block::DriveInterface::kAhci) ++ahci;
    if (d.interface == block::DriveInterface::kIde) ++ide;
  }
  if (ahci > 6) throw UsageError("-drive: at most 6 drives with if=ahci (one controller, 6 ports)");
  if (ide > 4) throw UsageError("-drive: at most 4 drives with if=ide (primary/secondary master/slave)");
  return options;
}

std::string usage_text() {
  return "usage: vmm -kernel BZIMAGE [options]\n"
         "  -m SIZE               guest memory (default 512M; suffix K/M/G, bare number = MiB)\n"
         "  -smp N                number of vCPUs (default 1)\n"
         "  -kernel PATH          Linux bzImage to boot\n"
         "  -initrd PATH          initial ramdisk\n"
         "  -append STRING        kernel command line\n"
         "  -serial stdio|file:PATH|none   where COM1 goes (default stdio)\n"
         "  -nographic            accepted for QEMU compatibility (no effect)\n"
         "  -no-acpi              no ACPI tables (the guest uses the MP table)\n"
         "  -iothread-poll-max-ns N  busy-poll virtio-blk queues and completions for up to N ns\n"
         "                        before the I/O thread sleeps (adaptive, like QEMU's iothread\n"
         "                        poll-max-ns, e.g. 32768; default 0 = off)\n"
         "  -drive file=PATH[,if=virtio|ide|ahci][,format=raw]\n"
         "         [,cache=writeback|none|writethrough|unsafe|directsync][,aio=io_uring|threads]\n"
         "         [,readonly=on][,discard=unmap][,serial=STR][,num-queues=N]\n"
         "         [,zoned=on[,zone_size=...,zone_capacity=...,conventional_zones=N,\n"
         "          max_open_zones=N,max_active_zones=N]]\n"
         "                        a disk (repeatable): virtio-blk-pci (default), an AHCI port\n"
         "                        (up to 6) or a PIIX IDE position (up to 4, primary master\n"
         "                        first); zoned=on = host-managed zoned virtio-blk\n"
         "  -h, --help            this text\n"
         "Guest I/O port 0xf4 (1-byte write V) exits with status V; reset exits with 0.\n";
}

}  // namespace vmm
