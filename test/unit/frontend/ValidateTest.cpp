//===- ValidateTest.cpp - ModelConfig invariants --------------------------===//

#include "frontend/ConfigReaders.h"

#include "gtest/gtest.h"

#include <cmath>

using namespace llamac;

namespace {

ModelConfig tiny() { return *presetConfig("tiny"); }

TEST(Validate, AcceptsPresets) { EXPECT_EQ(validate(tiny()), ""); }

TEST(Validate, NonPositiveExtents) {
  ModelConfig config = tiny();
  config.dim = 0;
  EXPECT_EQ(validate(config), "dim: must be positive, got 0");
  config = tiny();
  config.nLayers = -2;
  EXPECT_EQ(validate(config), "n_layers: must be positive, got -2");
  config = tiny();
  config.nKvHeads = 0;
  EXPECT_EQ(validate(config), "n_kv_heads: must be positive, got 0");
  config = tiny();
  config.ffnDim = 0;
  EXPECT_EQ(validate(config), "ffn_dim: must be positive, got 0");
  config = tiny();
  config.vocabSize = -1;
  EXPECT_EQ(validate(config), "vocab_size: must be positive, got -1");
  config = tiny();
  config.maxSeqLen = 0;
  EXPECT_EQ(validate(config), "max_seq_len: must be positive, got 0");
}

TEST(Validate, ExtentsFitInt32) {
  ModelConfig config = tiny();
  config.vocabSize = int64_t(1) << 31;
  EXPECT_EQ(validate(config),
            "vocab_size: 2147483648 exceeds the limit 2147483647");
}

TEST(Validate, FloatingFields) {
  ModelConfig config = tiny();
  config.ropeTheta = 0;
  EXPECT_EQ(validate(config), "rope_theta: must be positive, got 0");
  config.ropeTheta = NAN;
  EXPECT_EQ(validate(config).rfind("rope_theta: ", 0), 0u);
  config = tiny();
  config.normEps = 1;
  EXPECT_EQ(validate(config),
            "norm_eps: must be between 0 and 1 (exclusive), got 1");
  config.normEps = 0;
  EXPECT_NE(validate(config), "");
}

TEST(Validate, HeadsMustDivideDim) {
  ModelConfig config = tiny();
  config.nHeads = 6;
  config.nKvHeads = 6;
  EXPECT_EQ(validate(config), "n_heads: 6 does not divide dim 64");
}

TEST(Validate, HeadDimMustBeEven) {
  ModelConfig config = tiny();
  config.dim = 56;
  config.nHeads = 8;
  EXPECT_EQ(validate(config), "n_heads: 8 gives an odd head dim 7 (dim 56), "
                              "but RoPE rotates pairs of elements");
}

TEST(Validate, KvHeads) {
  ModelConfig config = tiny();
  config.nKvHeads = 16;
  EXPECT_EQ(validate(config), "n_kv_heads: 16 exceeds n_heads 8");
  config.nKvHeads = 3;
  EXPECT_EQ(validate(config), "n_kv_heads: 3 does not divide n_heads 8");
}

} // namespace
