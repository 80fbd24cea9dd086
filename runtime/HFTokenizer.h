//===- HFTokenizer.h - Hugging Face tokenizer.json for Llama ------*- C++
//-*-===//
//
// Hugging Face model directories carry the tokenizer as tokenizer.json
// (the `tokenizers` library's format), some of them without Meta's
// tokenizer.model. For Llama it describes the same SentencePiece BPE as
// merges: a vocabulary, a ranked list of pairs to merge, byte fallback for
// characters outside the vocabulary, and the normalization that turns
// spaces into "▁" and prefixes one. This reads that subset and encodes as
// `tokenizers` does (lowest-ranked pair first, leftmost on ties), which
// gives the ids SentencePiece gives for the model's own tokenizer.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_HFTOKENIZER_H
#define LLAMAC_RUNTIME_HFTOKENIZER_H

#include "runtime/Tokenizer.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace llamac::runtime {

class HFTokenizer : public Tokenizer {
public:
  /// Loads `path`, a tokenizer.json whose model is BPE. Errors read "PATH:
  /// FIELD: REASON": a model, normalizer or pre-tokenizer of another kind
  /// (with its name), a merge of pieces outside the vocabulary, ids that do
  /// not make 0..N-1, BOS/EOS other than 1/2, and a vocabulary size other
  /// than `vocabSize` (the model header's; non-positive skips the check).
  static StatusOr<std::unique_ptr<HFTokenizer>> load(const std::string &path,
                                                     int vocabSize);

  /// As SentencePiece encodes: special tokens written in the text are text.
  StatusOr<std::vector<int>> encode(const std::string &text, bool bos,
                                    bool eos) const override;
  std::string decodePiece(int prevToken, int token) const override;
  int vocabSize() const override { return int(storedPieces.size()); }

  /// How `text` is normalized before BPE (exposed for tests).
  std::string normalize(const std::string &text) const;

private:
  HFTokenizer() = default;
  /// Appends the ids of one pre-tokenized word.
  Status encodeWord(const std::string &word, std::vector<int> &ids) const;

  std::string path;
  std::unordered_map<std::string, int> idOf;
  /// (left id, right id) -> (rank, merged id).
  std::map<std::pair<int, int>, std::pair<int, int>> merges;
  /// Pieces as decodePiece prints them ("▁" as a space, BOS/EOS as
  /// llama2.c's export writes them).
  std::vector<std::string> storedPieces;
  int unkId = -1;
  bool byteFallback = false;
  bool fuseUnk = false;
  bool ignoreMerges = false;

  /// The normalizer's steps in order: Prepend puts `content` before
  /// non-empty text, Replace replaces every `pattern` by `content`.
  struct NormalizerStep {
    bool prepend = false;
    std::string pattern, content;
  };
  std::vector<NormalizerStep> normalizer;
  /// A Metaspace pre-tokenizer: spaces become `metaspace`, which is put
  /// before the text when `metaspacePrepend`, and each run starting with
  /// it is a word of its own when `metaspaceSplit`.
  std::string metaspace;
  bool metaspacePrepend = false;
  bool metaspaceSplit = false;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_HFTOKENIZER_H
