//===- HFTokenizerTest.cpp - Hugging Face tokenizer.json ------------------===//
//
// Small hand-written tokenizer.json files for the BPE rules and the errors,
// and Meta's 32000-piece tokenizer written as tokenizer.json the way
// transformers' LlamaConverter writes it, which must encode every text as
// SentencePiece itself does.
//
//===----------------------------------------------------------------------===//

#include "runtime/HFTokenizer.h"

#include "runtime/Json.h"
#include "runtime/SentencePieceTokenizer.h"

#include "TestAssets.h"

#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <map>

using namespace llamac::runtime;
using llamac::test::TempDir;

namespace {

const std::string kSpace = "\xE2\x96\x81"; // "▁"

/// A tokenizer.json with Llama's legacy normalizer and no pre-tokenizer;
/// `vocab` lists pieces in id order after <unk>, <s>, </s>.
std::string tokenizerJson(const std::vector<std::string> &vocab,
                          const std::vector<std::string> &merges,
                          const std::string &extraModel = "",
                          const std::string &normalizer = "",
                          const std::string &preTokenizer = "null") {
  std::string json = "{\"added_tokens\": [], \"normalizer\": ";
  json += normalizer.empty()
              ? "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": "
                "\"Prepend\", \"prepend\": \"" +
                    kSpace +
                    "\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": "
                    "\" \"}, \"content\": \"" +
                    kSpace + "\"}]}"
              : normalizer;
  json += ", \"pre_tokenizer\": " + preTokenizer +
          ", \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", "
          "\"byte_fallback\": true, \"fuse_unk\": true" +
          extraModel + ", \"vocab\": {";
  std::vector<std::string> all = {"<unk>", "<s>", "</s>"};
  all.insert(all.end(), vocab.begin(), vocab.end());
  for (size_t id = 0; id < all.size(); ++id)
    json += (id ? ", " : "") + quoteJson(all[id]) + ": " + std::to_string(id);
  json += "}, \"merges\": [";
  for (size_t i = 0; i < merges.size(); ++i)
    json += (i ? ", " : "") + quoteJson(merges[i]);
  return json + "]}}";
}

StatusOr<std::unique_ptr<HFTokenizer>>
load(const TempDir &dir, const std::string &json, int vocabSize = 0) {
  std::string path = dir.file("tokenizer.json");
  llamac::test::writeBytes(path,
                           std::vector<uint8_t>(json.begin(), json.end()));
  return HFTokenizer::load(path, vocabSize);
}

std::vector<int> encode(const HFTokenizer &tokenizer, const std::string &text) {
  StatusOr<std::vector<int>> ids = tokenizer.encode(text, false, false);
  EXPECT_TRUE(ids.ok()) << ids.message();
  return ids.ok() ? *ids : std::vector<int>{};
}

TEST(HFTokenizerTest, MergesLowestRankFirstThenLeftmost) {
  TempDir dir;
  // ids: ▁ 3, a 4, b 5, ▁a 6, ab 7, ▁ab 8, aa 9
  StatusOr<std::unique_ptr<HFTokenizer>> tokenizer = load(
      dir,
      tokenizerJson({kSpace, "a", "b", kSpace + "a", "ab", kSpace + "ab", "aa"},
                    {"a b", kSpace + " ab", kSpace + " a", "a a"}));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  // "▁ab": a+b (rank 0) first, then ▁+ab (rank 1), never ▁+a (rank 2).
  EXPECT_EQ(encode(**tokenizer, "ab"), std::vector<int>{8});
  // "▁aaa": ▁+a (rank 2) beats a+a (rank 3); then a+a.
  EXPECT_EQ(encode(**tokenizer, "aaa"), (std::vector<int>{6, 9}));
  // Spaces become ▁; an empty text stays empty (no prefix).
  EXPECT_EQ(encode(**tokenizer, "ab ab"), (std::vector<int>{8, 8}));
  EXPECT_EQ(encode(**tokenizer, ""), std::vector<int>{});
  EXPECT_EQ((*tokenizer)->normalize("a b"), kSpace + "a" + kSpace + "b");
  // BOS and EOS on request; special tokens in the text are text.
  StatusOr<std::vector<int>> ids = (*tokenizer)->encode("b", true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int>{1, 3, 5, 2}));
}

