//===- Perplexity.cpp - llama-run perplexity: a model's loss on a text ----===//
//
// Scores every next-token prediction of a text (or of given token ids) once
// with an artifact's forward_loss entry, in windows of the entry's tokens
// per row (PerplexityWindows.h), batched as the entry was compiled, and
// prints the mean negative log-likelihood and its exponential. Rows past
// the last window of the final batch repeat a window with loss weight 0.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "runtime/LossEntry.h"
#include "runtime/PerplexityWindows.h"
#include "runtime/Tokenizer.h"

#include <chrono>
#include <cmath>
#include <cstdio>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

constexpr char kEntry[] = "forward_loss";

/// The token ids to score and where they came from (for the report).
struct ScoredText {
  std::vector<int32_t> tokens;
  std::string origin;
};

StatusOr<ScoredText> readText(const std::string &data,
                              const std::string &tokenizerPath,
                              const std::string &tokenText, int64_t vocabSize) {
  if (data.empty() == tokenText.empty())
    return Status::error("give either --data (with --tokenizer) or --tokens");
  if (!tokenText.empty()) {
    StatusOr<std::vector<int64_t>> ids =
        parseIntegerList("--tokens", tokenText, 0, vocabSize - 1, "a token id");
    if (!ids.ok())
      return ids.status();
    return ScoredText{{ids->begin(), ids->end()}, "--tokens"};
  }
  if (tokenizerPath.empty())
    return Status::error("--data: needs --tokenizer");
  StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      loadTokenizer(tokenizerPath, int(vocabSize));
  if (!tokenizer.ok())
    return tokenizer.status();
  StatusOr<TokenStream> stream = tokenizeCorpus(data, **tokenizer);
  if (!stream.ok())
    return stream.status();
  return ScoredText{std::move(stream->tokens), data};
}

} // namespace

Status llamac::run::perplexityCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  std::string data, tokenizerPath, tokenText;
  int64_t seq = 0, stride = 0, maxWindows = 0;
  FlagSet flags(
      "perplexity",
      "Scores every next-token prediction of a text once with the "
      "artifact's forward_loss entry (llamac --entry=forward_loss or "
      "train_step), in windows of --seq tokens --stride apart, and prints "
      "the mean loss (nats a token) and the perplexity, its exponential.");
  model.addTo(flags, "seed");
  flags.addString("data", &data, "FILE",
                  "a text file: documents separated by blank lines, each "
                  "encoded with BOS, as llama-run train reads it");
  flags.addString("tokenizer", &tokenizerPath, "PATH",
                  "tokenizer.bin, SentencePiece .model, tokenizer.json or a "
                  "model directory (with --data)");
  flags.addString("tokens", &tokenText, "IDS",
                  "token ids to score instead of --data");
  flags.addInt("seq", &seq,
               "tokens a window; 0 takes the entry's, or its most for an "
               "entry compiled without --seq-len");
  flags.addInt("stride", &stride,
               "tokens between windows, at most --seq; each window scores "
               "only its last --stride predictions, so a smaller stride "
               "gives each more context; 0 takes --seq: windows that do not "
               "overlap");
  flags.addInt("max-windows", &maxWindows,
               "score only the first N windows; 0 scores all");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  if (maxWindows < 0)
    return Status::error("--max-windows: must be 0 (all) or more");

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  const artifact::ArtifactSpec &spec = session.spec();
  const int entry = session.entryIndex(kEntry);
  if (entry < 0)
    return Status::error(model.artifact + ": has no '" + kEntry +
                         "' entry (compile with llamac --entry=forward_loss "
                         "or --entry=train_step)");
  const artifact::EntrySpec &e = spec.entries[size_t(entry)];
  if (seq == 0)
    seq = e.seq > 0 ? e.seq : e.maxSeq;
  if ((e.seq > 0 && seq != e.seq) || seq < 1 || seq > e.maxSeq)
    return Status::error(
        "--seq " + std::to_string(seq) + ": " + model.artifact +
        (e.seq > 0 ? " was compiled for " + std::to_string(e.seq)
                   : " takes 1 to " + std::to_string(e.maxSeq)) +
        " tokens per row");
  if (stride == 0)
    stride = seq;

  StatusOr<ScoredText> text =
      readText(data, tokenizerPath, tokenText, spec.config.vocabSize);
  if (!text.ok())
    return text.status();
  const int64_t count = int64_t(text->tokens.size());
  StatusOr<std::vector<ScoredWindow>> planned =
      planScoredWindows(count, seq, stride);
  if (!planned.ok())
    return Status::error(text->origin + ": " + planned.status().message());
  std::vector<ScoredWindow> windows = std::move(planned).value();
  if (maxWindows > 0 && int64_t(windows.size()) > maxWindows)
    windows.resize(size_t(maxWindows));

  std::printf("perplexity %s: %lld tokens; %zu windows of %lld (stride "
              "%lld), batch %lld, %s\n",
              text->origin.c_str(), (long long)count, windows.size(),
              (long long)seq, (long long)stride, (long long)e.batch,
              session.describe().c_str());
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  double nll = 0, predictions = 0;
  Batch batch;
  for (size_t first = 0; first < windows.size(); first += size_t(e.batch)) {
    batch.tokens.clear();
    batch.targets.clear();
    batch.lossWeights.clear();
    for (int64_t row = 0; row < e.batch; ++row) {
      // Rows past the last window repeat the first one, weighing nothing.
      const size_t index = first + size_t(row);
      const bool real = index < windows.size();
      const ScoredWindow &w = windows[real ? index : first];
      const int32_t *at = text->tokens.data() + w.start;
      batch.tokens.insert(batch.tokens.end(), at, at + seq);
      batch.targets.insert(batch.targets.end(), at + 1, at + seq + 1);
      for (int64_t i = 0; i < seq; ++i)
        batch.lossWeights.push_back(real && i >= w.firstScored ? 1.0f : 0.0f);
    }
    // forward_loss is the weighted mean; the sum is what adds up.
    StatusOr<std::pair<double, double>> loss =
        evaluateLoss(session, entry, model.artifact, batch, seq);
    if (!loss.ok())
      return loss.status();
    nll += loss->first * loss->second;
    predictions += loss->second;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  const double mean = nll / predictions;
  std::printf("loss %.6f over %.0f predictions, perplexity %.4f\n", mean,
              predictions, std::exp(mean));
  std::fprintf(stderr, "%.0f tokens in %.2f s (%.0f tok/s)\n",
               double(windows.size()) * double(seq), seconds,
               double(windows.size()) * double(seq) / seconds);
  return {};
}
