//===- HFTokenizer.cpp - Hugging Face tokenizer.json for Llama ------------===//

#include "runtime/HFTokenizer.h"

#include "runtime/Json.h"
#include "runtime/MappedFile.h"

#include <algorithm>
#include <cstdio>
#include <queue>
#include <tuple>

using namespace llamac::runtime;

namespace {

const char kSpaceMark[] = "\xE2\x96\x81"; // U+2581 "▁"

std::string replaceAll(std::string text, const std::string &pattern,
                       const std::string &content) {
  if (pattern.empty())
    return text;
  for (size_t pos = text.find(pattern); pos != std::string::npos;
       pos = text.find(pattern, pos + content.size()))
    text.replace(pos, pattern.size(), content);
  return text;
}

/// The byte length of the valid UTF-8 character at `text[at]`, or 0 when
/// none starts there (a stray continuation byte, an overlong form, a
/// surrogate, or a truncated sequence).
size_t utf8Length(const std::string &text, size_t at) {
  auto byte = [&](size_t i) -> unsigned {
    return at + i < text.size() ? (unsigned char)text[at + i] : 0;
  };
  auto continuation = [&](size_t i, unsigned low = 0x80, unsigned high = 0xBF) {
    return byte(i) >= low && byte(i) <= high;
  };
  unsigned lead = byte(0);
  if (lead < 0x80)
    return 1;
  if (lead >= 0xC2 && lead <= 0xDF)
    return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    bool second = lead == 0xE0   ? continuation(1, 0xA0)
                  : lead == 0xED ? continuation(1, 0x80, 0x9F)
                                 : continuation(1);
    return second && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    bool second = lead == 0xF0   ? continuation(1, 0x90)
                  : lead == 0xF4 ? continuation(1, 0x80, 0x8F)
                                 : continuation(1);
    return second && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

/// `text` with each byte that starts no valid UTF-8 character replaced by
/// U+FFFD, as SentencePiece reads its input (and as Python's decode with
/// errors="replace" would hand it to tokenizers).
std::string validUtf8(const std::string &text) {
  std::string valid;
  valid.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    size_t length = utf8Length(text, at);
    if (length == 0) {
      valid += "\xEF\xBF\xBD";
      ++at;
      continue;
    }
    valid.append(text, at, length);
    at += length;
  }
  return valid;
}

bool isNullOrMissing(const JsonValue *value) {
  return !value || value->kind == JsonValue::Kind::Null;
}

} // namespace

