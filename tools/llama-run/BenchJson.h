//===- BenchJson.h - llama-run bench results for scripts --------*- C++ -*-===//
//
// bench/gpu/compare.py sets llama-run's numbers beside PyTorch's for the same
// shapes, so it needs each kernel's time together with the shapes of the
// buffers it was launched with; the text table sums kernels by op instead.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TOOLS_LLAMA_RUN_BENCHJSON_H
#define LLAMAC_TOOLS_LLAMA_RUN_BENCHJSON_H

#include "runtime/Executor.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llamac::run {

/// One timed phase: the fastest of the repeats.
struct PhaseTime {
  /// Tokens of all batch rows together.
  int64_t tokens = 0;
  double seconds = 0;
};

/// Per-kernel times of one profiled run of an entry.
struct KernelProfile {
  std::string entry;
  /// Tokens per call of that run (the prefill length, or 1 for decode).
  int64_t seq = 0;
  std::vector<runtime::KernelTime> times;
};

struct BenchResults {
  std::string backend;
  /// The artifact's batch (llamac --batch): rows per call.
  int64_t batch = 1;
  std::vector<PhaseTime> prefill;
  PhaseTime decode;
  /// Positions in the KV cache when decode started (--context).
  int64_t decodeContext = 0;
  std::vector<KernelProfile> profiles;
};

/// Writes `results` as JSON to `path`: the backend, the phase times, the
/// bytes of weights and packed weights each entry's launches read, and per
/// profiled run every kernel that ran with its calls, nanoseconds and the
/// buffers (name, kind, type, shape with -1 for the sequence) of its first
/// launch in that entry.
runtime::Status writeBenchJson(const std::string &path,
                               const BenchResults &results,
                               const runtime::Executor &executor);

} // namespace llamac::run

#endif // LLAMAC_TOOLS_LLAMA_RUN_BENCHJSON_H
