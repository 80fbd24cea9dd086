//===- OverridesTest.cpp - Command-line config overrides ------------------===//

#include "frontend/ConfigReaders.h"

#include "FrontendTestUtil.h"

using namespace llamac;
using llamac::test::errorText;
using ::testing::HasSubstr;

namespace {

TEST(Overrides, AppliesSetFieldsOnly) {
  ModelConfig config = *presetConfig("llama2-7b");
  ConfigOverrides overrides;
  overrides.nLayers = 2;
  overrides.maxSeqLen = 128;
  overrides.dtype = DType::F16;
  overrides.ropeStyle = RopeStyle::HalfSplit;
  overrides.ropeTheta = 500000.0;
  overrides.normEps = 1e-6;
  ASSERT_FALSE(static_cast<bool>(applyOverrides(config, overrides)));
  EXPECT_EQ(config.nLayers, 2);
  EXPECT_EQ(config.maxSeqLen, 128);
  EXPECT_EQ(config.dtype, DType::F16);
  EXPECT_EQ(config.ropeStyle, RopeStyle::HalfSplit);
  EXPECT_DOUBLE_EQ(config.ropeTheta, 500000.0);
  EXPECT_DOUBLE_EQ(config.normEps, 1e-6);
  EXPECT_EQ(config.dim, 4096);
  EXPECT_EQ(config.name, "llama2-7b");
}

TEST(Overrides, ValidatesTheCombination) {
  // 16 KV heads alone would exceed tiny's 8 heads; with 16 heads it is fine.
  ModelConfig config = *presetConfig("tiny");
  ConfigOverrides overrides;
  overrides.nKvHeads = 16;
  overrides.nHeads = 16;
  ASSERT_FALSE(static_cast<bool>(applyOverrides(config, overrides)));
  EXPECT_EQ(config.nHeads, 16);
  EXPECT_EQ(config.headDim(), 4);
}

TEST(Overrides, ErrorNamesTheFlag) {
  ModelConfig config = *presetConfig("llama2-7b");
  ConfigOverrides overrides;
  overrides.nKvHeads = 5;
  EXPECT_EQ(errorText(applyOverrides(config, overrides)),
            "--n-kv-heads: 5 does not divide n_heads 32");
  // A rejected override leaves the config unchanged.
  EXPECT_EQ(config.nKvHeads, 32);
}

TEST(Overrides, ErrorNamesTheFlagThatBrokeARelation) {
  ModelConfig config = *presetConfig("llama2-7b");
  ConfigOverrides overrides;
  overrides.dim = 100;
  EXPECT_EQ(errorText(applyOverrides(config, overrides)),
            "--dim: n_heads 32 does not divide dim 100");
}

TEST(Overrides, EachFlagName) {
  struct Case {
    void (*set)(ConfigOverrides &);
    const char *message;
  };
  const Case cases[] = {
      {[](ConfigOverrides &o) { o.dim = 0; }, "--dim: must be positive"},
      {[](ConfigOverrides &o) { o.nLayers = 0; },
       "--n-layers: must be positive"},
      {[](ConfigOverrides &o) { o.nHeads = 3; },
       "--n-heads: 3 does not divide dim 4096"},
      {[](ConfigOverrides &o) { o.ffnDim = -1; },
       "--ffn-dim: must be positive"},
      {[](ConfigOverrides &o) { o.vocabSize = 0; },
       "--vocab-size: must be positive"},
      {[](ConfigOverrides &o) { o.maxSeqLen = 0; },
       "--max-seq: must be positive"},
      {[](ConfigOverrides &o) { o.ropeTheta = -1; },
       "--rope-theta: must be positive"},
      {[](ConfigOverrides &o) { o.normEps = 2; },
       "--norm-eps: must be between 0 and 1"},
  };
  for (const Case &c : cases) {
    ModelConfig config = *presetConfig("llama2-7b");
    ConfigOverrides overrides;
    c.set(overrides);
    EXPECT_THAT(errorText(applyOverrides(config, overrides)),
                HasSubstr(c.message));
  }
}

} // namespace
