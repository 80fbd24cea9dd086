//===- Bench.cpp - llama-run bench: prefill and decode speed --------------===//
//
// Times prefill and decode separately (they stress kernels differently:
// matrix-matrix versus matrix-vector), then repeats each with per-launch
// timing for a breakdown by kernel. The timed runs are not profiled, since
// reading the clock around every launch costs a visible share of a decode
// step on small models.
//
//===----------------------------------------------------------------------===//

#include "BenchJson.h"
#include "Commands.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/Sampler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// "812.3 us" or "45.210 ms": small models decode in microseconds, large
/// ones prefill in seconds.
std::string formatSeconds(double seconds) {
  char text[32];
  if (seconds < 1e-3)
    std::snprintf(text, sizeof(text), "%.1f us", seconds * 1e6);
  else
    std::snprintf(text, sizeof(text), "%.3f ms", seconds * 1e3);
  return text;
}

int argmax(const float *values, int64_t size) {
  return int(std::max_element(values, values + size) - values);
}

/// Runs `tokens` (batch rows of equal length, one after another) through
/// prefill in one call from position 0.
Status runPrefill(Executor &session, int entry,
                  const std::vector<int32_t> &tokens, int64_t batch) {
  return session.run(entry, {{tokens.data(), tokens.size() * sizeof(int32_t)}},
                     0, int64_t(tokens.size()) / batch);
}

/// `steps` greedy decode steps from position `context`, each of the batch's
/// rows starting at `first` and then following its own argmax.
Status runDecode(Executor &session, int entry, int32_t first, int64_t context,
                 int64_t steps, int64_t batch, int64_t vocab) {
  std::vector<int32_t> tokens(static_cast<size_t>(batch), first);
  for (int64_t pos = context; pos < context + steps; ++pos) {
    LLAMAC_RETURN_IF_ERROR(
        session.run(entry, {{tokens.data(), tokens.size() * sizeof(int32_t)}},
                    int32_t(pos), 1));
    StatusOr<const float *> logits = session.outputF32(entry, 0);
    if (!logits.ok())
      return logits.status();
    for (int64_t b = 0; b < batch; ++b)
      tokens[size_t(b)] = argmax(*logits + b * vocab, vocab);
  }
  return {};
}

/// Empties the caches and writes `context` positions of every batch row
/// (`tokens`: the rows one after another), so that decode starts there: in
/// prefill calls as long as the prefill entry takes, and decode calls for
/// the rest (all of it without a prefill entry, or what is left short of a
/// fixed-length prefill).
Status fillContext(Executor &session, int prefill, int decode,
                   const std::vector<int32_t> &tokens, int64_t context,
                   int64_t batch) {
  LLAMAC_RETURN_IF_ERROR(session.resetCaches());
  std::vector<int32_t> call;
  for (int64_t pos = 0; pos < context;) {
    int entry = decode;
    int64_t length = 1;
    if (prefill >= 0) {
      const artifact::EntrySpec &spec = session.spec().entries[size_t(prefill)];
      if (spec.seq <= 0) {
        entry = prefill;
        length = std::min(spec.maxSeq, context - pos);
      } else if (pos + spec.seq <= context) {
        entry = prefill;
        length = spec.seq;
      }
    }
    call.clear();
    for (int64_t b = 0; b < batch; ++b)
      call.insert(call.end(), tokens.begin() + b * context + pos,
                  tokens.begin() + b * context + pos + length);
    LLAMAC_RETURN_IF_ERROR(
        session.run(entry, {{call.data(), call.size() * sizeof(int32_t)}},
                    int32_t(pos), length));
    pos += length;
  }
  return {};
}

} // namespace

