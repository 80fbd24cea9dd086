//===- PresetsTest.cpp - Built-in model presets ---------------------------===//

#include "frontend/ConfigReaders.h"

#include "FrontendTestUtil.h"

using namespace llamac;
using llamac::test::errorText;
using ::testing::HasSubstr;

namespace {

/// Values every Llama 2 preset shares.
void expectLlama2Common(const ModelConfig &config) {
  EXPECT_EQ(config.vocabSize, 32000);
  EXPECT_EQ(config.maxSeqLen, 4096);
  EXPECT_DOUBLE_EQ(config.ropeTheta, 10000.0);
  EXPECT_DOUBLE_EQ(config.normEps, 1e-5);
  EXPECT_EQ(config.ropeStyle, RopeStyle::Adjacent);
  EXPECT_EQ(config.dtype, DType::F32);
  EXPECT_FALSE(config.sharedClassifier);
  EXPECT_EQ(validate(config), "");
}

TEST(Presets, Llama2_7B) {
  llvm::Expected<ModelConfig> config = presetConfig("llama2-7b");
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->name, "llama2-7b");
  EXPECT_EQ(config->dim, 4096);
  EXPECT_EQ(config->nLayers, 32);
  EXPECT_EQ(config->nHeads, 32);
  EXPECT_EQ(config->nKvHeads, 32);
  EXPECT_EQ(config->ffnDim, 11008);
  EXPECT_EQ(config->headDim(), 128);
  EXPECT_EQ(config->queriesPerKvHead(), 1);
  expectLlama2Common(*config);
}

TEST(Presets, Llama2_13B) {
  llvm::Expected<ModelConfig> config = presetConfig("llama2-13b");
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->dim, 5120);
  EXPECT_EQ(config->nLayers, 40);
  EXPECT_EQ(config->nHeads, 40);
  EXPECT_EQ(config->nKvHeads, 40);
  EXPECT_EQ(config->ffnDim, 13824);
  EXPECT_EQ(config->headDim(), 128);
  expectLlama2Common(*config);
}

TEST(Presets, Llama2_70BUsesGroupedQueryAttention) {
  llvm::Expected<ModelConfig> config = presetConfig("llama2-70b");
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->dim, 8192);
  EXPECT_EQ(config->nLayers, 80);
  EXPECT_EQ(config->nHeads, 64);
  EXPECT_EQ(config->nKvHeads, 8);
  EXPECT_EQ(config->ffnDim, 28672);
  EXPECT_EQ(config->headDim(), 128);
  EXPECT_EQ(config->kvDim(), 1024);
  EXPECT_EQ(config->queriesPerKvHead(), 8);
  expectLlama2Common(*config);
}

TEST(Presets, Tiny) {
  llvm::Expected<ModelConfig> config = presetConfig("tiny");
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->dim, 64);
  EXPECT_EQ(config->nLayers, 2);
  EXPECT_EQ(config->nHeads, 8);
  EXPECT_EQ(config->nKvHeads, 4);
  EXPECT_EQ(config->ffnDim, 172);
  EXPECT_EQ(config->vocabSize, 512);
  EXPECT_EQ(config->maxSeqLen, 512);
  EXPECT_EQ(validate(*config), "");
}

TEST(Presets, NamesAreAllLoadable) {
  for (llvm::StringRef name : presetNames()) {
    llvm::Expected<ModelConfig> config = loadModelConfig(name);
    ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
    EXPECT_EQ(config->name, name);
  }
}

TEST(Presets, UnknownPresetListsValidNames) {
  std::string error = errorText(presetConfig("llama2-7"));
  EXPECT_THAT(error, HasSubstr("llama2-7: unknown preset"));
  EXPECT_THAT(error, HasSubstr("llama2-7b, llama2-13b, llama2-70b, tiny"));
}

TEST(Presets, ParseEnums) {
  EXPECT_EQ(parseDType("f32"), DType::F32);
  EXPECT_EQ(parseDType("f16"), DType::F16);
  EXPECT_EQ(parseDType("bf16"), DType::BF16);
  EXPECT_EQ(parseDType("float16"), std::nullopt);
  EXPECT_EQ(parseRopeStyle("adjacent"), RopeStyle::Adjacent);
  EXPECT_EQ(parseRopeStyle("half"), RopeStyle::HalfSplit);
  EXPECT_EQ(parseRopeStyle("halfsplit"), std::nullopt);
  EXPECT_STREQ(toString(DType::BF16), "bf16");
  EXPECT_STREQ(toString(RopeStyle::HalfSplit), "half");
}

} // namespace
