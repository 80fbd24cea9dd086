//===- Llama2cTokenizer.cpp - llama2.c's tokenizer.bin --------------------===//

#include "runtime/Llama2cTokenizer.h"

#include "runtime/AtomicFile.h"
#include "runtime/MappedFile.h"

#include <algorithm>
#include <cstring>

using namespace llamac::runtime;

StatusOr<std::unique_ptr<Llama2cTokenizer>>
Llama2cTokenizer::load(const std::string &path, int vocabSize) {
  if (vocabSize < 3)
    return Status::error(path +
                         ": vocab_size: must be at least 3 (<unk>, "
                         "<s>, </s>), got " +
                         std::to_string(vocabSize));
  StatusOr<std::shared_ptr<const MappedFile>> mapped = MappedFile::open(path);
  if (!mapped.ok())
    return mapped.status();
  const MappedFile &file = **mapped;
  const uint8_t *bytes = file.data();
  const size_t size = file.size();

  std::unique_ptr<Llama2cTokenizer> tokenizer(new Llama2cTokenizer());
  tokenizer->path = path;
  size_t pos = 0;
  auto readInt32 = [&](int32_t &value) {
    if (size - pos < 4)
      return false;
    std::memcpy(&value, bytes + pos, 4);
    pos += 4;
    return true;
  };
  int32_t maxLength = 0;
  if (!readInt32(maxLength))
    return Status::error(path + ": max_token_length: file has " +
                         std::to_string(size) + " bytes, fewer than 4");
  if (maxLength <= 0)
    return Status::error(path + ": max_token_length: must be positive, got " +
                         std::to_string(maxLength));
  tokenizer->maxTokenLen = maxLength;

  tokenizer->pieces.reserve(size_t(vocabSize));
  tokenizer->scores.reserve(size_t(vocabSize));
  for (int id = 0; id < vocabSize; ++id) {
    std::string token = path + ": token " + std::to_string(id) + ": ";
    float score;
    if (size - pos < 4)
      return Status::error(token +
                           "score runs past end of file (the model "
                           "has vocab_size " +
                           std::to_string(vocabSize) + ")");
    std::memcpy(&score, bytes + pos, 4);
    pos += 4;
    int32_t length = 0;
    if (!readInt32(length))
      return Status::error(token + "length runs past end of file");
    if (length < 0)
      return Status::error(token + "negative length " + std::to_string(length));
    if (size - pos < size_t(length))
      return Status::error(token + "length " + std::to_string(length) +
                           " runs past end of file");
    const char *text = reinterpret_cast<const char *>(bytes + pos);
    // run.c keeps the bytes as a C string, so everything from a NUL on is
    // invisible to its lookups, merges and printing.
    size_t visible = std::find(text, text + length, '\0') - text;
    tokenizer->pieces.emplace_back(text, visible);
    tokenizer->scores.push_back(score);
    pos += size_t(length);
  }

  tokenizer->sortedIds.resize(size_t(vocabSize));
  for (int id = 0; id < vocabSize; ++id)
    tokenizer->sortedIds[size_t(id)] = id;
  const std::vector<std::string> &pieces = tokenizer->pieces;
  // std::string compares bytes as unsigned char, like strcmp.
  std::sort(tokenizer->sortedIds.begin(), tokenizer->sortedIds.end(),
            [&](int a, int b) {
              int order = pieces[size_t(a)].compare(pieces[size_t(b)]);
              return order < 0 || (order == 0 && a < b);
            });
  return tokenizer;
}

int Llama2cTokenizer::lookup(std::string_view text) const {
  auto found = std::lower_bound(
      sortedIds.begin(), sortedIds.end(), text,
      [&](int id, std::string_view key) { return pieces[size_t(id)] < key; });
  if (found == sortedIds.end() || pieces[size_t(*found)] != text)
    return -1;
  return *found;
}

StatusOr<std::vector<int>> Llama2cTokenizer::encode(const std::string &input,
                                                    bool bos, bool eos) const {
  // run.c sees a C string: nothing after a NUL.
  std::string_view text(input.c_str());
  std::vector<int> tokens;
  if (bos)
    tokens.push_back(kBosId);

  // SentencePiece's add_dummy_prefix: a leading " " piece, for non-empty text.
  if (!text.empty()) {
    int dummyPrefix = lookup(" ");
    if (dummyPrefix < 0)
      return Status::error(path +
                           ": vocabulary has no \" \" piece for the dummy "
                           "prefix run.c's encode adds");
    tokens.push_back(dummyPrefix);
  }

  // One token per UTF-8 codepoint found in the vocabulary, else its bytes.
  std::string buffer;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    // Not a continuation byte: a new codepoint starts here.
    if ((c & 0xC0) != 0x80)
      buffer.clear();
    buffer += char(c);
    unsigned char next =
        i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    // run.c caps a codepoint at 4 bytes so stray continuations cannot
    // overrun its buffer.
    if ((next & 0xC0) == 0x80 && buffer.size() < 4)
      continue;
    int id = lookup(buffer);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      // Byte fallback: ids 3..258 are <0x00>..<0xFF>, after <unk>, <s>, </s>.
      for (char byte : buffer) {
        int byteId = static_cast<unsigned char>(byte) + 3;
        if (byteId >= vocabSize())
          return Status::error(
              path + ": byte fallback token " + std::to_string(byteId) +
              " is outside the vocabulary of " + std::to_string(vocabSize()));
        tokens.push_back(byteId);
      }
    }
    buffer.clear();
  }

  // Merge the best-scoring adjacent pair until no pair is in the vocabulary.
  std::string merged;
  while (true) {
    float bestScore = -1e10f;
    int bestId = -1;
    size_t bestIndex = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      merged = pieces[size_t(tokens[i])];
      merged += pieces[size_t(tokens[i + 1])];
      int id = lookup(merged);
      if (id != -1 && scores[size_t(id)] > bestScore) {
        bestScore = scores[size_t(id)];
        bestId = id;
        bestIndex = i;
      }
    }
    if (bestId == -1)
      break;
    tokens[bestIndex] = bestId;
    tokens.erase(tokens.begin() + std::ptrdiff_t(bestIndex) + 1);
  }

  if (eos)
    tokens.push_back(kEosId);
  return tokens;
}

std::string Llama2cTokenizer::decodePiece(int prevToken, int token) const {
  if (token < 0 || token >= vocabSize())
    return {};
  return decodeStoredPiece(pieces[size_t(token)], prevToken);
}

Status
llamac::runtime::writeLlama2cTokenizer(const std::string &path,
                                       const std::vector<std::string> &pieces,
                                       const std::vector<float> &scores) {
  if (pieces.size() != scores.size())
    return Status::error(path + ": scores: " + std::to_string(scores.size()) +
                         " scores for " + std::to_string(pieces.size()) +
                         " pieces");
  int32_t maxLength = 0;
  for (const std::string &piece : pieces)
    maxLength = std::max(maxLength, int32_t(piece.size()));
  return writeFileAtomically(path, [&](FileSink &sink) {
    sink.write(&maxLength, 4);
    for (size_t id = 0; id < pieces.size(); ++id) {
      int32_t length = int32_t(pieces[id].size());
      sink.write(&scores[id], 4);
      sink.write(&length, 4);
      sink.write(pieces[id].data(), pieces[id].size());
    }
    return Status::success();
  });
}