StatusOr<std::unique_ptr<HFTokenizer>>
HFTokenizer::load(const std::string &path, int vocabSize) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  StatusOr<JsonValue> root = parseJson(std::string_view(
      reinterpret_cast<const char *>((*file)->data()), (*file)->size()));
  if (!root.ok())
    return Status::error(path + ": invalid JSON: " + root.message());
  if (!root->isObject())
    return Status::error(path + ": not a JSON object");

  std::unique_ptr<HFTokenizer> tokenizer(new HFTokenizer());
  tokenizer->path = path;
  auto error = [&](const std::string &field, const std::string &reason) {
    return Status::error(path + ": " + field + ": " + reason);
  };
  const JsonValue *model = root->get("model");
  if (!model || !model->isObject())
    return error("model", "missing or not an object");
  const JsonValue *type = model->get("type");
  if (type && (!type->isString() || type->string != "BPE"))
    return error("model.type",
                 (type->isString() ? "\"" + type->string + "\"" : "not text") +
                     "; llamac reads Llama's BPE tokenizers");

  // The vocabulary: ids 0..N-1, each once.
  const JsonValue *vocab = model->get("vocab");
  if (!vocab || !vocab->isObject() || vocab->object.empty())
    return error("model.vocab", "missing, empty or not an object");
  std::vector<std::string> pieces(vocab->object.size());
  std::vector<bool> seen(pieces.size(), false);
  for (const auto &[piece, id] : vocab->object) {
    if (!id.isUnsigned || id.unsignedValue >= pieces.size() ||
        seen[id.unsignedValue])
      return error("model.vocab",
                   "\"" + piece + "\" has id " +
                       (id.isUnsigned ? std::to_string(id.unsignedValue)
                                      : std::string("not a count")) +
                       "; the ids must be 0 to " +
                       std::to_string(pieces.size() - 1) + ", each once");
    seen[id.unsignedValue] = true;
    pieces[id.unsignedValue] = piece;
    tokenizer->idOf[piece] = int(id.unsignedValue);
  }
  // Added tokens beyond the vocabulary extend it, in id order.
  if (const JsonValue *added = root->get("added_tokens");
      added && added->isArray())
    for (const JsonValue &token : added->array) {
      const JsonValue *id = token.get("id");
      const JsonValue *content = token.get("content");
      if (!id || !id->isUnsigned || !content || !content->isString())
        return error("added_tokens", "an entry without id or content");
      if (id->unsignedValue < pieces.size()) {
        if (pieces[id->unsignedValue] != content->string)
          return error("added_tokens", "\"" + content->string + "\" has id " +
                                           std::to_string(id->unsignedValue) +
                                           ", which the vocabulary gives \"" +
                                           pieces[id->unsignedValue] + "\"");
        continue;
      }
      if (id->unsignedValue != pieces.size())
        return error("added_tokens",
                     "\"" + content->string + "\" has id " +
                         std::to_string(id->unsignedValue) +
                         ", leaving a gap after the vocabulary's " +
                         std::to_string(pieces.size()));
      tokenizer->idOf[content->string] = int(pieces.size());
      pieces.push_back(content->string);
    }
  if (vocabSize > 0 && int(pieces.size()) != vocabSize)
    return error("model.vocab", "the tokenizer has " +
                                    std::to_string(pieces.size()) +
                                    " pieces, but the model header says " +
                                    std::to_string(vocabSize));
  auto idOf = [&](const std::string &piece) {
    auto found = tokenizer->idOf.find(piece);
    return found == tokenizer->idOf.end() ? -1 : found->second;
  };
  if (idOf("<s>") != kBosId || idOf("</s>") != kEosId)
    return error("model.vocab", "<s> and </s> have ids " +
                                    std::to_string(idOf("<s>")) + " and " +
                                    std::to_string(idOf("</s>")) +
                                    ", but Llama (and run.c) use 1 and 2");

  // Merges: "left right" (tokenizers before 0.20) or [left, right], ranked
  // by their order.
  const JsonValue *merges = model->get("merges");
  if (!merges || !merges->isArray())
    return error("model.merges", "missing or not an array");
  for (size_t rank = 0; rank < merges->array.size(); ++rank) {
    const JsonValue &merge = merges->array[rank];
    std::string left, right;
    if (merge.isString()) {
      size_t space = merge.string.find(' ');
      if (space == std::string::npos)
        return error("model.merges", "entry " + std::to_string(rank) +
                                         " is not \"left right\"");
      left = merge.string.substr(0, space);
      right = merge.string.substr(space + 1);
    } else if (merge.isArray() && merge.array.size() == 2 &&
               merge.array[0].isString() && merge.array[1].isString()) {
      left = merge.array[0].string;
      right = merge.array[1].string;
    } else {
      return error("model.merges", "entry " + std::to_string(rank) +
                                       " is not a pair of pieces");
    }
    int leftId = idOf(left), rightId = idOf(right),
        mergedId = idOf(left + right);
    if (leftId < 0 || rightId < 0 || mergedId < 0)
      return error(
          "model.merges",
          "entry " + std::to_string(rank) + " (\"" + left + "\", \"" + right +
              "\"): " + (leftId < 0 || rightId < 0 ? "a piece" : "the merge") +
              " is not in the vocabulary");
    // The first rank of a pair counts, as in tokenizers.
    tokenizer->merges.emplace(std::make_pair(leftId, rightId),
                              std::make_pair(int(rank), mergedId));
  }

  for (const char *field : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const JsonValue *value = model->get(field);
        !isNullOrMissing(value) &&
        !(value->isString() && value->string.empty()))
      return error(std::string("model.") + field,
                   "set; Llama's tokenizers have none");
  if (!isNullOrMissing(model->get("dropout")))
    return error("model.dropout",
                 "set; BPE dropout is for training a tokenizer");
  auto flag = [&](const char *field) {
    const JsonValue *value = model->get(field);
    return value && value->kind == JsonValue::Kind::Bool && value->boolean;
  };
  tokenizer->byteFallback = flag("byte_fallback");
  tokenizer->fuseUnk = flag("fuse_unk");
  tokenizer->ignoreMerges = flag("ignore_merges");
  if (const JsonValue *unk = model->get("unk_token"); unk && unk->isString()) {
    tokenizer->unkId = idOf(unk->string);
    if (tokenizer->unkId < 0)
      return error("model.unk_token",
                   "\"" + unk->string + "\" is not in the vocabulary");
  }

  // Normalizer: Llama's legacy one is Sequence[Prepend("▁"), Replace(" ",
  // "▁")].
  std::vector<const JsonValue *> steps;
  if (const JsonValue *normalizer = root->get("normalizer");
      !isNullOrMissing(normalizer)) {
    const JsonValue *kind = normalizer->get("type");
    const JsonValue *inner = normalizer->get("normalizers");
    if (kind && kind->isString() && kind->string == "Sequence" && inner &&
        inner->isArray())
      for (const JsonValue &step : inner->array)
        steps.push_back(&step);
    else
      steps.push_back(normalizer);
  }
  for (const JsonValue *step : steps) {
    const JsonValue *kind = step->get("type");
    std::string name = kind && kind->isString() ? kind->string : "?";
    NormalizerStep parsed;
    if (name == "Prepend") {
      const JsonValue *content = step->get("prepend");
      if (!content || !content->isString())
        return error("normalizer", "Prepend without a prepend string");
      parsed.prepend = true;
      parsed.content = content->string;
    } else if (name == "Replace") {
      const JsonValue *pattern = step->get("pattern");
      const JsonValue *literal = pattern ? pattern->get("String") : nullptr;
      const JsonValue *content = step->get("content");
      if (!literal || !literal->isString() || !content || !content->isString())
        return error("normalizer", "Replace other than of a String pattern");
      parsed.pattern = literal->string;
      parsed.content = content->string;
    } else {
      return error("normalizer", name +
                                     " is not supported (llamac reads Llama's "
                                     "normalizers: Prepend and Replace)");
    }
    tokenizer->normalizer.push_back(std::move(parsed));
  }

  // Pre-tokenizer: none (legacy), or Metaspace.
  if (const JsonValue *pre = root->get("pre_tokenizer");
      !isNullOrMissing(pre)) {
    const JsonValue *kind = pre->get("type");
    if (!kind || !kind->isString() || kind->string != "Metaspace")
      return error(
          "pre_tokenizer",
          (kind && kind->isString() ? kind->string : std::string("?")) +
              " is not supported (llamac reads Llama's: none, or Metaspace)");
    const JsonValue *replacement = pre->get("replacement");
    tokenizer->metaspace = replacement && replacement->isString()
                               ? replacement->string
                               : std::string(kSpaceMark);
    const JsonValue *scheme = pre->get("prepend_scheme");
    const JsonValue *addPrefix = pre->get("add_prefix_space");
    tokenizer->metaspacePrepend =
        scheme && scheme->isString()
            ? scheme->string != "never"
            : !(addPrefix && addPrefix->kind == JsonValue::Kind::Bool &&
                !addPrefix->boolean);
    const JsonValue *split = pre->get("split");
    tokenizer->metaspaceSplit =
        !(split && split->kind == JsonValue::Kind::Bool && !split->boolean);
  }

  // Printed as llama2.c's export stores pieces.
  for (size_t id = 0; id < pieces.size(); ++id)
    tokenizer->storedPieces.push_back(exportedPiece(int(id), pieces[id]));
  return tokenizer;
}

