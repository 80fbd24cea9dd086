//===- Tokenizer.cpp - Shared decoding and the format factory -------------===//

#include "runtime/Tokenizer.h"

#include "runtime/HFTokenizer.h"
#include "runtime/Llama2cTokenizer.h"
#include "runtime/ModelDirectory.h"
#include "runtime/SentencePieceTokenizer.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

using namespace llamac::runtime;

Tokenizer::~Tokenizer() = default;

TokenizerFormat llamac::runtime::detectTokenizerFormat(const uint8_t *bytes,
                                                       size_t size) {
  size_t start = 0;
  while (start < size && std::isspace(bytes[start]))
    ++start;
  if (start + 1 < size && bytes[start] == '{' &&
      (bytes[start + 1] == '"' || bytes[start + 1] == '}' ||
       std::isspace(bytes[start + 1])))
    return TokenizerFormat::HFTokenizerJson;
  if (size < 3 || bytes[0] != 0x0A)
    return TokenizerFormat::Llama2cBin;
  // Skip the varint length of the first `pieces` message.
  size_t pos = 1;
  uint64_t length = 0;
  int shift = 0;
  while (pos < size && shift < 64) {
    uint8_t byte = bytes[pos++];
    length |= uint64_t(byte & 0x7f) << shift;
    shift += 7;
    if (!(byte & 0x80))
      break;
  }
  if (length == 0 || pos >= size || bytes[pos] != 0x0A)
    return TokenizerFormat::Llama2cBin;
  return TokenizerFormat::SentencePieceModel;
}

StatusOr<std::unique_ptr<Tokenizer>>
llamac::runtime::loadTokenizer(const std::string &given, int vocabSize) {
  // A model directory's tokenizer: Hugging Face's and Meta's
  // tokenizer.model, else Hugging Face's tokenizer.json, else llama2.c's
  // tokenizer.bin.
  std::string path = given;
  if (isDirectory(given)) {
    std::optional<std::string> found = firstFileIn(
        given, {"tokenizer.model", "tokenizer.json", "tokenizer.bin"});
    if (!found)
      return Status::error(given + ": no tokenizer.model (SentencePiece), "
                                   "tokenizer.json (Hugging Face) or "
                                   "tokenizer.bin (llama2.c) in this "
                                   "directory");
    path = *found;
  }
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return Status::error(path + ": cannot open: " + std::strerror(errno));
  uint8_t prefix[16];
  size_t size = std::fread(prefix, 1, sizeof(prefix), file);
  std::fclose(file);

  TokenizerFormat format = detectTokenizerFormat(prefix, size);
  if (format == TokenizerFormat::HFTokenizerJson) {
    StatusOr<std::unique_ptr<HFTokenizer>> loaded =
        HFTokenizer::load(path, vocabSize);
    if (!loaded.ok())
      return loaded.status();
    return std::unique_ptr<Tokenizer>(std::move(loaded).value());
  }
  if (format == TokenizerFormat::SentencePieceModel) {
    StatusOr<std::unique_ptr<SentencePieceTokenizer>> loaded =
        SentencePieceTokenizer::load(path, vocabSize);
    if (!loaded.ok())
      return loaded.status();
    return std::unique_ptr<Tokenizer>(std::move(loaded).value());
  }
  StatusOr<std::unique_ptr<Llama2cTokenizer>> loaded =
      Llama2cTokenizer::load(path, vocabSize);
  if (!loaded.ok())
    return loaded.status();
  return std::unique_ptr<Tokenizer>(std::move(loaded).value());
}

std::string llamac::runtime::exportedPiece(int id, const std::string &piece) {
  if (id == Tokenizer::kBosId)
    return "\n<s>\n";
  if (id == Tokenizer::kEosId)
    return "\n</s>\n";
  const std::string spaceMark = "\xE2\x96\x81"; // U+2581 "▁"
  std::string exported = piece;
  for (size_t pos = exported.find(spaceMark); pos != std::string::npos;
       pos = exported.find(spaceMark, pos + 1))
    exported.replace(pos, spaceMark.size(), " ");
  return exported;
}

static int hexValue(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string llamac::runtime::decodeStoredPiece(std::string_view piece,
                                               int prevToken) {
  // Following BOS, SentencePiece's decoder strips the leading whitespace.
  if (prevToken == Tokenizer::kBosId && !piece.empty() && piece[0] == ' ')
    piece.remove_prefix(1);
  // run.c's sscanf(piece, "<0x%02hhX>", &byte): "<0x" and one or two hex
  // digits make a raw byte (sscanf does not check the closing '>').
  if (piece.size() >= 4 && piece.substr(0, 3) == "<0x" &&
      hexValue(piece[3]) >= 0) {
    int byte = hexValue(piece[3]);
    if (piece.size() >= 5 && hexValue(piece[4]) >= 0)
      byte = byte * 16 + hexValue(piece[4]);
    return std::string(1, char(byte));
  }
  return std::string(piece);
}

bool llamac::runtime::isPrintablePiece(std::string_view piece) {
  if (piece.empty() || piece[0] == '\0')
    return false;
  if (piece.size() == 1) {
    unsigned char byte = static_cast<unsigned char>(piece[0]);
    // isprint || isspace in the "C" locale, which run.c never changes.
    bool printable = byte >= 0x20 && byte < 0x7f;
    bool space = byte == ' ' || (byte >= '\t' && byte <= '\r');
    return printable || space;
  }
  return true;
}