TEST(HFTokenizerTest, FallsBackToBytesThenUnk) {
  TempDir dir;
  // "é" is C3 A9; only C3 has a byte piece.
  StatusOr<std::unique_ptr<HFTokenizer>> tokenizer =
      load(dir, tokenizerJson({kSpace, "<0xC3>", "<0xA9>", "x"}, {}));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  EXPECT_EQ(encode(**tokenizer, "x\xC3\xA9"), (std::vector<int>{3, 6, 4, 5}));
  StatusOr<std::unique_ptr<HFTokenizer>> partial =
      load(dir, tokenizerJson({kSpace, "<0xC3>", "x"}, {}));
  ASSERT_TRUE(partial.ok()) << partial.message();
  // Not every byte has a piece: unk, and consecutive unks fuse.
  EXPECT_EQ(encode(**partial, "x\xC3\xA9\xC3\xA9"),
            (std::vector<int>{3, 5, 0}));
  // Decoding: byte pieces print as their byte, ▁ as a space.
  EXPECT_EQ((*tokenizer)->decodePiece(5, 4), "\xC3");
  EXPECT_EQ((*tokenizer)->decodePiece(5, 3), " ");
  EXPECT_EQ((*tokenizer)->decodePiece(1, 3), "");
}

TEST(HFTokenizerTest, MetaspaceSplitsWords) {
  TempDir dir;
  // With split, "▁a▁b" is two words, so the cross-word merge "a▁" never
  // applies.
  std::string metaspace = "{\"type\": \"Metaspace\", \"replacement\": \"" +
                          kSpace +
                          "\", \"prepend_scheme\": \"first\", \"split\": ";
  std::vector<std::string> vocab = {kSpace, "a", "b", "a" + kSpace,
                                    "a" + kSpace + "b"};
  std::vector<std::string> merges = {"a " + kSpace, "a" + kSpace + " b"};
  StatusOr<std::unique_ptr<HFTokenizer>> split =
      load(dir, tokenizerJson(vocab, merges, "", "null", metaspace + "true}"));
  ASSERT_TRUE(split.ok()) << split.message();
  EXPECT_EQ(encode(**split, "a b"), (std::vector<int>{3, 4, 3, 5}));
  StatusOr<std::unique_ptr<HFTokenizer>> whole =
      load(dir, tokenizerJson(vocab, merges, "", "null", metaspace + "false}"));
  ASSERT_TRUE(whole.ok()) << whole.message();
  EXPECT_EQ(encode(**whole, "a b"), (std::vector<int>{3, 7}));
}

TEST(HFTokenizerTest, ReportsWhatItCannotRead) {
  TempDir dir;
  std::string path = dir.file("tokenizer.json");
  EXPECT_EQ(load(dir, tokenizerJson({kSpace}, {"a b"})).message(),
            path + ": model.merges: entry 0 (\"a\", \"b\"): a piece is not in "
                   "the vocabulary");
  EXPECT_EQ(load(dir, tokenizerJson({kSpace, "a"}, {"a a"})).message(),
            path + ": model.merges: entry 0 (\"a\", \"a\"): the merge is not "
                   "in the vocabulary");
  EXPECT_EQ(load(dir, tokenizerJson({kSpace}, {}), 32000).message(),
            path + ": model.vocab: the tokenizer has 4 pieces, but the model "
                   "header says 32000");
  EXPECT_EQ(load(dir, tokenizerJson({kSpace}, {}, "", "{\"type\": \"NFKC\"}"))
                .message(),
            path + ": normalizer: NFKC is not supported (llamac reads "
                   "Llama's normalizers: Prepend and Replace)");
  EXPECT_EQ(load(dir, tokenizerJson({kSpace}, {}, "", "",
                                    "{\"type\": \"ByteLevel\"}"))
                .message(),
            path + ": pre_tokenizer: ByteLevel is not supported (llamac "
                   "reads Llama's: none, or Metaspace)");
  EXPECT_EQ(load(dir, "{\"model\": {\"type\": \"WordPiece\"}}").message(),
            path + ": model.type: \"WordPiece\"; llamac reads Llama's BPE "
                   "tokenizers");
  EXPECT_EQ(load(dir, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1}, "
                      "\"merges\": []}}")
                .message(),
            path + ": model.vocab: \"a\" has id 1; the ids must be 0 to 0, "
                   "each once");
}

