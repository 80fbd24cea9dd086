//===- TrainingData.cpp - A text corpus as training batches ---------------===//

#include "runtime/TrainingData.h"

#include "runtime/ChatFormat.h"
#include "runtime/Json.h"
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

std::string hashTokens(const std::vector<int32_t> &tokens,
                       const std::vector<float> &weights) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto add = [&](uint32_t word) {
    for (int byte = 0; byte < 4; ++byte) {
      hash ^= (word >> (8 * byte)) & 0xff;
      hash *= 0x100000001b3ull;
    }
  };
  for (int32_t token : tokens)
    add(uint32_t(token));
  for (float weight : weights)
    add(weight != 0);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)hash);
  return hex;
}

StatusOr<std::string> readText(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  const MappedFile &mapped = **file;
  return std::string(reinterpret_cast<const char *>(mapped.data()),
                     mapped.size());
}

} // namespace

StatusOr<TokenStream>
llamac::runtime::tokenizeDialogues(const std::string &path,
                                   const Tokenizer &tokenizer,
                                   LossTurns turns) {
  StatusOr<std::string> text = readText(path);
  if (!text.ok())
    return text.status();
  TokenStream stream;
  size_t start = 0, lineNumber = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos)
      end = text->size();
    std::string_view line(text->data() + start, end - start);
    start = end + 1;
    ++lineNumber;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos)
      continue;
    std::string where = path + ": line " + std::to_string(lineNumber);
    StatusOr<JsonValue> json = parseJson(line);
    if (!json.ok())
      return Status::error(where + ": " + json.status().message());
    const JsonValue *dialogue = json->get("turns");
    if (!dialogue || !dialogue->isArray() || dialogue->array.empty())
      return Status::error(where + ": turns: expected a non-empty array of "
                                   "{\"user\": ..., \"assistant\": ...}");
    std::string system;
    if (const JsonValue *value = json->get("system")) {
      if (!value->isString())
        return Status::error(where + ": system: expected a string");
      system = value->string;
    }
    stream.starts.push_back(stream.tokens.size());
    for (size_t t = 0; t < dialogue->array.size(); ++t) {
      const JsonValue &turn = dialogue->array[t];
      const JsonValue *user = turn.get("user");
      const JsonValue *assistant = turn.get("assistant");
      std::string field = "turns[" + std::to_string(t) + "]";
      if (!user || !user->isString() || !assistant || !assistant->isString())
        return Status::error(where + ": " + field +
                             ": expected {\"user\": STRING, \"assistant\": "
                             "STRING}");
      StatusOr<std::vector<int>> promptIds = tokenizer.encode(
          llama2ChatPrompt(user->string, t == 0 ? system : std::string()),
          /*bos=*/true, /*eos=*/false);
      StatusOr<std::vector<int>> answerIds =
          tokenizer.encode(assistant->string, /*bos=*/false, /*eos=*/true);
      if (!promptIds.ok() || !answerIds.ok())
        return Status::error(where + ": " + field + ": " +
                             (promptIds.ok() ? answerIds.status()
                                             : promptIds.status())
                                 .message());
      float weight =
          turns == LossTurns::All || t + 1 == dialogue->array.size() ? 1 : 0;
      for (int id : *promptIds) {
        stream.tokens.push_back(id);
        stream.weights.push_back(0);
      }
      for (int id : *answerIds) {
        stream.tokens.push_back(id);
        stream.weights.push_back(weight);
      }
    }
    ++stream.documents;
  }
  if (stream.documents == 0)
    return Status::error(path + ": no dialogues to train on (the file is "
                                "empty or blank)");
  stream.hash = hashTokens(stream.tokens, stream.weights);
  return stream;
}

StatusOr<TokenStream>
llamac::runtime::tokenizeCorpus(const std::string &path,
                                const Tokenizer &tokenizer) {
  StatusOr<std::string> text = readText(path);
  if (!text.ok())
    return text.status();
  TokenStream stream;
  for (const std::string &document : splitDocuments(*text)) {
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
  stream.hash = hashTokens(stream.tokens, stream.weights);
  return stream;
}

StatusOr<BatchSampler> BatchSampler::create(const TokenStream &stream,
                                            int64_t batch, int64_t seq,
                                            uint64_t seed,
                                            const std::string &origin) {
  if (stream.starts.empty() && int64_t(stream.tokens.size()) < seq + 1)
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

void BatchSampler::fillDialogue(Batch &out, int64_t row, int64_t index) const {
  size_t count = stream->starts.size();
  size_t begin = index < int64_t(count) ? stream->starts[size_t(index)] : 0;
  size_t end = index + 1 < int64_t(count) ? stream->starts[size_t(index) + 1]
               : index < int64_t(count)   ? stream->tokens.size()
                                          : 0;
  for (int64_t s = 0; s < seq; ++s) {
    size_t at = size_t(row * seq + s), next = begin + size_t(s) + 1;
    bool inside = next < end;
    // Padding: BOS predicting BOS, weight 0 (valid ids that do not count).
    out.tokens[at] = inside ? stream->tokens[next - 1] : Tokenizer::kBosId;
    out.targets[at] = inside ? stream->tokens[next] : Tokenizer::kBosId;
    out.lossWeights[at] = inside ? stream->weights[next] : 0.0f;
  }
}

Batch BatchSampler::emptyBatch() const {
  Batch out;
  size_t cells = size_t(batch * seq);
  out.tokens.resize(cells);
  out.targets.resize(cells);
  out.lossWeights.resize(cells);
  return out;
}

Batch BatchSampler::trainBatch(int64_t step) const {
  Batch out = emptyBatch();
  uint64_t choices = dialogues()
                         ? uint64_t(stream->starts.size())
                         : uint64_t(stream->tokens.size()) - uint64_t(seq);
  for (int64_t row = 0; row < batch; ++row) {
    uint64_t key = mix(mix(seed) ^ mix(uint64_t(step) * 0x100000001b3ull +
                                       uint64_t(row)));
    if (dialogues())
      fillDialogue(out, row, int64_t(key % choices));
    else
      fillRow(out, row, int64_t(key % choices), 1.0f);
  }
  return out;
}

int64_t BatchSampler::evalBatches(int64_t limit) const {
  int64_t windows = dialogues() ? int64_t(stream->starts.size())
                                : (int64_t(stream->tokens.size()) - 1) / seq;
  int64_t batches = (windows + batch - 1) / batch;
  return batches < limit ? batches : limit;
}

Batch BatchSampler::evalBatch(int64_t index) const {
  Batch out = emptyBatch();
  int64_t windows = (int64_t(stream->tokens.size()) - 1) / seq;
  for (int64_t row = 0; row < batch; ++row) {
    int64_t window = index * batch + row;
    if (dialogues()) {
      fillDialogue(out, row, window);
      continue;
    }
    // A missing window repeats the first with weight 0: valid token ids
    // that do not count.
    fillRow(out, row, window < windows ? window * seq : 0,
            window < windows ? 1.0f : 0.0f);
  }
  return out;
}
