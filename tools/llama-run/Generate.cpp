//===- Generate.cpp - llama-run generate: run.c's text generation ---------===//
//
// Reproduces llama2.c's run.c `generate` exactly (same prompt handling, same
// sampler, same printing), so that its output can be compared byte for byte.
// The only liberty: prompt tokens whose logits are not needed may go through
// the prefill entry in one call instead of one decode call each.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"
#include "Generation.h"

#include "runtime/Sampler.h"
#include "runtime/Tokenizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

using Clock = std::chrono::steady_clock;

double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

} // namespace

Status llamac::run::generateCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  SamplingFlags sampling;
  std::string prompt;
  int64_t steps = 256;

  FlagSet flags("generate",
                "Generates text like llama2.c's run.c: stdout gets only the "
                "text, stderr the speed.");
  model.addTo(flags, "weights-seed");
  sampling.addTo(flags);
  flags.addString("prompt", &prompt, "TEXT",
                  "text to continue (default empty: "
                  "start from BOS alone)");
  flags.addInt("steps", &steps,
               "positions to run, prompt included; 0 or more than the "
               "model's max_seq_len means max_seq_len");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  // run.c's parameter fixes.
  LLAMAC_RETURN_IF_ERROR(sampling.resolve());
  if (steps < 0)
    steps = 0;

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  const ModelConfig &config = session.spec().config;
  if (steps == 0 || steps > config.maxSeqLen)
    steps = config.maxSeqLen;

  StatusOr<int> decodeEntry = samplingDecodeEntry(session, model.artifact);
  if (!decodeEntry.ok())
    return decodeEntry.status();
  const int decode = *decodeEntry;
  int prefill = sampling.noPrefill ? -1 : session.entryIndex("prefill");

  StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      loadTokenizer(sampling.tokenizer, int(config.vocabSize));
  if (!tokenizer.ok())
    return tokenizer.status();
  StatusOr<std::vector<int>> encoded =
      (*tokenizer)->encode(prompt, /*bos=*/true, /*eos=*/false);
  if (!encoded.ok())
    return encoded.status();
  const std::vector<int> &promptTokens = *encoded;
  if (promptTokens.empty())
    return Status::error("--prompt: expected at least 1 prompt token");
  const int64_t numPrompt = int64_t(promptTokens.size());

  Sampler sampler(int(config.vocabSize), float(sampling.temperature),
                  float(sampling.topp), uint64_t(sampling.seed));
  std::vector<float> logits(size_t(config.vocabSize));
  Clock::time_point start;
  bool started = false;
  int token = promptTokens[0];
  int64_t pos = 0;
  bool stopped = false;

  // Emits what run.c's loop prints for `next` after `token`; false at BOS.
  auto emit = [&](int next) {
    if (next == Tokenizer::kBosId)
      return false;
    printPiece((*tokenizer)->decodePiece(token, next));
    std::fflush(stdout);
    token = next;
    if (!started) {
      start = Clock::now();
      started = true;
    }
    return true;
  };

  // The prompt tokens whose logits run.c throws away, in prefill calls.
  if (prefill >= 0 && numPrompt > 1) {
    std::vector<int32_t> known(promptTokens.begin(),
                               promptTokens.begin() +
                                   std::min<int64_t>(numPrompt - 1, steps));
    Clock::time_point prefillStart = Clock::now();
    StatusOr<int64_t> done =
        prefillTokens(session, prefill, known.data(), int64_t(known.size()), 0);
    if (!done.ok())
      return done.status();
    for (int64_t i = 0; i < *done && !stopped; ++i) {
      ++pos;
      stopped = !emit(promptTokens[size_t(pos)]);
    }
    if (*done > 0)
      std::fprintf(stderr, "prefill: %lld tokens in %.3f ms\n",
                   (long long)*done, millisecondsSince(prefillStart));
  }

  while (!stopped && pos < steps) {
    int32_t id = token;
    LLAMAC_RETURN_IF_ERROR(
        session.run(decode, {{&id, sizeof(id)}}, int32_t(pos), 1));
    int next;
    if (pos < numPrompt - 1) {
      next = promptTokens[size_t(pos + 1)];
    } else {
      StatusOr<const float *> logitsOut = session.lastTokenLogits(decode);
      if (!logitsOut.ok())
        return logitsOut.status();
      const float *out = *logitsOut;
      std::copy(out, out + config.vocabSize, logits.begin());
      next = sampler.sample(logits.data());
    }
    ++pos;
    stopped = !emit(next);
  }
  std::printf("\n");
  std::fflush(stdout);
  if (pos > 1 && started) {
    double elapsed = millisecondsSince(start);
    // run.c's formula (which counts the first token, timed from after it).
    std::fprintf(stderr, "achieved tok/s: %f\n",
                 double(pos - 1) / elapsed * 1000.0);
  }
  return {};
}
