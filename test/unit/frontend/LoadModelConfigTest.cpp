//===- LoadModelConfigTest.cpp - Telling model specs apart ----------------===//

#include "frontend/ConfigReaders.h"

#include "FrontendTestUtil.h"

using namespace llamac;
using llamac::test::errorText;
using llamac::test::TempDir;
using ::testing::HasSubstr;

namespace {

TEST(LoadModelConfig, DetectsMetaParams) {
  TempDir dir;
  std::string path = dir.write(
      "anything.txt", "  \n{\"dim\": 64, \"n_layers\": 2, \"n_heads\": 8}");
  llvm::Expected<ModelConfig> config = loadModelConfig(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->ropeStyle, RopeStyle::Adjacent);
  EXPECT_EQ(config->name, path);
}

TEST(LoadModelConfig, DetectsHFConfig) {
  TempDir dir;
  std::string path = dir.write(
      "config.json",
      R"({"hidden_size": 64, "intermediate_size": 172, )"
      R"("num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 512})");
  llvm::Expected<ModelConfig> config = loadModelConfig(path);
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->ropeStyle, RopeStyle::HalfSplit);
}

TEST(LoadModelConfig, JsonOfNeitherKind) {
  TempDir dir;
  std::string path = dir.write("other.json", R"({"d_model": 64})");
  EXPECT_THAT(errorText(loadModelConfig(path)),
              HasSubstr("other.json: JSON with neither \"dim\""));
}

TEST(LoadModelConfig, MalformedJson) {
  TempDir dir;
  std::string path = dir.write("broken.json", "{\"dim\": 64,");
  EXPECT_THAT(errorText(loadModelConfig(path)),
              HasSubstr("broken.json: malformed JSON at line 1, column"));
}

TEST(LoadModelConfig, NonJsonIsALlama2cHeader) {
  TempDir dir;
  std::string path = dir.write("tiny.bin", "abc");
  EXPECT_THAT(errorText(loadModelConfig(path)),
              HasSubstr("tiny.bin: llama2.c header: expected 28 bytes, "
                        "found 3"));
}

TEST(LoadModelConfig, MissingFile) {
  TempDir dir;
  std::string path = dir.path("params.json");
  EXPECT_EQ(errorText(loadModelConfig(path)), path + ": no such file");
}

TEST(LoadModelConfig, BareWordSuggestsPresets) {
  std::string error = errorText(loadModelConfig("llama2-8b"));
  EXPECT_THAT(error, HasSubstr("llama2-8b: no such file"));
  EXPECT_THAT(error, HasSubstr("llama2-7b, llama2-13b, llama2-70b, tiny"));
}

TEST(LoadModelConfig, DirectoryReadsItsConfig) {
  TempDir hf;
  hf.write("config.json",
           R"({"hidden_size": 64, "intermediate_size": 172, )"
           R"("num_hidden_layers": 2, "num_attention_heads": 8, )"
           R"("vocab_size": 512})");
  llvm::Expected<ModelConfig> config = loadModelConfig(hf.path(""));
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->ropeStyle, RopeStyle::HalfSplit);
  EXPECT_EQ(config->name, hf.path("config.json"));

  TempDir meta;
  meta.write("params.json", R"({"dim": 64, "n_layers": 2, "n_heads": 8})");
  config = loadModelConfig(meta.path(""));
  ASSERT_TRUE(static_cast<bool>(config)) << errorText(std::move(config));
  EXPECT_EQ(config->ropeStyle, RopeStyle::Adjacent);
}

TEST(LoadModelConfig, DirectoryErrors) {
  TempDir dir;
  EXPECT_THAT(errorText(loadModelConfig(dir.path(""))),
              HasSubstr("is a directory with neither config.json (Hugging "
                        "Face) nor params.json (Meta)"));
  dir.write("params.json", "{}");
  EXPECT_THAT(errorText(loadModelConfig(dir.path(""))),
              HasSubstr("params.json: dim: missing required key"));
  dir.write("config.json", "{}");
  EXPECT_THAT(errorText(loadModelConfig(dir.path(""))),
              HasSubstr("holds both config.json and params.json; name the "
                        "one to use"));
}

} // namespace
