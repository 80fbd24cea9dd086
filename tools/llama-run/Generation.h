//===- Generation.h - What generate and chat share ---------------*- C++
//-*-===//
//
// Both commands sample one sequence from an artifact's decode entry and
// feed the tokens whose logits they do not need through its prefill entry.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TOOLS_LLAMA_RUN_GENERATION_H
#define LLAMAC_TOOLS_LLAMA_RUN_GENERATION_H

#include "Flags.h"

#include "runtime/Executor.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>

namespace llamac::run {

/// The flags of how tokens are read and sampled, shared by generate and
/// chat: --tokenizer, --temperature, --top-p, --seed and --no-prefill.
struct SamplingFlags {
  std::string tokenizer;
  double temperature = 1.0, topp = 0.9;
  int64_t seed = 0;
  bool noPrefill = false;

  void addTo(FlagSet &flags);
  /// Requires --tokenizer, then applies run.c's fixes: a negative
  /// temperature is 0, a top-p outside [0, 1] is 0.9, a seed of 0 or less is
  /// the current time.
  runtime::Status resolve();
};

/// Prints `piece` to stdout as run.c's safe_printf does: not at all when
/// it is empty or a lone unprintable byte (isPrintablePiece).
void printPiece(const std::string &piece);

/// The index of `session`'s decode entry, once it is known to give logits
/// over the vocabulary for a batch of one; errors name `artifact` and say
/// how to recompile it.
runtime::StatusOr<int> samplingDecodeEntry(const runtime::Executor &session,
                                           const std::string &artifact);

/// Runs `count` tokens at positions `pos`, `pos` + 1, ... through the
/// prefill entry, in calls of up to its longest sequence; a fixed-length
/// prefill takes whole calls only. Returns how many tokens it ran: the
/// caller decodes the rest.
runtime::StatusOr<int64_t> prefillTokens(runtime::Executor &session,
                                         int prefill, const int32_t *tokens,
                                         int64_t count, int64_t pos);

} // namespace llamac::run

#endif // LLAMAC_TOOLS_LLAMA_RUN_GENERATION_H
