//===- FfnRuleTest.cpp - Meta's FFN width rule ----------------------------===//

#include "frontend/ModelConfig.h"

#include "gtest/gtest.h"

using namespace llamac;

namespace {

TEST(FfnRule, Llama2Sizes) {
  EXPECT_EQ(metaFfnDim(4096, 256, 0), 11008);
  EXPECT_EQ(metaFfnDim(5120, 256, 0), 13824);
  EXPECT_EQ(metaFfnDim(8192, 4096, 1.3), 28672);
}

TEST(FfnRule, AbsentMultiplierIsNotOne) {
  // Without the multiplier 8192 rounds 21845 up to 24576; with 1.3 the
  // truncated 28398 rounds up to 28672.
  EXPECT_EQ(metaFfnDim(8192, 4096, 0), 24576);
  EXPECT_EQ(metaFfnDim(8192, 4096, -1), 24576);
}

TEST(FfnRule, TruncatesBeforeRounding) {
  // 4 * 64 = 256, 2 * 256 / 3 = 170.67 -> 170; multiple_of 1 keeps it.
  EXPECT_EQ(metaFfnDim(64, 1, 0), 170);
  // int(1.5 * 170) = 255, then rounded up to a multiple of 32.
  EXPECT_EQ(metaFfnDim(64, 32, 1.5), 256);
  // Already a multiple: ceil must not add another step.
  EXPECT_EQ(metaFfnDim(96, 256, 0), 256);
  EXPECT_EQ(metaFfnDim(3, 8, 0), 8);
}

TEST(FfnRule, InvalidInputGivesZero) {
  EXPECT_EQ(metaFfnDim(0, 256, 0), 0);
  EXPECT_EQ(metaFfnDim(4096, 0, 0), 0);
  EXPECT_EQ(metaFfnDim(-4096, 256, 0), 0);
}

} // namespace
