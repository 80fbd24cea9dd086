//===- Bench.cpp - llama-run bench: prefill and decode speed --------------===//
//
// Times prefill and decode separately (they stress kernels differently:
// matrix-matrix versus matrix-vector), then repeats each with per-launch
// timing for a breakdown by kernel. The timed runs are not profiled, since
// reading the clock around every launch costs a visible share of a decode
// step on small models.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/Sampler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
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

/// Runs `tokens` through prefill in one call from position 0.
Status runPrefill(Session &session, int entry,
                  const std::vector<int32_t> &tokens) {
  return session.run(entry, {{tokens.data(), tokens.size() * sizeof(int32_t)}},
                     0, int64_t(tokens.size()));
}

/// `steps` greedy decode steps from position 0, starting at `first`.
Status runDecode(Session &session, int entry, int32_t first, int64_t steps,
                 int64_t vocab) {
  int32_t token = first;
  for (int64_t pos = 0; pos < steps; ++pos) {
    LLAMAC_RETURN_IF_ERROR(
        session.run(entry, {{&token, sizeof(token)}}, int32_t(pos), 1));
    token = argmax(session.lastTokenLogits(entry), vocab);
  }
  return {};
}

/// Kernel times summed by op and origin family, largest first.
void printBreakdown(const char *title, const Session &session) {
  struct Row {
    uint64_t calls = 0;
    uint64_t nanoseconds = 0;
  };
  std::map<std::pair<std::string, std::string>, Row> rows;
  uint64_t total = 0;
  const auto &kernels = session.spec().kernels;
  for (size_t k = 0; k < kernels.size(); ++k) {
    const KernelTime &time = session.profile()[k];
    if (time.calls == 0)
      continue;
    Row &row = rows[{kernels[k].op, artifact::originFamily(kernels[k].origin)}];
    row.calls += time.calls;
    row.nanoseconds += time.nanoseconds;
    total += time.nanoseconds;
  }
  std::vector<std::pair<std::pair<std::string, std::string>, Row>> sorted(
      rows.begin(), rows.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](auto &a, auto &b) {
    return a.second.nanoseconds > b.second.nanoseconds;
  });
  std::printf("\n%s kernels:\n%-28s %-32s %8s %12s %7s\n", title, "op",
              "origin", "calls", "total us", "share");
  for (const auto &[key, row] : sorted)
    std::printf("%-28s %-32s %8llu %12.1f %6.1f%%\n", key.first.c_str(),
                key.second.empty() ? "-" : key.second.c_str(),
                (unsigned long long)row.calls, row.nanoseconds / 1e3,
                total ? 100.0 * double(row.nanoseconds) / double(total) : 0.0);
  std::printf("%-28s %-32s %8s %12.1f %6.1f%%\n", "total", "", "", total / 1e3,
              100.0);
}

} // namespace

Status llamac::run::benchCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  int64_t steps = 128, promptLen = 64, repeats = 3;
  FlagSet flags("bench",
                "Times prefill and decode separately and prints tokens/s "
                "and a per-kernel breakdown.");
  model.addTo(flags, "seed");
  flags.addInt("steps", &steps, "decode steps (clamped to max_seq_len)");
  flags.addInt("prompt-len", &promptLen,
               "tokens in the prefill call (clamped to what the prefill "
               "entry takes; 0 skips prefill)");
  flags.addInt("repeats", &repeats,
               "timed runs of each phase; the fastest "
               "counts");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  if (steps < 1)
    return Status::error("--steps: must be positive, got " +
                         std::to_string(steps));
  if (promptLen < 0)
    return Status::error("--prompt-len: must not be negative, got " +
                         std::to_string(promptLen));
  if (repeats < 1)
    return Status::error("--repeats: must be positive, got " +
                         std::to_string(repeats));

  StatusOr<std::unique_ptr<Session>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Session &session = **opened;
  const ModelConfig &config = session.spec().config;
  const int64_t vocab = config.vocabSize;
  steps = std::min(steps, config.maxSeqLen);

  // Tokens from the seed, so runs are comparable.
  uint64_t state = uint64_t(model.weightsSeed) * 0x9e3779b97f4a7c15ull + 1;
  auto randomToken = [&] {
    return int32_t(randomU32(state) % uint32_t(vocab));
  };

  int prefill = session.entryIndex("prefill");
  std::vector<int32_t> prompt;
  if (prefill >= 0 && promptLen > 0) {
    const artifact::EntrySpec &entry = session.spec().entries[size_t(prefill)];
    int64_t length =
        entry.seq > 0 ? entry.seq : std::min(promptLen, entry.maxSeq);
    for (int64_t i = 0; i < length; ++i)
      prompt.push_back(randomToken());
  }
  int decode = session.entryIndex("decode");
  int32_t first = randomToken();

  if (!prompt.empty()) {
    LLAMAC_RETURN_IF_ERROR(runPrefill(session, prefill, prompt)); // warm-up
    double best = 1e30;
    for (int64_t r = 0; r < repeats; ++r) {
      session.resetCaches();
      Clock::time_point start = Clock::now();
      LLAMAC_RETURN_IF_ERROR(runPrefill(session, prefill, prompt));
      best = std::min(best, secondsSince(start));
    }
    std::printf("prefill: %zu tokens in %s: %.1f tokens/s\n", prompt.size(),
                formatSeconds(best).c_str(), double(prompt.size()) / best);
  } else {
    std::printf("prefill: skipped (%s)\n",
                prefill < 0 ? "no prefill entry" : "--prompt-len 0");
  }
  if (decode >= 0) {
    session.resetCaches();
    LLAMAC_RETURN_IF_ERROR(runDecode(session, decode, first, 1, vocab));
    double best = 1e30;
    for (int64_t r = 0; r < repeats; ++r) {
      session.resetCaches();
      Clock::time_point start = Clock::now();
      LLAMAC_RETURN_IF_ERROR(runDecode(session, decode, first, steps, vocab));
      best = std::min(best, secondsSince(start));
    }
    std::printf("decode: %lld tokens in %s: %.1f tokens/s (%.2f us per "
                "token)\n",
                (long long)steps, formatSeconds(best).c_str(),
                double(steps) / best, best * 1e6 / double(steps));
  } else {
    std::printf("decode: skipped (no decode entry)\n");
  }

  session.setProfiling(true);
  if (!prompt.empty()) {
    session.resetCaches();
    session.clearProfile();
    LLAMAC_RETURN_IF_ERROR(runPrefill(session, prefill, prompt));
    printBreakdown("prefill", session);
  }
  if (decode >= 0) {
    session.resetCaches();
    session.clearProfile();
    LLAMAC_RETURN_IF_ERROR(runDecode(session, decode, first, steps, vocab));
    printBreakdown("decode", session);
  }
  return {};
}
