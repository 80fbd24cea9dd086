//===- Generation.cpp - What generate and chat share ----------------------===//

#include "Generation.h"

#include <algorithm>
#include <vector>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

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
