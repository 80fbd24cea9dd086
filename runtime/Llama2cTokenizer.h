//===- Llama2cTokenizer.h - llama2.c's tokenizer.bin -------------*- C++
//-*-===//
//
// The format run.c's build_tokenizer reads: int32 max_token_length, then per
// token a float32 score, an int32 byte length and the bytes. The token count
// is not stored; it is the model header's vocab_size. encode ports run.c's
// encode step for step, so ids match run.c's even where they differ from
// SentencePiece's own encoder.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_LLAMA2CTOKENIZER_H
#define LLAMAC_RUNTIME_LLAMA2CTOKENIZER_H

#include "runtime/Tokenizer.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llamac::runtime {

class Llama2cTokenizer : public Tokenizer {
public:
  /// Reads the first `vocabSize` entries of `path`; bytes after them are
  /// ignored, as run.c ignores them. Errors name the file and token, e.g.
  /// "PATH: token 37: length 9 runs past end of file".
  static StatusOr<std::unique_ptr<Llama2cTokenizer>>
  load(const std::string &path, int vocabSize);

  StatusOr<std::vector<int>> encode(const std::string &text, bool bos,
                                    bool eos) const override;
  std::string decodePiece(int prevToken, int token) const override;
  int vocabSize() const override { return int(pieces.size()); }

  /// The stored bytes of `id`, cut at the first NUL as run.c's C strings are.
  const std::string &piece(int id) const { return pieces[size_t(id)]; }
  float score(int id) const { return scores[size_t(id)]; }
  int maxTokenLength() const { return maxTokenLen; }

private:
  Llama2cTokenizer() = default;

  /// run.c's str_lookup: binary search of the byte-wise sorted vocabulary;
  /// -1 when absent. Of equal pieces the lowest id wins.
  int lookup(std::string_view text) const;

  std::string path;
  std::vector<std::string> pieces;
  std::vector<float> scores;
  /// Ids sorted by (piece bytes, id).
  std::vector<int> sortedIds;
  int maxTokenLen = 0;
};

/// Writes a tokenizer.bin as llama2.c's tokenizer.py export does:
/// max_token_length is the longest piece in bytes. Atomic.
Status writeLlama2cTokenizer(const std::string &path,
                             const std::vector<std::string> &pieces,
                             const std::vector<float> &scores);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_LLAMA2CTOKENIZER_H
