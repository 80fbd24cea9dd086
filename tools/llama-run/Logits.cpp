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

/// `--tokens`: one row of comma-separated ids per batch row, rows separated
/// by ';', all of the same length.
StatusOr<std::vector<std::vector<int32_t>>>
parseTokenRows(const std::string &text) {
  std::vector<std::vector<int32_t>> rows;
  size_t start = 0;
  while (true) {
    size_t end = text.find(';', start);
    std::string part = text.substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    StatusOr<std::vector<int64_t>> items =
        parseIntegerList("--tokens", part, INT32_MIN, INT32_MAX,
                         "an integer (expected a list like 1,5,9, or rows "
                         "like 1,5,9;2,6,8 for a batch)");
    if (!items.ok())
      return items.status();
    rows.emplace_back(items->begin(), items->end());
    if (rows.back().size() != rows.front().size())
      return Status::error(
          "--tokens: row " + std::to_string(rows.size()) + " has " +
          std::to_string(rows.back().size()) +
          (rows.back().size() == 1 ? " token" : " tokens") + " and row 1 has " +
          std::to_string(rows.front().size()) +
          "; the rows of a batch run side by side, so they need the same "
          "count");
    if (end == std::string::npos)
      return rows;
    start = end + 1;
  }
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
                "each, one line per token, values as %.8e; for an artifact "
                "of batch B (llamac --batch), --tokens holds B rows and the "
                "lines go row after row.");
  model.addTo(flags, "seed");
  flags.addString("tokens", &tokenText, "IDS",
                  "comma-separated token ids, e.g. 1,5,9; for a batch, one "
                  "row per batch row separated by ';', e.g. 1,5,9;2,6,8 "
                  "(required)");
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
  StatusOr<std::vector<std::vector<int32_t>>> tokens =
      parseTokenRows(tokenText);
  if (!tokens.ok())
    return tokens.status();

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  int entry = session.entryIndex(mode);
  if (entry < 0)
    return Status::error(model.artifact + ": has no '" + mode + "' entry");
  const artifact::EntrySpec &spec = session.spec().entries[size_t(entry)];
  if (spec.outputs.empty())
    return Status::error(model.artifact + ": entry '" + mode +
                         "' has no outputs");
  const int64_t batch = int64_t(tokens->size());
  if (batch != spec.batch)
    return Status::error(
        "--tokens: " + std::to_string(batch) + " row" +
        (batch == 1 ? "" : "s") + " of tokens for " + model.artifact +
        ", whose entry '" + mode + "' runs a batch of " +
        std::to_string(spec.batch) +
        " (llamac --batch); give one row per batch row, separated by ';'");
  const int64_t count = int64_t(tokens->front().size());

  // Every row's logits, printed row after row once all calls are done.
  std::vector<std::vector<float>> logits(static_cast<size_t>(batch));
  int64_t width = 0;
  const int64_t step = mode == "decode" ? 1 : chunk > 0 ? chunk : count;
  std::vector<int32_t> call;
  for (int64_t pos = 0; pos < count; pos += step) {
    const int64_t n = std::min(step, count - pos);
    call.clear();
    for (const std::vector<int32_t> &row : *tokens)
      call.insert(call.end(), row.begin() + pos, row.begin() + pos + n);
    LLAMAC_RETURN_IF_ERROR(
        session.run(entry, {{call.data(), call.size() * sizeof(int32_t)}},
                    int32_t(pos), n));
    std::vector<int64_t> shape = session.outputShape(entry, 0);
    width = shape.back();
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d)
      rows *= shape[d];
    if (rows != batch * n)
      return Status::error(model.artifact + ": entry '" + mode + "' returns " +
                           std::to_string(rows) + " rows of logits for " +
                           std::to_string(n) + " tokens of " +
                           std::to_string(batch) +
                           " batch rows (only the last token's?); use --mode "
                           "decode");
    StatusOr<const float *> out = session.outputF32(entry, 0);
    if (!out.ok())
      return out.status();
    for (int64_t b = 0; b < batch; ++b)
      logits[size_t(b)].insert(logits[size_t(b)].end(), *out + b * n * width,
                               *out + (b + 1) * n * width);
  }
  for (const std::vector<float> &row : logits)
    for (int64_t t = 0; t < count; ++t)
      printRow(row.data() + t * width, width);
  return {};
}
