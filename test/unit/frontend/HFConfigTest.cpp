//===- HFConfigTest.cpp - Hugging Face config.json ------------------------===//

#include "frontend/ConfigReaders.h"
#include "frontend/HFConfigWriter.h"

#include "FrontendTestUtil.h"

using namespace llamac;
using llamac::test::errorText;
using llamac::test::TempDir;
using ::testing::HasSubstr;

namespace {

/// meta-llama/Llama-2-7b-hf's config.json, in the file's key order.
const std::pair<const char *, const char *> kLlama2_7bHf[] = {
    {"_name_or_path", R"("meta-llama/Llama-2-7b-hf")"},
    {"architectures", R"(["LlamaForCausalLM"])"},
    {"bos_token_id", "1"},
    {"eos_token_id", "2"},
    {"hidden_act", R"("silu")"},
    {"hidden_size", "4096"},
    {"initializer_range", "0.02"},
    {"intermediate_size", "11008"},
    {"max_position_embeddings", "4096"},
    {"model_type", R"("llama")"},
    {"num_attention_heads", "32"},
    {"num_hidden_layers", "32"},
    {"num_key_value_heads", "32"},
    {"pretraining_tp", "1"},
    {"rms_norm_eps", "1e-05"},
    {"rope_scaling", "null"},
    {"tie_word_embeddings", "false"},
    {"torch_dtype", R"("float16")"},
    {"transformers_version", R"("4.31.0.dev0")"},
    {"use_cache", "true"},
    {"vocab_size", "32000"},
};

/// The 7B config.json with `key` set to the JSON text `value` (replaced if
/// the file has the key, appended otherwise).
std::string llama2_7bHf(llvm::StringRef key = "", llvm::StringRef value = "") {
  std::string text = "{";
  bool replaced = false;
  for (auto [name, original] : kLlama2_7bHf) {
    bool isKey = key == name;
    replaced |= isKey;
    text += "\n  \"" + std::string(name) +
            "\": " + (isKey ? value.str() : std::string(original)) + ",";
  }
  if (!key.empty() && !replaced)
    text += "\n  \"" + key.str() + "\": " + value.str() + ",";
  text.back() = '\n';
  return text + "}";
}

TEST(HFConfig, Llama2_7B) {
  TempDir dir;
  std::string path = dir.write("config.json", llama2_7bHf());
  llvm::Expected<ModelConfig> config = readHFConfig(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->name, path);
  EXPECT_EQ(config->dim, 4096);
  EXPECT_EQ(config->nLayers, 32);
  EXPECT_EQ(config->nHeads, 32);
  EXPECT_EQ(config->nKvHeads, 32);
  EXPECT_EQ(config->ffnDim, 11008);
  EXPECT_EQ(config->vocabSize, 32000);
  EXPECT_EQ(config->maxSeqLen, 4096);
  EXPECT_DOUBLE_EQ(config->normEps, 1e-5);
  EXPECT_DOUBLE_EQ(config->ropeTheta, 10000.0);
  EXPECT_EQ(config->ropeStyle, RopeStyle::HalfSplit);
  EXPECT_EQ(config->dtype, DType::F16);
  EXPECT_FALSE(config->sharedClassifier);
}

TEST(HFConfig, OptionalKeys) {
  TempDir dir;
  std::string path = dir.write(
      "config.json",
      R"({"hidden_size": 64, "intermediate_size": 172, )"
      R"("num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 512, )"
      R"("tie_word_embeddings": true, "torch_dtype": "bfloat16", )"
      R"("attention_bias": false, "mlp_bias": false, "head_dim": 8, )"
      R"("rope_theta": 500000.0})");
  llvm::Expected<ModelConfig> config = readHFConfig(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->nKvHeads, 8);
  EXPECT_EQ(config->maxSeqLen, 2048);
  EXPECT_DOUBLE_EQ(config->normEps, 1e-6);
  EXPECT_DOUBLE_EQ(config->ropeTheta, 500000.0);
  EXPECT_EQ(config->dtype, DType::BF16);
  EXPECT_TRUE(config->sharedClassifier);
}

std::string readError(llvm::StringRef text) {
  TempDir dir;
  return errorText(readHFConfig(dir.write("bad-hf.json", text)));
}

TEST(HFConfig, UnknownKey) {
  EXPECT_THAT(readError(llama2_7bHf("sliding_window", "4096")),
              HasSubstr("bad-hf.json: sliding_window: unknown key"));
}

TEST(HFConfig, ValidationUsesHFNames) {
  EXPECT_THAT(readError(llama2_7bHf("num_key_value_heads", "5")),
              HasSubstr("bad-hf.json: num_key_value_heads: 5 does not divide "
                        "num_attention_heads 32"));
  EXPECT_THAT(readError(llama2_7bHf("hidden_size", "0")),
              HasSubstr("bad-hf.json: hidden_size: must be positive, got 0"));
}

