//===- MetaParamsTest.cpp - Meta's params.json ----------------------------===//

#include "frontend/ConfigReaders.h"

#include "FrontendTestUtil.h"

using namespace llamac;
using llamac::test::errorText;
using llamac::test::TempDir;
using ::testing::HasSubstr;

namespace {

// The files exactly as Meta ships them with the Llama 2 weights.
constexpr const char *kParams7B =
    R"({"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, )"
    R"("norm_eps": 1e-05, "vocab_size": -1})";
constexpr const char *kParams13B =
    R"({"dim": 5120, "multiple_of": 256, "n_heads": 40, "n_layers": 40, )"
    R"("norm_eps": 1e-05, "vocab_size": -1})";
constexpr const char *kParams70B =
    R"({"dim": 8192, "multiple_of": 4096, "ffn_dim_multiplier": 1.3, )"
    R"("n_heads": 64, "n_kv_heads": 8, "n_layers": 80, "norm_eps": 1e-05, )"
    R"("vocab_size": -1})";

/// The params.json reading of `text` must match the preset of the same model.
void expectMatchesPreset(llvm::StringRef text, llvm::StringRef preset) {
  TempDir dir;
  std::string path = dir.write("params.json", text);
  llvm::Expected<ModelConfig> config = readMetaParams(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  ModelConfig expected = *presetConfig(preset);
  EXPECT_EQ(config->name, path);
  EXPECT_EQ(config->dim, expected.dim);
  EXPECT_EQ(config->nLayers, expected.nLayers);
  EXPECT_EQ(config->nHeads, expected.nHeads);
  EXPECT_EQ(config->nKvHeads, expected.nKvHeads);
  EXPECT_EQ(config->ffnDim, expected.ffnDim);
  EXPECT_EQ(config->vocabSize, 32000);
  EXPECT_EQ(config->maxSeqLen, 4096);
  EXPECT_DOUBLE_EQ(config->normEps, 1e-5);
  EXPECT_DOUBLE_EQ(config->ropeTheta, 10000.0);
  EXPECT_EQ(config->ropeStyle, RopeStyle::Adjacent);
  EXPECT_FALSE(config->sharedClassifier);
}

TEST(MetaParams, Llama2_7B) { expectMatchesPreset(kParams7B, "llama2-7b"); }
TEST(MetaParams, Llama2_13B) { expectMatchesPreset(kParams13B, "llama2-13b"); }
TEST(MetaParams, Llama2_70B) { expectMatchesPreset(kParams70B, "llama2-70b"); }

TEST(MetaParams, OptionalKeys) {
  TempDir dir;
  std::string path = dir.write(
      "params.json",
      R"({"dim": 64, "n_layers": 2, "n_heads": 8, "n_kv_heads": 4, )"
      R"("vocab_size": 512, "multiple_of": 32, "ffn_dim_multiplier": null, )"
      R"("norm_eps": 1e-6, "rope_theta": 500000, "max_seq_len": 256, )"
      R"("max_batch_size": 32, "use_scaled_rope": false})");
  llvm::Expected<ModelConfig> config = readMetaParams(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->nKvHeads, 4);
  EXPECT_EQ(config->vocabSize, 512);
  EXPECT_EQ(config->ffnDim, 192); // 170 rounded up to a multiple of 32.
  EXPECT_DOUBLE_EQ(config->normEps, 1e-6);
  EXPECT_DOUBLE_EQ(config->ropeTheta, 500000.0);
  EXPECT_EQ(config->maxSeqLen, 256);
}

/// Reads `text` as bad.json and returns the error message.
std::string readError(llvm::StringRef text) {
  TempDir dir;
  return errorText(readMetaParams(dir.write("bad.json", text)));
}

TEST(MetaParams, UnknownKey) {
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("norm_eps": 1e-5, "foo": 1})"),
              HasSubstr("bad.json: foo: unknown key"));
}

TEST(MetaParams, WrongTypes) {
  EXPECT_THAT(readError(R"({"dim": "4096", "n_layers": 2, "n_heads": 8})"),
              HasSubstr("bad.json: dim: expected an integer, got a string"));
  EXPECT_THAT(
      readError(R"({"dim": 4096.5, "n_layers": 2, "n_heads": 8})"),
      HasSubstr("bad.json: dim: expected an integer, got a fractional number"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("norm_eps": "small"})"),
              HasSubstr("bad.json: norm_eps: expected a number, got a string"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("use_scaled_rope": 1})"),
              HasSubstr("bad.json: use_scaled_rope: expected a boolean"));
}

TEST(MetaParams, MissingRequiredKey) {
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2})"),
              HasSubstr("bad.json: n_heads: missing required key"));
}

TEST(MetaParams, NonPositiveValues) {
  EXPECT_THAT(readError(R"({"dim": -64, "n_layers": 2, "n_heads": 8})"),
              HasSubstr("bad.json: dim: must be positive, got -64"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 0, "n_heads": 8})"),
              HasSubstr("bad.json: n_layers: must be positive, got 0"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("vocab_size": -5})"),
              HasSubstr("bad.json: vocab_size: must be positive, got -5"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("multiple_of": 0})"),
              HasSubstr("bad.json: multiple_of: must be positive, got 0"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("ffn_dim_multiplier": -1.3})"),
              HasSubstr("bad.json: ffn_dim_multiplier: must be positive"));
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("norm_eps": 0})"),
              HasSubstr("bad.json: norm_eps: must be between 0 and 1"));
}

TEST(MetaParams, HeadsMustDivide) {
  EXPECT_THAT(readError(R"({"dim": 4096, "n_layers": 2, "n_heads": 30})"),
              HasSubstr("bad.json: n_heads: 30 does not divide dim 4096"));
  EXPECT_THAT(readError(R"({"dim": 4096, "n_layers": 2, "n_heads": 32, )"
                        R"("n_kv_heads": 5})"),
              HasSubstr("bad.json: n_kv_heads: 5 does not divide n_heads 32"));
}

TEST(MetaParams, ScaledRopeUnsupported) {
  EXPECT_THAT(readError(R"({"dim": 64, "n_layers": 2, "n_heads": 8, )"
                        R"("use_scaled_rope": true})"),
              HasSubstr("bad.json: use_scaled_rope: Llama 3.1 RoPE scaling "
                        "is not supported"));
}

TEST(MetaParams, MalformedJson) {
  std::string error = readError("{\"dim\": 64,\n \"n_layers\" 2}");
  EXPECT_THAT(error, HasSubstr("bad.json: malformed JSON at line 2, column"));
}

TEST(MetaParams, TopLevelMustBeObject) {
  EXPECT_THAT(readError("[1, 2]"),
              HasSubstr("bad.json: expected a JSON object at the top level"));
}

TEST(MetaParams, MissingFile) {
  TempDir dir;
  EXPECT_THAT(errorText(readMetaParams(dir.path("absent.json"))),
              HasSubstr("absent.json: No such file"));
}

} // namespace
