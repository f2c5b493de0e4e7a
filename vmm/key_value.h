// QEMU-style option strings: "file=disk.img,if=virtio,cache=none".
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vmm {

struct KeyValue {
  std::string key;
  std::string value;
  bool operator==(const KeyValue&) const = default;
};

// Splits `text` at commas into key=value pairs. As in QEMU, ",," stands for a literal comma
// inside a value. A first element without '=' is given the key `implied_key` when that is
// non-empty (so "-serial file:x" style or "-drive disk.img" could be supported); otherwise it is
// an error. Throws std::invalid_argument naming the offending element.
std::vector<KeyValue> split_key_values(std::string_view text, std::string_view implied_key = {});

}  // namespace vmm
