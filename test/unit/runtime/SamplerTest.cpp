//===- SamplerTest.cpp - run.c's sampler ----------------------------------===//

#include "runtime/Sampler.h"

#include <gtest/gtest.h>

#include <vector>

using namespace llamac::runtime;

namespace {

TEST(SamplerTest, RandomMatchesRunC) {
  // Reference values from run.c's random_u32 / random_f32 with seed 42.
  uint64_t state = 42;
  EXPECT_EQ(randomU32(state), 1456360119u);
  EXPECT_EQ(randomU32(state), 3359763283u);
  EXPECT_EQ(randomU32(state), 3393612768u);
  EXPECT_EQ(randomU32(state), 4054632243u);
  EXPECT_EQ(state, 4637185482584944939ull);
  state = 42;
  EXPECT_EQ(randomF32(state), 0.3390852212905884f);
  EXPECT_EQ(randomF32(state), 0.7822558283805847f);
}

TEST(SamplerTest, GreedyTakesTheFirstMaximum) {
  std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(sampleArgmax(logits.data(), 4), 1);
  Sampler sampler(4, 0.0f, 0.9f, 42);
  EXPECT_EQ(sampler.sample(logits.data()), 1);
  // Greedy neither touches the logits nor draws a random number.
  EXPECT_EQ(logits, (std::vector<float>{0.5f, 3.0f, -1.0f, 3.0f}));
  EXPECT_EQ(sampler.rngState(), 42u);
}

TEST(SamplerTest, SoftmaxAndMultinomial) {
  std::vector<float> values = {1.0f, 1.0f, 1.0f, 1.0f};
  softmax(values.data(), 4);
  EXPECT_EQ(values, (std::vector<float>{0.25f, 0.25f, 0.25f, 0.25f}));
  EXPECT_EQ(sampleMult(values.data(), 4, 0.0f), 0);
  EXPECT_EQ(sampleMult(values.data(), 4, 0.3f), 1);
  EXPECT_EQ(sampleMult(values.data(), 4, 0.99f), 3);
  EXPECT_EQ(sampleMult(values.data(), 4, 1.0f), 3); // rounding fallback
}

TEST(SamplerTest, TopP) {
  const std::vector<float> probs = {0.1f, 0.5f, 0.05f, 0.3f, 0.05f};
  // Sorted: 0.5 (1), 0.3 (3), 0.1 (0), ...; 0.5 + 0.3 = 0.8 > 0.7 stops at
  // two candidates whose mass is 0.8; r = coin * 0.8.
  EXPECT_EQ(sampleTopp(probs.data(), 5, 0.7f, 0.0f), 1);
  EXPECT_EQ(sampleTopp(probs.data(), 5, 0.7f, 0.6f), 1); // r = 0.48 < 0.5
  EXPECT_EQ(sampleTopp(probs.data(), 5, 0.7f, 0.7f), 3); // r = 0.56
  EXPECT_EQ(sampleTopp(probs.data(), 5, 0.7f, 0.999f), 3);
  // Ties keep index order (stable, like glibc's merge-sort qsort).
  const std::vector<float> ties = {0.25f, 0.25f, 0.25f, 0.25f};
  EXPECT_EQ(sampleTopp(ties.data(), 4, 0.4f, 0.0f), 0);
  EXPECT_EQ(sampleTopp(ties.data(), 4, 0.4f, 0.9f), 1);
  // Nothing passes the cutoff: argmax instead of run.c's out-of-bounds read.
  const std::vector<float> flat = {0.5f, 0.5f};
  EXPECT_EQ(sampleTopp(flat.data(), 2, 0.01f, 0.5f), 0);
}

TEST(SamplerTest, SameSeedSameTokens) {
  const std::vector<float> logits = {0.1f, 2.0f, 1.5f, -0.5f, 1.9f, 0.0f};
  for (float topp : {0.0f, 0.9f}) {
    Sampler first(6, 1.0f, topp, 1234), second(6, 1.0f, topp, 1234),
        other(6, 1.0f, topp, 99);
    std::vector<int> a, b, c;
    for (int step = 0; step < 64; ++step) {
      std::vector<float> x = logits, y = logits, z = logits;
      a.push_back(first.sample(x.data()));
      b.push_back(second.sample(y.data()));
      c.push_back(other.sample(z.data()));
    }
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(first.rngState(), second.rngState());
  }
}

TEST(SamplerTest, TemperatureScalesLogitsInPlace) {
  std::vector<float> logits = {2.0f, 0.0f};
  Sampler sampler(2, 2.0f, 0.0f, 42);
  int token = sampler.sample(logits.data());
  // Scaled to {1, 0}, softmaxed to {e/(e+1), 1/(e+1)} = {0.731, 0.269}; the
  // first coin of seed 42 is 0.339, which falls in token 0.
  EXPECT_EQ(token, 0);
  EXPECT_NEAR(logits[0], 0.7310586f, 1e-6f);
  EXPECT_NEAR(logits[1], 0.2689414f, 1e-6f);
}

} // namespace
