//===- PerplexityWindows.cpp - Scoring a token stream in fixed windows ----===//

#include "runtime/PerplexityWindows.h"

#include <algorithm>
#include <string>

namespace llamac::runtime {

StatusOr<std::vector<ScoredWindow>>
planScoredWindows(int64_t tokens, int64_t seq, int64_t stride) {
  if (seq < 1)
    return Status::error("a window of " + std::to_string(seq) +
                         " tokens; it needs at least 1");
  if (stride < 1 || stride > seq)
    return Status::error("--stride " + std::to_string(stride) +
                         " is outside [1, " + std::to_string(seq) +
                         "] (the window's " + std::to_string(seq) + " tokens)");
  if (tokens < seq + 1)
    return Status::error("the text has " + std::to_string(tokens) +
                         " tokens, fewer than one window of " +
                         std::to_string(seq) + " inputs and their " +
                         "next tokens (" + std::to_string(seq + 1) + ")");
  // Predictions are indexed by their input: p in [0, tokens - 1) predicts
  // token p + 1; a window at `start` makes predictions [start, start + seq).
  const int64_t predictions = tokens - 1;
  std::vector<ScoredWindow> windows;
  int64_t scored = 0; // predictions [0, scored) have been counted
  for (int64_t start = 0; start + seq <= predictions; start += stride) {
    windows.push_back({start, std::max<int64_t>(scored - start, 0)});
    scored = start + seq;
  }
  if (scored < predictions) {
    const int64_t start = predictions - seq;
    windows.push_back({start, scored - start});
  }
  return windows;
}

} // namespace llamac::runtime
