#pragma once
// Heap allocation counts of the whole process, from the replaced global operator new/delete in
// alloc_counter.cc (linked into the benchmark binaries only, never into the VMM). Benchmarks
// read them before and after their timed loop to report allocations per request.
#include <cstdint>

namespace bench {

// operator new / new[] calls so far (every form, every thread).
uint64_t allocations();
// operator delete / delete[] calls with a non-null pointer so far.
uint64_t deallocations();

}  // namespace bench
