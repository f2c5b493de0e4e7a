// The VMM core uses the block layer's file-descriptor owner: one RAII fd type in the project.
#pragma once

#include "block/unique_fd.h"

namespace vmm {

using block::UniqueFd;

}  // namespace vmm
