//===- SentencePieceTokenizerTest.cpp - Llama's .model --------------------===//

#include "runtime/SentencePieceTokenizer.h"

#include "runtime/Llama2cTokenizer.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;
using llamac::test::readBytes;
using llamac::test::TempDir;
using llamac::test::writeBytes;

namespace {

constexpr const char *kModel = "llama2-tokenizer.model";

TEST(SentencePieceTokenizerTest, EncodesLikeSentencePiece) {
  LLAMAC_REQUIRE_MODEL(path, kModel);
  StatusOr<std::unique_ptr<Tokenizer>> tokenizer = loadTokenizer(path, 32000);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  ASSERT_NE(dynamic_cast<SentencePieceTokenizer *>(tokenizer->get()), nullptr);
  EXPECT_EQ((*tokenizer)->vocabSize(), 32000);

  StatusOr<std::vector<int>> ids =
      (*tokenizer)->encode("Hello world", false, false);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(*ids, (std::vector<int>{15043, 3186}));
  ids = (*tokenizer)->encode("Once upon a time", true, true);
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(*ids, (std::vector<int>{1, 9038, 2501, 263, 931, 2}));
  ids = (*tokenizer)->encode("", true, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<int>{1});
}

TEST(SentencePieceTokenizerTest, DecodesLikeRunCWithExportedPieces) {
  LLAMAC_REQUIRE_MODEL(path, kModel);
  StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      SentencePieceTokenizer::load(path, 32000);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.message();
  const SentencePieceTokenizer &sp = **tokenizer;
  EXPECT_EQ(sp.storedPiece(1), "\n<s>\n");
  EXPECT_EQ(sp.storedPiece(2), "\n</s>\n");
  EXPECT_EQ(sp.storedPiece(15043), " Hello");
  EXPECT_EQ(sp.decodePiece(1, 15043), "Hello");
  EXPECT_EQ(sp.decodePiece(15043, 3186), " world");
  EXPECT_EQ(sp.decodePiece(3186, 13), "\n"); // <0x0A>
  EXPECT_EQ(sp.decodePiece(3186, 32000), "");
}

TEST(SentencePieceTokenizerTest, ReportsBadModels) {
  LLAMAC_REQUIRE_MODEL(path, kModel);
  EXPECT_EQ(loadTokenizer(path, 512).message(),
            path + ": vocab_size: the model has 32000 pieces, but the model "
                   "header says 512");

  TempDir dir;
  std::vector<uint8_t> bytes = readBytes(path);
  std::string cut = dir.file("cut.model");
  writeBytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 1000));
  StatusOr<std::unique_ptr<Tokenizer>> truncated = loadTokenizer(cut, 32000);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(
      truncated.message().rfind(cut + ": not a valid SentencePiece model", 0),
      0u)
      << truncated.message();
}

} // namespace

namespace {

TEST(SentencePieceTokenizerTest, ExportMatchesLlama2cAndEncodesAlike) {
  LLAMAC_REQUIRE_MODEL(path, kModel);
  StatusOr<std::unique_ptr<SentencePieceTokenizer>> sp =
      SentencePieceTokenizer::load(path, 32000);
  ASSERT_TRUE(sp.ok()) << sp.message();
  std::vector<std::string> pieces;
  std::vector<float> scores;
  for (int id = 0; id < 32000; ++id) {
    pieces.push_back((*sp)->storedPiece(id));
    scores.push_back((*sp)->score(id));
  }
  TempDir dir;
  std::string exported = dir.file("tokenizer.bin");
  ASSERT_TRUE(writeLlama2cTokenizer(exported, pieces, scores).ok());
  // llama2.c's own tokenizer.bin for this model has exactly this size.
  EXPECT_EQ(readBytes(exported).size(), 433869u);

  StatusOr<std::unique_ptr<Tokenizer>> bin = loadTokenizer(exported, 32000);
  ASSERT_TRUE(bin.ok()) << bin.message();
  ASSERT_NE(dynamic_cast<Llama2cTokenizer *>(bin->get()), nullptr);
  // run.c's greedy merge and SentencePiece's BPE agree on ordinary text.
  for (const char *text :
       {"Hello world", "Once upon a time", "Lily's mom said, \"Don't worry!\"",
        "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC 3.14159\n\ttabs"}) {
    StatusOr<std::vector<int>> fromBin = (*bin)->encode(text, true, false);
    StatusOr<std::vector<int>> fromSp = (*sp)->encode(text, true, false);
    ASSERT_TRUE(fromBin.ok() && fromSp.ok());
    EXPECT_EQ(*fromBin, *fromSp) << text;
    for (size_t i = 1; i < fromSp->size(); ++i)
      EXPECT_EQ((*bin)->decodePiece((*fromSp)[i - 1], (*fromSp)[i]),
                (*sp)->decodePiece((*fromSp)[i - 1], (*fromSp)[i]));
  }
}

} // namespace
