//===- SentencePieceTokenizer.h - Llama's .model via sentencepiece -*- C++ -*-//
//
// Meta ships the Llama tokenizer as a SentencePiece model. Encoding goes
// through libsentencepiece itself; decoding uses the pieces exactly as
// llama2.c's tokenizer export would store them ("▁" as a space, BOS/EOS as
// "\n<s>\n" and "\n</s>\n"), so printed text matches run.c given the
// exported tokenizer.bin.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_SENTENCEPIECETOKENIZER_H
#define LLAMAC_RUNTIME_SENTENCEPIECETOKENIZER_H

#include "runtime/Tokenizer.h"

#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
} // namespace sentencepiece

namespace llamac::runtime {

class SentencePieceTokenizer : public Tokenizer {
public:
  /// Loads a .model. `vocabSize` (from the model header) must equal the
  /// model's piece count, and its BOS/EOS must be 1 and 2, as run.c assumes;
  /// a non-positive `vocabSize` skips the count check.
  static StatusOr<std::unique_ptr<SentencePieceTokenizer>>
  load(const std::string &path, int vocabSize);

  ~SentencePieceTokenizer() override;

  StatusOr<std::vector<int>> encode(const std::string &text, bool bos,
                                    bool eos) const override;
  std::string decodePiece(int prevToken, int token) const override;
  int vocabSize() const override { return int(storedPieces.size()); }

  /// The piece as llama2.c's export stores it.
  const std::string &storedPiece(int id) const {
    return storedPieces[size_t(id)];
  }
  /// The merge score tokenizer.bin stores for `id`.
  float score(int id) const;

private:
  SentencePieceTokenizer();

  std::string path;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor;
  std::vector<std::string> storedPieces;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_SENTENCEPIECETOKENIZER_H