/// Meta's tokenizer as transformers' LlamaConverter writes tokenizer.json:
/// the pieces by id, and as merges every split of every piece into two
/// pieces, ordered by the merged piece's score (highest first), then by
/// the halves' ids (SentencePieceExtractor.extract).
std::string
llamaTokenizerJson(const sentencepiece::SentencePieceProcessor &sp) {
  std::map<std::string, int> vocab;
  std::vector<std::string> pieces;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    pieces.push_back(sp.IdToPiece(id));
    vocab[pieces.back()] = id;
  }
  struct Merge {
    std::string left, right;
    float score;
  };
  std::vector<int> byScore(pieces.size());
  for (size_t i = 0; i < byScore.size(); ++i)
    byScore[i] = int(i);
  std::stable_sort(byScore.begin(), byScore.end(), [&](int a, int b) {
    return sp.GetScore(a) > sp.GetScore(b);
  });
  std::vector<Merge> merges;
  for (int id : byScore) {
    const std::string &piece = pieces[size_t(id)];
    std::vector<Merge> local;
    for (size_t cut = 1; cut < piece.size(); ++cut) {
      if ((piece[cut] & 0xC0) == 0x80) // inside a UTF-8 character
        continue;
      std::string left = piece.substr(0, cut), right = piece.substr(cut);
      if (vocab.count(left) && vocab.count(right))
        local.push_back({left, right, sp.GetScore(id)});
    }
    std::stable_sort(local.begin(), local.end(),
                     [&](const Merge &a, const Merge &b) {
                       return std::make_pair(vocab[a.left], vocab[a.right]) <
                              std::make_pair(vocab[b.left], vocab[b.right]);
                     });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::string json =
      "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": "
      "\"<unk>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", "
      "\"special\": true}, {\"id\": 2, \"content\": \"</s>\", \"special\": "
      "true}], \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": "
      "[{\"type\": \"Prepend\", \"prepend\": \"" +
      kSpace +
      "\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "
      "\"content\": \"" +
      kSpace +
      "\"}]}, \"pre_tokenizer\": null, \"model\": {\"type\": \"BPE\", "
      "\"dropout\": null, \"unk_token\": \"<unk>\", "
      "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, "
      "\"fuse_unk\": true, \"byte_fallback\": true, \"vocab\": {";
  for (size_t id = 0; id < pieces.size(); ++id)
    json +=
        (id ? ", " : "") + quoteJson(pieces[id]) + ": " + std::to_string(id);
  json += "}, \"merges\": [";
  for (size_t i = 0; i < merges.size(); ++i)
    json += (i ? ", " : "") + quoteJson(merges[i].left + " " + merges[i].right);
  return json + "]}}";
}

TEST(HFTokenizerTest, EncodesMetasTokenizerAsSentencePieceDoes) {
  LLAMAC_REQUIRE_MODEL(modelPath, "llama2-tokenizer.model");
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(modelPath).ok());
  TempDir dir;
  StatusOr<std::unique_ptr<HFTokenizer>> hf =
      load(dir, llamaTokenizerJson(sp), 32000);
  ASSERT_TRUE(hf.ok()) << hf.message();
  StatusOr<std::unique_ptr<Tokenizer>> reference =
      loadTokenizer(modelPath, 32000);
  ASSERT_TRUE(reference.ok()) << reference.message();

  std::vector<std::string> texts = {
      "Hello world",
      "Once upon a time, there was a little girl named Lily.",
      " leading space",
      "trailing space ",
      "  two  spaces   three",
      "line one\nline two\n\n\ttabbed",
      "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2+2? [/INST]",
      "numbers 1234567890 3.14159 -42",
      "naïve café déjà vu, Größe, Ærø",
      "日本語のテキストと中文文本",
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x9A\x80 and \xE2\x9C\x93",
      "code: for (int i = 0; i < n; ++i) { sum += a[i]; }",
      "<s> and </s> are text here",
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
      "\xC3\x28 invalid UTF-8 \xFF",
  };
  // And every paragraph of the README: prose, code, tables and symbols.
  std::vector<uint8_t> readme =
      llamac::test::readBytes(std::string(LLAMAC_SOURCE_DIR) + "/README.md");
  std::string text(readme.begin(), readme.end());
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find("\n\n", start);
    end = end == std::string::npos ? text.size() : end;
    texts.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  ASSERT_GT(texts.size(), 50u);
  for (const std::string &text : texts) {
    StatusOr<std::vector<int>> expected =
        (*reference)->encode(text, true, false);
    ASSERT_TRUE(expected.ok()) << expected.message();
    StatusOr<std::vector<int>> actual = (*hf)->encode(text, true, false);
    ASSERT_TRUE(actual.ok()) << actual.message();
    EXPECT_EQ(*actual, *expected) << "text: " << text;
    for (size_t i = 1; i < actual->size(); ++i)
      EXPECT_EQ((*hf)->decodePiece((*actual)[i - 1], (*actual)[i]),
                (*reference)->decodePiece((*actual)[i - 1], (*actual)[i]));
  }
}

} // namespace
