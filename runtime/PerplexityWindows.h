//===- PerplexityWindows.h - Scoring a text in fixed windows ----*- C++ -*-===//
//
// Perplexity of a text longer than one call: the stream is cut into windows
// of `seq` inputs (and their next tokens as targets), `stride` apart, and
// every prediction of the stream is scored exactly once. A window's first
// seq - stride targets were scored by the window before, with less context,
// so only its last `stride` count; a stride below seq gives each scored
// token more context at the cost of more windows (stride = seq is
// non-overlapping windows). A last window that would run past the stream
// ends at its end instead, scoring only what no earlier window did.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_PERPLEXITYWINDOWS_H
#define LLAMAC_RUNTIME_PERPLEXITYWINDOWS_H

#include "runtime/Status.h"

#include <cstdint>
#include <vector>

namespace llamac::runtime {

/// Inputs tokens[start, start + seq), targets tokens[start + 1, start + seq
/// + 1); targets from index firstScored of the window on carry weight 1.
struct ScoredWindow {
  int64_t start = 0;
  int64_t firstScored = 0;
};

/// The windows that score predictions 1 .. tokens - 1 of a stream of
/// `tokens`, each once. Fails when the stream is shorter than one window
/// (seq + 1 tokens), or stride is outside [1, seq].
StatusOr<std::vector<ScoredWindow>>
planScoredWindows(int64_t tokens, int64_t seq, int64_t stride);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_PERPLEXITYWINDOWS_H
