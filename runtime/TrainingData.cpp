//===- TrainingData.cpp - A text corpus as training batches ---------------===//

#include "runtime/TrainingData.h"

#include "runtime/MappedFile.h"

#include <cstdio>

using namespace llamac;
using namespace llamac::runtime;

namespace {

/// splitmix64: a good 64-bit mix, so that neighbouring (step, row) pairs get
/// unrelated windows.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool isBlankLine(const std::string &text, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
      return false;
  return true;
}

/// Documents are runs of non-blank lines.
std::vector<std::string> splitDocuments(const std::string &text) {
  std::vector<std::string> documents;
  std::string current;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    if (isBlankLine(text, start, end)) {
      if (!current.empty())
        documents.push_back(std::move(current));
      current.clear();
    } else {
      if (!current.empty())
        current += '\n';
      current.append(text, start, end - start);
    }
    start = end + 1;
  }
  if (!current.empty())
    documents.push_back(std::move(current));
  return documents;
}

} // namespace

StatusOr<TokenStream>
llamac::runtime::tokenizeCorpus(const std::string &path,
                                const Tokenizer &tokenizer) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  const MappedFile &mapped = **file;
  std::string text(reinterpret_cast<const char *>(mapped.data()),
                   mapped.size());
  TokenStream stream;
  for (const std::string &document : splitDocuments(text)) {
    StatusOr<std::vector<int>> ids =
        tokenizer.encode(document, /*bos=*/true, /*eos=*/false);
    if (!ids.ok())
      return Status::error(path + ": document " +
                           std::to_string(stream.documents + 1) + ": " +
                           ids.status().message());
    stream.tokens.insert(stream.tokens.end(), ids->begin(), ids->end());
    ++stream.documents;
  }
  if (stream.documents == 0)
    return Status::error(path + ": no text to train on (the file is empty "
                                "or blank)");
  uint64_t hash = 0xcbf29ce484222325ull;
  for (int32_t token : stream.tokens)
    for (int byte = 0; byte < 4; ++byte) {
      hash ^= (uint32_t(token) >> (8 * byte)) & 0xff;
      hash *= 0x100000001b3ull;
    }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)hash);
  stream.hash = hex;
  return stream;
}

StatusOr<BatchSampler> BatchSampler::create(const TokenStream &stream,
                                            int64_t batch, int64_t seq,
                                            uint64_t seed,
                                            const std::string &origin) {
  if (int64_t(stream.tokens.size()) < seq + 1)
    return Status::error(origin + ": " + std::to_string(stream.tokens.size()) +
                         " tokens, too few for one training window of --seq " +
                         std::to_string(seq) + " + 1 tokens");
  return BatchSampler(stream, batch, seq, seed);
}

void BatchSampler::fillRow(Batch &out, int64_t row, int64_t start,
                           float weight) const {
  for (int64_t s = 0; s < seq; ++s) {
    out.tokens[size_t(row * seq + s)] = stream->tokens[size_t(start + s)];
    out.targets[size_t(row * seq + s)] = stream->tokens[size_t(start + s + 1)];
    out.lossWeights[size_t(row * seq + s)] = weight;
  }
}

Batch BatchSampler::trainBatch(int64_t step) const {
  Batch out;
  size_t cells = size_t(batch * seq);
  out.tokens.resize(cells);
  out.targets.resize(cells);
  out.lossWeights.resize(cells);
  uint64_t windows = uint64_t(stream->tokens.size()) - uint64_t(seq);
  for (int64_t row = 0; row < batch; ++row) {
    uint64_t key = mix(mix(seed) ^ mix(uint64_t(step) * 0x100000001b3ull +
                                       uint64_t(row)));
    fillRow(out, row, int64_t(key % windows), 1.0f);
  }
  return out;
}

int64_t BatchSampler::evalBatches(int64_t limit) const {
  int64_t windows = (int64_t(stream->tokens.size()) - 1) / seq;
  int64_t batches = (windows + batch - 1) / batch;
  return batches < limit ? batches : limit;
}

Batch BatchSampler::evalBatch(int64_t index) const {
  Batch out;
  size_t cells = size_t(batch * seq);
  out.tokens.resize(cells);
  out.targets.resize(cells);
  out.lossWeights.resize(cells);
  int64_t windows = (int64_t(stream->tokens.size()) - 1) / seq;
  for (int64_t row = 0; row < batch; ++row) {
    int64_t window = index * batch + row;
    // A missing window repeats the first with weight 0: valid token ids
    // that do not count.
    fillRow(out, row, window < windows ? window * seq : 0,
            window < windows ? 1.0f : 0.0f);
  }
  return out;
}
