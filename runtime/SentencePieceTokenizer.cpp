//===- SentencePieceTokenizer.cpp - Llama's .model via sentencepiece ------===//

#include "runtime/SentencePieceTokenizer.h"

#include <sentencepiece_processor.h>

using namespace llamac::runtime;

SentencePieceTokenizer::SentencePieceTokenizer()
    : processor(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

StatusOr<std::unique_ptr<SentencePieceTokenizer>>
SentencePieceTokenizer::load(const std::string &path, int vocabSize) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer(
      new SentencePieceTokenizer());
  tokenizer->path = path;
  sentencepiece::SentencePieceProcessor &processor = *tokenizer->processor;
  sentencepiece::util::Status loaded = processor.Load(path);
  if (!loaded.ok())
    return Status::error(
        path + ": not a valid SentencePiece model: " + loaded.ToString());
  int pieces = processor.GetPieceSize();
  if (vocabSize > 0 && pieces != vocabSize)
    return Status::error(
        path + ": vocab_size: the model has " + std::to_string(pieces) +
        " pieces, but the model header says " + std::to_string(vocabSize));
  if (processor.bos_id() != kBosId || processor.eos_id() != kEosId)
    return Status::error(
        path + ": bos/eos ids are " + std::to_string(processor.bos_id()) + "/" +
        std::to_string(processor.eos_id()) + ", but Llama (and run.c) use 1/2");

  // llama2.c's tokenizer.py export, piece by piece.
  tokenizer->storedPieces.reserve(size_t(pieces));
  for (int id = 0; id < pieces; ++id)
    tokenizer->storedPieces.push_back(
        exportedPiece(id, processor.IdToPiece(id)));
  return tokenizer;
}

StatusOr<std::vector<int>>
SentencePieceTokenizer::encode(const std::string &text, bool bos,
                               bool eos) const {
  std::vector<int> ids;
  sentencepiece::util::Status encoded = processor->Encode(text, &ids);
  if (!encoded.ok())
    return Status::error(path + ": cannot encode: " + encoded.ToString());
  std::vector<int> tokens;
  tokens.reserve(ids.size() + 2);
  if (bos)
    tokens.push_back(kBosId);
  tokens.insert(tokens.end(), ids.begin(), ids.end());
  if (eos)
    tokens.push_back(kEosId);
  return tokens;
}

std::string SentencePieceTokenizer::decodePiece(int prevToken,
                                                int token) const {
  if (token < 0 || token >= vocabSize())
    return {};
  return decodeStoredPiece(storedPieces[size_t(token)], prevToken);
}

float SentencePieceTokenizer::score(int id) const {
  return processor->GetScore(id);
}
