// Reads a whole file into memory; errors name the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmm {

// Throws std::system_error "PATH: reason".
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace vmm