/// "64" or "512,2048,4096": the prefill lengths to time.
StatusOr<std::vector<int64_t>> parseLengths(const std::string &text) {
  StatusOr<std::vector<int64_t>> items = parseIntegerList(
      "--prompt-len", text, 0, INT64_MAX,
      "a non-negative integer (expected a length or a list like 512,2048)");
  if (!items.ok())
    return items.status();
  std::vector<int64_t> lengths;
  for (int64_t length : *items)
    if (length > 0)
      lengths.push_back(length);
  return lengths;
}

Status llamac::run::benchCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  int64_t steps = 128, repeats = 3, context = 0;
  std::string promptText = "64", jsonPath;
  FlagSet flags("bench",
                "Times prefill and decode separately and prints tokens/s "
                "and a per-kernel breakdown.");
  model.addTo(flags, "seed");
  flags.addInt("steps", &steps, "decode steps (clamped to max_seq_len)");
  flags.addString("prompt-len", &promptText, "N[,N...]",
                  "tokens in the prefill call, or a list of lengths to time "
                  "each (clamped to what the prefill entry takes; 0 skips "
                  "prefill)");
  flags.addInt("context", &context,
               "positions already in the KV cache when decode starts (written "
               "by untimed prefill calls before each run), so that decode "
               "reads a long cache; steps stop at max_seq_len");
  flags.addInt("repeats", &repeats,
               "timed runs of each phase; the fastest "
               "counts");
  flags.addString("json", &jsonPath, "FILE",
                  "also write the results, with every kernel's time and "
                  "buffer shapes, as JSON");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  if (steps < 1)
    return Status::error("--steps: must be positive, got " +
                         std::to_string(steps));
  StatusOr<std::vector<int64_t>> promptLens = parseLengths(promptText);
  if (!promptLens.ok())
    return promptLens.status();
  if (context < 0)
    return Status::error("--context: must be non-negative, got " +
                         std::to_string(context));
  if (repeats < 1)
    return Status::error("--repeats: must be positive, got " +
                         std::to_string(repeats));

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  const ModelConfig &config = session.spec().config;
  const int64_t vocab = config.vocabSize;
  BenchResults results;
  results.backend = session.describe();
  std::printf("backend: %s\n", results.backend.c_str());
  if (context >= config.maxSeqLen)
    return Status::error("--context: " + std::to_string(context) +
                         " leaves no position for decode in a cache of " +
                         std::to_string(config.maxSeqLen) + " (max_seq_len)");
  steps = std::min(steps, config.maxSeqLen - context);

  // Tokens from the seed, so runs are comparable.
  uint64_t state = uint64_t(model.weightsSeed) * 0x9e3779b97f4a7c15ull + 1;
  auto randomToken = [&] {
    return int32_t(randomU32(state) % uint32_t(vocab));
  };

  // Prefill and decode come from one llamac --batch, so they agree.
  int prefill = session.entryIndex("prefill");
  int decode = session.entryIndex("decode");
  const int64_t batch =
      prefill >= 0  ? session.spec().entries[size_t(prefill)].batch
      : decode >= 0 ? session.spec().entries[size_t(decode)].batch
                    : 1;
  results.batch = batch;
  if (batch > 1)
    std::printf("batch: %lld rows a call; tokens/s count every row's\n",
                (long long)batch);
  std::vector<std::vector<int32_t>> prompts;
  if (prefill >= 0) {
    const artifact::EntrySpec &entry = session.spec().entries[size_t(prefill)];
    for (int64_t promptLen : *promptLens) {
      int64_t length =
          entry.seq > 0 ? entry.seq : std::min(promptLen, entry.maxSeq);
      std::vector<int32_t> prompt;
      for (int64_t i = 0; i < batch * length; ++i)
        prompt.push_back(randomToken());
      prompts.push_back(std::move(prompt));
    }
  }
  int32_t first = randomToken();
  std::vector<int32_t> contextTokens;
  for (int64_t i = 0; i < batch * context; ++i)
    contextTokens.push_back(randomToken());
  if (context > 0 && decode < 0)
    return Status::error("--context: the artifact has no decode entry");
  auto startDecode = [&]() -> Status {
    return fillContext(session, prefill, decode, contextTokens, context, batch);
  };

  for (const std::vector<int32_t> &prompt : prompts) {
    LLAMAC_RETURN_IF_ERROR(
        runPrefill(session, prefill, prompt, batch)); // warm-up
    double best = 1e30;
    for (int64_t r = 0; r < repeats; ++r) {
      LLAMAC_RETURN_IF_ERROR(session.resetCaches());
      Clock::time_point start = Clock::now();
      LLAMAC_RETURN_IF_ERROR(runPrefill(session, prefill, prompt, batch));
      best = std::min(best, secondsSince(start));
    }
    if (batch > 1)
      std::printf("prefill: %lld x %lld tokens in %s: %.1f tokens/s\n",
                  (long long)batch, (long long)(prompt.size() / batch),
                  formatSeconds(best).c_str(), double(prompt.size()) / best);
    else
      std::printf("prefill: %zu tokens in %s: %.1f tokens/s\n", prompt.size(),
                  formatSeconds(best).c_str(), double(prompt.size()) / best);
    results.prefill.push_back({int64_t(prompt.size()), best});
  }
  if (prompts.empty())
    std::printf("prefill: skipped (%s)\n",
                prefill < 0 ? "no prefill entry" : "--prompt-len 0");
  if (decode >= 0) {
    LLAMAC_RETURN_IF_ERROR(startDecode());
    LLAMAC_RETURN_IF_ERROR(
        runDecode(session, decode, first, context, 1, batch, vocab));
    double best = 1e30;
    for (int64_t r = 0; r < repeats; ++r) {
      LLAMAC_RETURN_IF_ERROR(startDecode());
      Clock::time_point start = Clock::now();
      LLAMAC_RETURN_IF_ERROR(
          runDecode(session, decode, first, context, steps, batch, vocab));
      best = std::min(best, secondsSince(start));
    }
    std::string where;
    if (context > 0)
      where = " at positions " + std::to_string(context) + ".." +
              std::to_string(context + steps - 1);
    if (batch > 1)
      std::printf("decode: %lld x %lld tokens%s in %s: %.1f tokens/s (%.2f us "
                  "per step)\n",
                  (long long)batch, (long long)steps, where.c_str(),
                  formatSeconds(best).c_str(), double(batch * steps) / best,
                  best * 1e6 / double(steps));
    else
      std::printf("decode: %lld tokens%s in %s: %.1f tokens/s (%.2f us per "
                  "token)\n",
                  (long long)steps, where.c_str(), formatSeconds(best).c_str(),
                  double(steps) / best, best * 1e6 / double(steps));
    results.decode = {batch * steps, best};
    results.decodeContext = context;
  } else {
    std::printf("decode: skipped (no decode entry)\n");
  }

  session.setProfiling(true);
  for (const std::vector<int32_t> &prompt : prompts) {
    LLAMAC_RETURN_IF_ERROR(session.resetCaches());
    session.clearProfile();
    LLAMAC_RETURN_IF_ERROR(runPrefill(session, prefill, prompt, batch));
    std::string title =
        "prefill (" + std::to_string(prompt.size() / batch) + ")";
    printBreakdown(prompts.size() > 1 ? title.c_str() : "prefill",
                   session.spec(), session.profile());
    results.profiles.push_back(
        {"prefill", int64_t(prompt.size()) / batch, session.profile()});
  }
  if (decode >= 0) {
    LLAMAC_RETURN_IF_ERROR(startDecode());
    session.clearProfile();
    LLAMAC_RETURN_IF_ERROR(
        runDecode(session, decode, first, context, steps, batch, vocab));
    printBreakdown("decode", session.spec(), session.profile());
    results.profiles.push_back({"decode", 1, session.profile()});
  }
  if (!jsonPath.empty())
    LLAMAC_RETURN_IF_ERROR(writeBenchJson(jsonPath, results, session));
  return {};
}
