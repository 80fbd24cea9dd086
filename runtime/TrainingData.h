//===- TrainingData.h - A text corpus as training batches --------*- C++ -*-===//
//
// Training reads a plain text file: documents separated by blank lines, each
// encoded with BOS and concatenated into one token stream. A training batch
// is `batch` random windows of `seq + 1` tokens (inputs and their next-token
// targets). The window of row b at step t depends only on the seed, t and b,
// so a resumed run sees exactly the batches an uninterrupted one would.
// Evaluation uses fixed, non-overlapping windows from the start.
//
// Supervised fine-tuning reads dialogues instead (JSON lines): each row of a
// batch is one dialogue from its start, padded with weight-0 positions, and
// only the assistant's tokens count in the loss.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_TRAININGDATA_H
#define LLAMAC_RUNTIME_TRAININGDATA_H

#include "runtime/Status.h"
#include "runtime/Tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llamac::runtime {

struct TokenStream {
  std::vector<int32_t> tokens;
  size_t documents = 0;
  /// Dialogues only: where each starts in `tokens`, and the loss weight of
  /// each token as a target (1 for the assistant's, 0 for the prompt's).
  /// Empty for plain text, whose rows are windows with every weight 1.
  std::vector<size_t> starts;
  std::vector<float> weights;
  /// FNV-1a 64 of the token ids, in hex: checkpoints record it so that a
  /// resume on other data is refused.
  std::string hash;
};

/// Reads and tokenizes `path`. Fails naming the file when it cannot be read
/// or holds no text.
StatusOr<TokenStream> tokenizeCorpus(const std::string &path,
                                     const Tokenizer &tokenizer);

/// Which assistant turns of a dialogue the loss counts: all of them, or only
/// the last (Llama 2's Ghost Attention recipe zeroes the earlier turns).
enum class LossTurns { All, Last };

/// Reads dialogues, one JSON object per line:
/// {"system": "...", "turns": [{"user": "...", "assistant": "..."}, ...]}
/// ("system" optional). Each turn is encoded in Llama 2's chat format:
/// BOS "[INST] " (+ the system prompt between "<<SYS>>" and "<</SYS>>" lines
/// in the first turn) user " [/INST]", then the assistant's text and EOS,
/// which alone carry loss weight. Errors name the file, line and field.
StatusOr<TokenStream> tokenizeDialogues(const std::string &path,
                                        const Tokenizer &tokenizer,
                                        LossTurns turns);

/// One batch as the loss entries take it, row-major [batch, seq].
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;
  std::vector<float> lossWeights;
};

class BatchSampler {
public:
  /// Fails when the stream is shorter than one window (seq + 1 tokens).
  static StatusOr<BatchSampler> create(const TokenStream &stream,
                                       int64_t batch, int64_t seq,
                                       uint64_t seed,
                                       const std::string &origin);

  /// The training batch of `step` (counted from 1). Every loss weight is 1.
  Batch trainBatch(int64_t step) const;

  /// How many evaluation batches the stream has, at most `limit`.
  int64_t evalBatches(int64_t limit) const;
  /// Evaluation batch `index`: windows index*batch .. of the stream, in
  /// order. Rows past the last whole window have loss weight 0.
  Batch evalBatch(int64_t index) const;

private:
  BatchSampler(const TokenStream &stream, int64_t batch, int64_t seq,
               uint64_t seed)
      : stream(&stream), batch(batch), seq(seq), seed(seed) {}
  Batch emptyBatch() const;
  void fillRow(Batch &out, int64_t row, int64_t start, float weight) const;
  /// Row `row` from dialogue `index`, or all weight 0 when index is past the
  /// last.
  void fillDialogue(Batch &out, int64_t row, int64_t index) const;
  bool dialogues() const { return !stream->starts.empty(); }

  const TokenStream *stream;
  int64_t batch;
  int64_t seq;
  uint64_t seed;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_TRAININGDATA_H
