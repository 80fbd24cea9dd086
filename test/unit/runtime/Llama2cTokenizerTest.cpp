//===- Llama2cTokenizerTest.cpp - tokenizer.bin and the factory -----------===//

#include "runtime/Llama2cTokenizer.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace llamac::runtime;
using llamac::test::readBytes;
using llamac::test::TempDir;
using llamac::test::writeBytes;

namespace {

std::unique_ptr<Llama2cTokenizer> loadTok512(const std::string &path) {
  StatusOr<std::unique_ptr<Llama2cTokenizer>> loaded =
      Llama2cTokenizer::load(path, 512);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

/// Decodes ids one by one as run.c's generate loop prints them.
std::string decodeAll(const Tokenizer &tokenizer, const std::vector<int> &ids) {
  std::string text;
  for (size_t i = 1; i < ids.size(); ++i)
    text += tokenizer.decodePiece(ids[i - 1], ids[i]);
  return text;
}

TEST(Llama2cTokenizerTest, LoadsTok512) {
  LLAMAC_REQUIRE_MODEL(path, "tok512.bin");
  std::unique_ptr<Llama2cTokenizer> tokenizer = loadTok512(path);
  ASSERT_TRUE(tokenizer);
  EXPECT_EQ(tokenizer->vocabSize(), 512);
  EXPECT_EQ(tokenizer->maxTokenLength(), 7);
  EXPECT_EQ(tokenizer->piece(0), "<unk>");
  EXPECT_EQ(tokenizer->piece(1), "\n<s>\n");
  EXPECT_EQ(tokenizer->piece(2), "\n</s>\n");
  EXPECT_EQ(tokenizer->piece(3), "<0x00>");
  EXPECT_EQ(tokenizer->piece(259), " t");
  EXPECT_EQ(tokenizer->score(260), -1.0f);
}

TEST(Llama2cTokenizerTest, EncodesLikeRunC) {
  LLAMAC_REQUIRE_MODEL(path, "tok512.bin");
  std::unique_ptr<Llama2cTokenizer> tokenizer = loadTok512(path);
  ASSERT_TRUE(tokenizer);

  // Reference ids from a line-by-line Python transcription of run.c encode.
  StatusOr<std::vector<int>> ids =
      tokenizer->encode("Once upon a time", true, false);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(*ids, (std::vector<int>{1, 403, 407, 261, 378}));
  EXPECT_EQ(decodeAll(*tokenizer, *ids), "Once upon a time");

  // Codepoints in the vocabulary ("é", "€"), byte fallback for the rest.
  const std::string mixed =
      "h\xC3\xA9llo w\xC3\xB6rld \xE6\x97\xA5\xE6\x9C\xAC "
      "\xE2\x82\xAC";
  ids = tokenizer->encode(mixed, true, true);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(*ids,
            (std::vector<int>{1,   270, 485, 306, 414, 263, 198, 185, 420, 341,
                              410, 233, 154, 168, 233, 159, 175, 410, 503, 2}));
  std::vector<int> withoutEos(ids->begin(), ids->end() - 1);
  EXPECT_EQ(decodeAll(*tokenizer, withoutEos), mixed);

  ids = tokenizer->encode("Lily's mom said, \"Hi!\"", true, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int>{1, 317, 439, 419, 357, 336, 432, 313, 440,
                                    417, 443, 436}));

  // No dummy prefix for empty text.
  ids = tokenizer->encode("", true, true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int>{1, 2}));
  ids = tokenizer->encode("", false, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
}

TEST(Llama2cTokenizerTest, DecodesPiecesLikeRunC) {
  LLAMAC_REQUIRE_MODEL(path, "tok512.bin");
  std::unique_ptr<Llama2cTokenizer> tokenizer = loadTok512(path);
  ASSERT_TRUE(tokenizer);
  EXPECT_EQ(tokenizer->decodePiece(1, 403), "Once"); // space dropped after BOS
  EXPECT_EQ(tokenizer->decodePiece(403, 407), " upon"); // kept elsewhere
  EXPECT_EQ(tokenizer->decodePiece(5, 13), "\n");       // <0x0A>
  EXPECT_EQ(tokenizer->decodePiece(5, 3), std::string(1, '\0'));
  EXPECT_EQ(tokenizer->decodePiece(5, 512), "");
  EXPECT_EQ(tokenizer->decodePiece(5, -1), "");
}

TEST(Llama2cTokenizerTest, ReportsTruncatedFiles) {
  LLAMAC_REQUIRE_MODEL(path, "tok512.bin");
  TempDir dir;
  std::vector<uint8_t> bytes = readBytes(path);
  // Walk to token 37 and cut the file inside its bytes.
  size_t pos = 4;
  int32_t length = 0;
  for (int id = 0; id <= 37; ++id) {
    std::memcpy(&length, bytes.data() + pos + 4, 4);
    pos += 8 + (id < 37 ? size_t(length) : 0);
  }
  ASSERT_GT(length, 1);
  std::string cut = dir.file("cut.bin");
  writeBytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + pos + 1));
  EXPECT_EQ(Llama2cTokenizer::load(cut, 512).message(),
            cut + ": token 37: length " + std::to_string(length) +
                " runs past end of file");

  // A model vocabulary larger than the file's entries.
  EXPECT_EQ(Llama2cTokenizer::load(path, 513).message(),
            path + ": token 512: score runs past end of file (the model has "
                   "vocab_size 513)");

  writeBytes(cut, {7, 0});
  EXPECT_EQ(Llama2cTokenizer::load(cut, 512).message(),
            cut + ": max_token_length: file has 2 bytes, fewer than 4");

  std::vector<uint8_t> negative = {7, 0, 0,    0,    0,    0,
                                   0, 0, 0xff, 0xff, 0xff, 0xff};
  writeBytes(cut, negative);
  EXPECT_EQ(Llama2cTokenizer::load(cut, 3).message(),
            cut + ": token 0: negative length -1");

  EXPECT_EQ(Llama2cTokenizer::load(dir.file("absent.bin"), 512).message(),
            dir.file("absent.bin") +
                ": cannot open: No such file or directory");
}