TEST(HFConfig, RejectsNonLlamaFeatures) {
  EXPECT_THAT(readError(llama2_7bHf("model_type", R"("mistral")")),
              HasSubstr("bad-hf.json: model_type: \"mistral\" is not "
                        "supported"));
  EXPECT_THAT(readError(llama2_7bHf("hidden_act", R"("gelu")")),
              HasSubstr("bad-hf.json: hidden_act: \"gelu\" is not supported"));
  EXPECT_THAT(
      readError(
          llama2_7bHf("rope_scaling", R"({"type": "linear", "factor": 2.0})")),
      HasSubstr("bad-hf.json: rope_scaling: scaled RoPE is not supported"));
  EXPECT_THAT(readError(llama2_7bHf("attention_bias", "true")),
              HasSubstr("bad-hf.json: attention_bias: biased attention"));
  EXPECT_THAT(readError(llama2_7bHf("mlp_bias", "true")),
              HasSubstr("bad-hf.json: mlp_bias: biased MLP"));
  EXPECT_THAT(readError(llama2_7bHf("head_dim", "64")),
              HasSubstr("bad-hf.json: head_dim: 64 does not equal "
                        "hidden_size / num_attention_heads = 128"));
  EXPECT_THAT(readError(llama2_7bHf("torch_dtype", R"("float64")")),
              HasSubstr("bad-hf.json: torch_dtype: unsupported \"float64\""));
}

TEST(HFConfig, WrongType) {
  EXPECT_THAT(
      readError(llama2_7bHf("tie_word_embeddings", R"("no")")),
      HasSubstr("bad-hf.json: tie_word_embeddings: expected a boolean, got a "
                "string"));
}

TEST(HFConfig, MissingRequiredKey) {
  EXPECT_THAT(readError(R"({"hidden_size": 64})"),
              HasSubstr("bad-hf.json: intermediate_size: missing required "
                        "key"));
}

/// What llamac writes for `config` reads back as `config` with Hugging
/// Face's RoPE and the stored dtype.
void expectRoundTrip(ModelConfig config, DType stored) {
  TempDir dir;
  std::string text = hfConfigJson(config, stored);
  llvm::Expected<ModelConfig> read =
      readHFConfig(dir.write("config.json", text));
  ASSERT_TRUE(static_cast<bool>(read)) << errorText(std::move(read)) << text;
  EXPECT_EQ(read->dim, config.dim);
  EXPECT_EQ(read->nLayers, config.nLayers);
  EXPECT_EQ(read->nHeads, config.nHeads);
  EXPECT_EQ(read->nKvHeads, config.nKvHeads);
  EXPECT_EQ(read->ffnDim, config.ffnDim);
  EXPECT_EQ(read->vocabSize, config.vocabSize);
  EXPECT_EQ(read->maxSeqLen, config.maxSeqLen);
  EXPECT_EQ(read->normEps, config.normEps);
  EXPECT_EQ(read->ropeTheta, config.ropeTheta);
  EXPECT_EQ(read->sharedClassifier, config.sharedClassifier);
  EXPECT_EQ(read->ropeStyle, RopeStyle::HalfSplit);
  EXPECT_EQ(read->dtype, stored);
}

TEST(HFConfigWriter, PresetsRoundTrip) {
  for (llvm::StringRef name : presetNames()) {
    llvm::Expected<ModelConfig> preset = presetConfig(name);
    ASSERT_TRUE(static_cast<bool>(preset));
    expectRoundTrip(*preset, DType::F16);
  }
}

TEST(HFConfigWriter, ExactNumbersAndSharedClassifier) {
  ModelConfig config = *presetConfig("tiny");
  config.normEps = 1.0 / 3.0;
  config.ropeTheta = 500000.0;
  config.sharedClassifier = true;
  expectRoundTrip(config, DType::BF16);
  expectRoundTrip(config, DType::F32);
}

TEST(HFConfigWriter, WritesTransformersSpelling) {
  std::string text = hfConfigJson(*presetConfig("llama2-70b"), DType::BF16);
  EXPECT_THAT(text, HasSubstr("\"rms_norm_eps\": 1e-05,"));
  EXPECT_THAT(text, HasSubstr("\"rope_theta\": 10000.0,"));
  EXPECT_THAT(text, HasSubstr("\"num_key_value_heads\": 8,"));
  EXPECT_THAT(text, HasSubstr("\"intermediate_size\": 28672,"));
  EXPECT_THAT(text, HasSubstr("\"torch_dtype\": \"bfloat16\""));
  EXPECT_THAT(text,
              HasSubstr("\"architectures\": [\n    \"LlamaForCausalLM\"\n  ]"));
}

} // namespace
