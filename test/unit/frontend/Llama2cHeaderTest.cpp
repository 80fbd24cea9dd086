//===- Llama2cHeaderTest.cpp - llama2.c checkpoint headers ----------------===//

#include "frontend/ConfigReaders.h"

#include "FrontendTestUtil.h"

#include "llvm/Support/Endian.h"

#include <cstdlib>
#include <vector>

using namespace llamac;
using llamac::test::errorText;
using llamac::test::TempDir;
using ::testing::HasSubstr;

namespace {

/// Where the shared checkpoints live: $LLAMAC_MODELS_DIR, else the
/// repository's sibling directory shared/models.
std::string modelsDir() {
  if (const char *dir = std::getenv("LLAMAC_MODELS_DIR"))
    return dir;
  return LLAMAC_SOURCE_DIR "/../shared/models";
}

/// A llama2.c file: the header, then `payloadBytes` zero bytes.
std::string llama2cFile(std::vector<int32_t> header, size_t payloadBytes) {
  std::string bytes(header.size() * 4 + payloadBytes, '\0');
  for (size_t i = 0; i < header.size(); ++i)
    llvm::support::endian::write32le(&bytes[4 * i], header[i]);
  return bytes;
}

TEST(Llama2cHeader, Stories260K) {
  std::string path = modelsDir() + "/stories260K.bin";
  if (!llvm::sys::fs::exists(path))
    GTEST_SKIP() << path << " is missing; set LLAMAC_MODELS_DIR to the "
                 << "directory holding stories260K.bin";
  llvm::Expected<ModelConfig> config = readLlama2cHeader(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->name, path);
  EXPECT_EQ(config->dim, 64);
  EXPECT_EQ(config->ffnDim, 172);
  EXPECT_EQ(config->nLayers, 5);
  EXPECT_EQ(config->nHeads, 8);
  EXPECT_EQ(config->nKvHeads, 4);
  EXPECT_EQ(config->vocabSize, 512);
  EXPECT_EQ(config->maxSeqLen, 512);
  EXPECT_TRUE(config->sharedClassifier);
  EXPECT_EQ(config->ropeStyle, RopeStyle::Adjacent);
  EXPECT_EQ(config->dtype, DType::F32);

  // loadModelConfig tells the format from the content.
  llvm::Expected<ModelConfig> loaded = loadModelConfig(path);
  ASSERT_TRUE(static_cast<bool>(loaded)) << errorText(std::move(loaded));
  EXPECT_EQ(loaded->nKvHeads, 4);
}

// dim 8, hidden 16, 1 layer, 2 heads, 1 KV head, seq_len 4: 696 floats of
// weights plus 80 for a separate classifier.
constexpr size_t kSmallSharedBytes = 696 * 4;
constexpr size_t kSmallUnsharedBytes = 776 * 4;

TEST(Llama2cHeader, SharedClassifier) {
  TempDir dir;
  std::string path = dir.write(
      "shared.bin", llama2cFile({8, 16, 1, 2, 1, 10, 4}, kSmallSharedBytes));
  llvm::Expected<ModelConfig> config = readLlama2cHeader(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_TRUE(config->sharedClassifier);
  EXPECT_EQ(config->vocabSize, 10);
}

TEST(Llama2cHeader, NegativeVocabMeansSeparateClassifier) {
  TempDir dir;
  std::string path =
      dir.write("unshared.bin",
                llama2cFile({8, 16, 1, 2, 1, -10, 4}, kSmallUnsharedBytes));
  llvm::Expected<ModelConfig> config = readLlama2cHeader(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_FALSE(config->sharedClassifier);
  EXPECT_EQ(config->vocabSize, 10);
}

TEST(Llama2cHeader, Truncated) {
  TempDir dir;
  std::string path = dir.write("short.bin", std::string(20, '\0'));
  EXPECT_THAT(errorText(readLlama2cHeader(path)),
              HasSubstr("short.bin: llama2.c header: expected 28 bytes, "
                        "found 20"));
}

TEST(Llama2cHeader, SizeMismatch) {
  TempDir dir;
  std::string path = dir.write(
      "cut.bin", llama2cFile({8, 16, 1, 2, 1, -10, 4}, kSmallSharedBytes));
  EXPECT_THAT(errorText(readLlama2cHeader(path)),
              HasSubstr("cut.bin: file size does not match the llama2.c "
                        "header: expected 3132 bytes, found 2812"));
}

TEST(Llama2cHeader, InvalidFieldUsesHeaderNames) {
  TempDir dir;
  std::string path =
      dir.write("bad.bin", llama2cFile({8, 0, 1, 2, 1, 10, 4}, 0));
  EXPECT_THAT(errorText(readLlama2cHeader(path)),
              HasSubstr("bad.bin: hidden_dim: must be positive, got 0"));
  path = dir.write("gqa.bin", llama2cFile({8, 16, 1, 2, 3, 10, 4}, 0));
  EXPECT_THAT(errorText(readLlama2cHeader(path)),
              HasSubstr("gqa.bin: n_kv_heads: 3 exceeds n_heads 2"));
}

TEST(Llama2cHeader, HugeHeaderDoesNotOverflow) {
  TempDir dir;
  const int32_t big = 1 << 30;
  std::string path =
      dir.write("huge.bin", llama2cFile({big, big, big, 2, 2, big, 4}, 0));
  EXPECT_THAT(errorText(readLlama2cHeader(path)),
              HasSubstr("huge.bin: llama2.c header implies a file larger"));
}

} // namespace
