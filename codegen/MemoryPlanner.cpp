//===- MemoryPlanner.cpp - Liveness-based arena offsets -------------------===//

#include "codegen/MemoryPlanner.h"

#include <algorithm>
#include <numeric>

using namespace llamac::codegen;

static uint64_t alignUp(uint64_t value) {
  return (value + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

ArenaPlan llamac::codegen::planArena(const std::vector<LiveRange> &buffers) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return buffers[a].bytes > buffers[b].bytes;
  });

  ArenaPlan plan;
  plan.offsets.assign(buffers.size(), 0);
  std::vector<size_t> placed;
  for (size_t i : order) {
    const LiveRange &buffer = buffers[i];
    // Intervals [offset, end) already taken by buffers live at the same time.
    std::vector<std::pair<uint64_t, uint64_t>> taken;
    for (size_t j : placed) {
      const LiveRange &other = buffers[j];
      if (other.last < buffer.first || buffer.last < other.first)
        continue;
      taken.push_back({plan.offsets[j], plan.offsets[j] + alignUp(other.bytes)});
    }
    std::sort(taken.begin(), taken.end());
    uint64_t size = alignUp(buffer.bytes), offset = 0;
    for (auto [start, end] : taken) {
      if (offset + size <= start)
        break;
      offset = std::max(offset, end);
    }
    plan.offsets[i] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + size);
    placed.push_back(i);
  }
  return plan;
}