std::string HFTokenizer::normalize(const std::string &text) const {
  std::string normalized = text;
  for (const NormalizerStep &step : normalizer)
    normalized =
        step.prepend
            ? (normalized.empty() ? normalized : step.content + normalized)
            : replaceAll(std::move(normalized), step.pattern, step.content);
  if (!metaspace.empty()) {
    normalized = replaceAll(std::move(normalized), " ", metaspace);
    if (metaspacePrepend && !normalized.empty() &&
        normalized.compare(0, metaspace.size(), metaspace) != 0)
      normalized = metaspace + normalized;
  }
  return normalized;
}

Status HFTokenizer::encodeWord(const std::string &word,
                               std::vector<int> &ids) const {
  if (ignoreMerges) {
    auto whole = idOf.find(word);
    if (whole != idOf.end()) {
      ids.push_back(whole->second);
      return Status::success();
    }
  }
  struct Symbol {
    int id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  auto push = [&](int id) {
    int index = int(symbols.size());
    symbols.push_back({id, index - 1, -1, true});
    if (index > 0)
      symbols[size_t(index - 1)].next = index;
  };
  for (size_t at = 0; at < word.size();) {
    // The text is valid UTF-8 by now (validUtf8).
    size_t length = std::max<size_t>(1, utf8Length(word, at));
    std::string character = word.substr(at, length);
    at += length;
    auto found = idOf.find(character);
    if (found != idOf.end()) {
      push(found->second);
      continue;
    }
    if (byteFallback) {
      std::vector<int> bytes;
      for (unsigned char byte : character) {
        char piece[8];
        std::snprintf(piece, sizeof(piece), "<0x%02X>", byte);
        auto byteId = idOf.find(piece);
        if (byteId == idOf.end())
          break;
        bytes.push_back(byteId->second);
      }
      if (bytes.size() == character.size()) {
        for (int id : bytes)
          push(id);
        continue;
      }
    }
    if (unkId < 0)
      return Status::error(path + ": \"" + character +
                           "\" is outside the vocabulary, and the tokenizer "
                           "has no unk_token");
    if (!(fuseUnk && !symbols.empty() && symbols.back().id == unkId))
      push(unkId);
  }

  // Lowest rank first, leftmost on ties; an entry is stale when either
  // symbol it joined has changed since.
  using Candidate = std::tuple<int, int, int, int>; // rank, pos, left, right
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int pos) {
    if (pos < 0 || symbols[size_t(pos)].next < 0)
      return;
    int left = symbols[size_t(pos)].id;
    int right = symbols[size_t(symbols[size_t(pos)].next)].id;
    auto merge = merges.find({left, right});
    if (merge != merges.end())
      queue.emplace(merge->second.first, pos, left, right);
  };
  for (int pos = 0; pos + 1 < int(symbols.size()); ++pos)
    consider(pos);
  while (!queue.empty()) {
    auto [rank, pos, left, right] = queue.top();
    queue.pop();
    Symbol &symbol = symbols[size_t(pos)];
    if (!symbol.alive || symbol.next < 0 || symbol.id != left ||
        symbols[size_t(symbol.next)].id != right)
      continue;
    Symbol &absorbed = symbols[size_t(symbol.next)];
    symbol.id = merges.at({left, right}).second;
    absorbed.alive = false;
    symbol.next = absorbed.next;
    if (symbol.next >= 0)
      symbols[size_t(symbol.next)].prev = pos;
    consider(symbol.prev);
    consider(pos);
  }
  for (const Symbol &symbol : symbols)
    if (symbol.alive)
      ids.push_back(symbol.id);
  return Status::success();
}

StatusOr<std::vector<int>> HFTokenizer::encode(const std::string &text,
                                               bool bos, bool eos) const {
  std::vector<int> ids;
  if (bos)
    ids.push_back(kBosId);
  std::string normalized = normalize(validUtf8(text));
  // Metaspace's split: each word starts at a "▁" (the text before the
  // first one is a word too).
  std::vector<std::string> words;
  if (metaspaceSplit && !metaspace.empty()) {
    size_t start = 0;
    for (size_t pos = normalized.find(metaspace, 1); pos != std::string::npos;
         pos = normalized.find(metaspace, pos + metaspace.size())) {
      words.push_back(normalized.substr(start, pos - start));
      start = pos;
    }
    words.push_back(normalized.substr(start));
  } else {
    words.push_back(normalized);
  }
  for (const std::string &word : words)
    if (!word.empty()) {
      Status status = encodeWord(word, ids);
      if (!status.ok())
        return status;
    }
  if (eos)
    ids.push_back(kEosId);
  return ids;
}

std::string HFTokenizer::decodePiece(int prevToken, int token) const {
  if (token < 0 || token >= vocabSize())
    return {};
  return decodeStoredPiece(storedPieces[size_t(token)], prevToken);
}
