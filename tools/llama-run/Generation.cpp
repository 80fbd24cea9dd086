//===- Generation.cpp - What generate and chat share ----------------------===//

#include "Generation.h"

#include "runtime/Tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

void SamplingFlags::addTo(FlagSet &flags) {
  flags.addString("tokenizer", &tokenizer, "PATH",
                  "tokenizer.bin (llama2.c), SentencePiece .model, or a "
                  "model directory holding either (required)");
  flags.addFloat("temperature", &temperature,
                 "0 is greedy; higher is more random");
  flags.addFloat("top-p", &topp,
                 "nucleus sampling mass; outside [0, 1] means 0.9");
  flags.addInt("seed", &seed, "sampling seed; 0 means the current time");
  flags.addBool("no-prefill", &noPrefill,
                "feed prompt tokens one decode call at a time even when the "
                "artifact has a prefill entry");
}

Status SamplingFlags::resolve() {
  if (tokenizer.empty())
    return Status::error("--tokenizer: required");
  if (temperature < 0)
    temperature = 0;
  if (topp < 0 || topp > 1)
    topp = 0.9;
  if (seed <= 0)
    seed = int64_t(std::time(nullptr));
  return {};
}

void llamac::run::printPiece(const std::string &piece) {
  if (isPrintablePiece(piece))
    std::fputs(piece.c_str(), stdout);
}

StatusOr<int> llamac::run::samplingDecodeEntry(const Executor &session,
                                               const std::string &artifact) {
  const ModelConfig &config = session.spec().config;
  int decode = session.entryIndex("decode");
  if (decode < 0)
    return Status::error(artifact + ": has no 'decode' entry; "
                                    "recompile it for generation");
  const artifact::EntrySpec &spec = session.spec().entries[size_t(decode)];
  if (spec.outputs.empty() ||
      session.spec().buffers[spec.outputs[0]].shape.empty() ||
      session.spec().buffers[spec.outputs[0]].shape.back() != config.vocabSize)
    return Status::error(artifact +
                         ": entry 'decode': output 0 is not logits over the "
                         "vocabulary of " +
                         std::to_string(config.vocabSize));
  if (spec.batch != 1)
    return Status::error(
        artifact + ": entry 'decode' runs a batch of " +
        std::to_string(spec.batch) +
        " sequences and generate writes one; compile with llamac --batch 1 "
        "(logits and bench run batches)");
  return decode;
}

StatusOr<int64_t> llamac::run::prefillTokens(Executor &session, int prefill,
                                             const int32_t *tokens,
                                             int64_t count, int64_t pos) {
  const artifact::EntrySpec &entry = session.spec().entries[size_t(prefill)];
  int64_t done = 0;
  while (done < count) {
    int64_t chunk = std::min<int64_t>(count - done, entry.maxSeq);
    if (entry.seq > 0 && chunk != entry.seq)
      break; // A fixed-length prefill cannot take the remainder.
    std::vector<int32_t> ids(tokens + done, tokens + done + chunk);
    LLAMAC_RETURN_IF_ERROR(
        session.run(prefill, {{ids.data(), ids.size() * sizeof(int32_t)}},
                    int32_t(pos + done), chunk));
    done += chunk;
  }
  return done;
}
