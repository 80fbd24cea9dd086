//===- MemoryPlanner.h - Liveness-based arena offsets -----------*- C++ -*-===//
//
// Places the activations of one entry point in a single arena. Two buffers
// may share bytes only when their live ranges (first write to last read, in
// launch order) do not overlap. Plain C++ so it can be tested in isolation.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_MEMORYPLANNER_H
#define LLAMAC_CODEGEN_MEMORYPLANNER_H

#include <cstdint>
#include <vector>

namespace llamac::codegen {

/// Offsets are multiples of this, so every buffer suits 512-bit vectors and
/// starts on its own cache line.
inline constexpr uint64_t kArenaAlignment = 64;

struct LiveRange {
  uint64_t bytes = 0;
  /// Launch index that writes the buffer first.
  int64_t first = 0;
  /// Launch index that reads it last (inclusive).
  int64_t last = 0;
};

struct ArenaPlan {
  /// One per LiveRange, in the same order.
  std::vector<uint64_t> offsets;
  uint64_t arenaBytes = 0;
};

/// Greedy best-fit: buffers are placed largest first, each at the lowest
/// aligned offset that overlaps no already-placed buffer with an overlapping
/// live range.
ArenaPlan planArena(const std::vector<LiveRange> &buffers);

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_MEMORYPLANNER_H
