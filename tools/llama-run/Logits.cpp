//===- Logits.cpp - llama-run logits: raw outputs for comparisons ---------===//
//
// Prints the logits after every token, from position 0, so tests can compare
// two pipelines (prefill against decode, an artifact against a reference)
// number by number. %.8e keeps every bit of an f32 that matters.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

StatusOr<std::vector<int32_t>> parseTokens(const std::string &text) {
  StatusOr<std::vector<int64_t>> items =
      parseIntegerList("--tokens", text, INT32_MIN, INT32_MAX,
                       "an integer (expected a list like 1,5,9)");
  if (!items.ok())
    return items.status();
  return std::vector<int32_t>(items->begin(), items->end());
}

void printRow(const float *values, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    std::printf(i ? " %.8e" : "%.8e", double(values[i]));
  std::printf("\n");
}

} // namespace

Status llamac::run::logitsCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  std::string tokenText, mode = "decode";
  FlagSet flags("logits",
                "Runs tokens from position 0 and prints the logits after "
                "each, one line per token, values as %.8e.");
  model.addTo(flags, "seed");
  flags.addString("tokens", &tokenText, "IDS",
                  "comma-separated token ids, e.g. 1,5,9 (required)");
  flags.addString("mode", &mode, "MODE",
                  "decode: one decode call per token; prefill: one prefill "
                  "call for all");
  int64_t chunk = 0;
  flags.addInt("chunk", &chunk,
               "prefill mode: calls of N tokens at positions 0, N, 2N, ..., "
               "so that later calls attend to cached rows (as generate "
               "does with prompts longer than the entry); 0: one call");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  if (tokenText.empty())
    return Status::error("--tokens: required");
  if (mode != "decode" && mode != "prefill")
    return Status::error("--mode: '" + mode +
                         "' is neither decode nor prefill");
  if (chunk < 0)
    return Status::error("--chunk: " + std::to_string(chunk) + " is negative");
  if (chunk > 0 && mode != "prefill")
    return Status::error("--chunk: needs --mode prefill");
  StatusOr<std::vector<int32_t>> tokens = parseTokens(tokenText);
  if (!tokens.ok())
    return tokens.status();

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  int entry = session.entryIndex(mode);
  if (entry < 0)
    return Status::error(model.artifact + ": has no '" + mode + "' entry");
  if (session.spec().entries[size_t(entry)].outputs.empty())
    return Status::error(model.artifact + ": entry '" + mode +
                         "' has no outputs");
  const int64_t count = int64_t(tokens->size());

  if (mode == "decode") {
    for (int64_t pos = 0; pos < count; ++pos) {
      int32_t token = (*tokens)[size_t(pos)];
      LLAMAC_RETURN_IF_ERROR(
          session.run(entry, {{&token, sizeof(token)}}, int32_t(pos), 1));
      std::vector<int64_t> shape = session.outputShape(entry, 0);
      StatusOr<const float *> logits = session.lastTokenLogits(entry);
      if (!logits.ok())
        return logits.status();
      printRow(*logits, shape.back());
    }
    return {};
  }

  const int64_t step = chunk > 0 ? chunk : count;
  for (int64_t pos = 0; pos < count; pos += step) {
    const int64_t n = std::min(step, count - pos);
    LLAMAC_RETURN_IF_ERROR(session.run(
        entry, {{tokens->data() + pos, size_t(n) * sizeof(int32_t)}},
        int32_t(pos), n));
    std::vector<int64_t> shape = session.outputShape(entry, 0);
    int64_t width = shape.back(), rows = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d)
      rows *= shape[d];
    if (rows != n)
      return Status::error(model.artifact + ": entry 'prefill' returns " +
                           std::to_string(rows) + " rows of logits for " +
                           std::to_string(n) +
                           " tokens (only the last token's?); use --mode "
                           "decode");
    StatusOr<const float *> logits = session.outputF32(entry, 0);
    if (!logits.ok())
      return logits.status();
    for (int64_t row = 0; row < rows; ++row)
      printRow(*logits + row * width, width);
  }
  return {};
}