TEST(TokenizerFactoryTest, DetectsFormatByContent) {
  const uint8_t maxLength10[] = {0x0A, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t maxLength266[] = {0x0A, 1, 0, 0, 0, 0, 0, 0};
  const uint8_t maxLength2570[] = {0x0A, 0x0A, 0, 0, 0, 0, 0, 0};
  const uint8_t model[] = {0x0A, 0x0E, 0x0A, 0x05, '<', 'u', 'n', 'k', '>'};
  EXPECT_EQ(detectTokenizerFormat(maxLength10, 8), TokenizerFormat::Llama2cBin);
  EXPECT_EQ(detectTokenizerFormat(maxLength266, 8),
            TokenizerFormat::Llama2cBin);
  EXPECT_EQ(detectTokenizerFormat(maxLength2570, 8),
            TokenizerFormat::Llama2cBin);
  EXPECT_EQ(detectTokenizerFormat(model, sizeof(model)),
            TokenizerFormat::SentencePieceModel);
  EXPECT_EQ(detectTokenizerFormat(model, 0), TokenizerFormat::Llama2cBin);
}

TEST(TokenizerFactoryTest, LoadsTokenizerBin) {
  LLAMAC_REQUIRE_MODEL(path, "tok512.bin");
  StatusOr<std::unique_ptr<Tokenizer>> tokenizer = loadTokenizer(path, 512);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  EXPECT_NE(dynamic_cast<Llama2cTokenizer *>(tokenizer->get()), nullptr);
  EXPECT_EQ((*tokenizer)->bosId(), 1);
  EXPECT_EQ((*tokenizer)->eosId(), 2);

  TempDir dir;
  EXPECT_EQ(loadTokenizer(dir.file("absent"), 512).message(),
            dir.file("absent") + ": cannot open: No such file or directory");
}

TEST(TokenizerFactoryTest, PrintableFilterMatchesSafePrintf) {
  EXPECT_FALSE(isPrintablePiece(""));
  EXPECT_FALSE(isPrintablePiece(std::string(1, '\0')));
  EXPECT_FALSE(isPrintablePiece("\x01"));
  EXPECT_FALSE(isPrintablePiece("\xC3"));
  EXPECT_TRUE(isPrintablePiece("\n"));
  EXPECT_TRUE(isPrintablePiece("a"));
  EXPECT_TRUE(isPrintablePiece("\xC3\xA9"));
}

} // namespace
