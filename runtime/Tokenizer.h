//===- Tokenizer.h - Text <-> token ids, as llama2.c does it -----*- C++
//-*-===//
//
// Generation must print exactly what llama2.c's run.c prints, so the
// interface mirrors run.c: encode with optional BOS/EOS, and decode one token
// at a time given the previous one (SentencePiece drops the leading space of
// the first piece after BOS). Two implementations share it: llama2.c's own
// tokenizer.bin, and a SentencePiece .model through libsentencepiece.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_TOKENIZER_H
#define LLAMAC_RUNTIME_TOKENIZER_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llamac::runtime {

class Tokenizer {
public:
  /// Llama's fixed ids; run.c hard-codes them too.
  static constexpr int kBosId = 1;
  static constexpr int kEosId = 2;

  virtual ~Tokenizer();

  /// Token ids of `text`, preceded by BOS and followed by EOS on request.
  virtual StatusOr<std::vector<int>> encode(const std::string &text, bool bos,
                                            bool eos) const = 0;
  /// The text of `token` as run.c's decode returns it: without its leading
  /// space right after BOS, and with "<0xXX>" byte pieces turned into the
  /// byte. Empty for ids outside the vocabulary.
  virtual std::string decodePiece(int prevToken, int token) const = 0;
  virtual int vocabSize() const = 0;

  int bosId() const { return kBosId; }
  int eosId() const { return kEosId; }
};

enum class TokenizerFormat { Llama2cBin, SentencePieceModel, HFTokenizerJson };

/// Tells the formats apart by content, not extension. A SentencePiece .model
/// is a serialized ModelProto whose first field is a `pieces` message, so it
/// starts with the tag byte 0x0A, a non-zero varint length, and the tag 0x0A
/// of that piece's `piece` string. A tokenizer.bin starts with the int32
/// max_token_length: even when its low byte is 0x0A (length 10, 266, ...)
/// the bytes that follow are not a non-zero varint and then 0x0A, for any
/// length below 2^16. A tokenizer.json starts (after blanks) with '{' and
/// then '"' or a blank, which a tokenizer.bin's max_token_length of 123
/// followed by its zero high bytes does not. Anything else is taken to be
/// a tokenizer.bin, whose reader then reports what is wrong with it.
TokenizerFormat detectTokenizerFormat(const uint8_t *bytes, size_t size);

/// Loads any of the formats, or a model directory's tokenizer.model, else
/// its tokenizer.json (HFTokenizer.h), else its tokenizer.bin. `vocabSize`
/// comes from the model header: tokenizer.bin does not store its own
/// count, and the others must match it.
StatusOr<std::unique_ptr<Tokenizer>> loadTokenizer(const std::string &path,
                                                   int vocabSize);

/// A vocabulary piece as llama2.c's tokenizer export stores it: BOS and EOS
/// as "\n<s>\n" and "\n</s>\n", and SentencePiece's "▁" as a space.
std::string exportedPiece(int id, const std::string &piece);

/// run.c's decode on one stored piece (a tokenizer.bin entry: SentencePiece's
/// "▁" already replaced by a space). Shared by both tokenizers so they agree.
std::string decodeStoredPiece(std::string_view piece, int prevToken);

/// run.c's safe_printf filter: false for an empty piece and for a single byte
/// that is neither printable nor whitespace (a stray byte of a split UTF-8
/// sequence, or a control code), which run.c does not print.
bool isPrintablePiece(std::string_view piece);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_TOKENIZER_H
