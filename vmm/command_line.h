// The VMM's command line, spelled like QEMU's (-m, -smp, -kernel, -initrd, -append, -serial).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "block/drive_options.h"

namespace vmm {

// A bad flag, value or file. what() is the complete one-line message without the "vmm: " prefix,
// e.g. "-kernel: /x: No such file or directory".
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SerialConfig {
  enum class Kind { kStdio, kFile, kNone };
  Kind kind = Kind::kStdio;
  std::string path;  // for kFile
};

struct Options {
  uint64_t memory_bytes = 512ull << 20;
  unsigned vcpus = 1;
  std::string kernel_path;
  std::optional<std::string> initrd_path;
  std::string append;
  SerialConfig serial;
  bool acpi = true;  // -no-acpi: MP table only
  // -iothread-poll-max-ns: how long the I/O thread may busy-poll the virtio-blk queues and
  // their disks' completions before it sleeps (QEMU's iothread poll-max-ns). Off by default:
  // measured in the test host, polling took CPU time from the guest (docs/benchmarks.md).
  uint64_t iothread_poll_max_ns = 0;
  std::vector<block::DriveOptions> drives;  // -drive, in command-line order
  bool show_help = false;
};

// Parses a QEMU-style size: a bare number means MiB; suffixes K, M, G, T (case-insensitive,
// optional trailing 'B' or "iB"). Throws std::invalid_argument on anything else.
uint64_t parse_memory_size(const std::string& text);

// Parses argv[1..]. Throws UsageError. Files named by -kernel/-initrd are checked for
// readability here so that the error names the flag.
Options parse_command_line(const std::vector<std::string>& args);

std::string usage_text();

}  // namespace vmm
