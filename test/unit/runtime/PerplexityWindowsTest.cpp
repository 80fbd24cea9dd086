//===- PerplexityWindowsTest.cpp - Every prediction scored once -----------===//

#include "runtime/PerplexityWindows.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;

namespace {

/// How many times each prediction 0 .. tokens - 2 is scored, and checks
/// that every window lies within the stream.
std::vector<int> coverage(int64_t tokens, int64_t seq,
                          const std::vector<ScoredWindow> &windows) {
  std::vector<int> counts(size_t(tokens - 1), 0);
  for (const ScoredWindow &w : windows) {
    EXPECT_GE(w.start, 0);
    EXPECT_LE(w.start + seq + 1, tokens);
    EXPECT_GE(w.firstScored, 0);
    EXPECT_LT(w.firstScored, seq);
    for (int64_t i = w.firstScored; i < seq; ++i)
      ++counts[size_t(w.start + i)];
  }
  return counts;
}

TEST(PerplexityWindowsTest, EveryPredictionOnceForAnyLengthAndStride) {
  for (int64_t seq : {1, 4, 7, 16})
    for (int64_t stride = 1; stride <= seq; ++stride)
      for (int64_t tokens = seq + 1; tokens < seq + 40; ++tokens) {
        StatusOr<std::vector<ScoredWindow>> windows =
            planScoredWindows(tokens, seq, stride);
        ASSERT_TRUE(windows.ok()) << windows.status().message();
        for (int count : coverage(tokens, seq, *windows))
          ASSERT_EQ(count, 1)
              << "seq " << seq << " stride " << stride << " tokens " << tokens;
      }
}

TEST(PerplexityWindowsTest, StridesGiveContextAndTheLastWindowEndsTheStream) {
  // 20 tokens make 19 predictions; windows of 8 every 4 score all of the
  // first, then 4 each; the last window is moved back to end at the stream.
  StatusOr<std::vector<ScoredWindow>> windows = planScoredWindows(20, 8, 4);
  ASSERT_TRUE(windows.ok());
  ASSERT_EQ(windows->size(), 4u);
  EXPECT_EQ((*windows)[0].start, 0);
  EXPECT_EQ((*windows)[0].firstScored, 0);
  EXPECT_EQ((*windows)[1].start, 4);
  EXPECT_EQ((*windows)[1].firstScored, 4);
  EXPECT_EQ((*windows)[2].start, 8);
  EXPECT_EQ((*windows)[2].firstScored, 4);
  EXPECT_EQ((*windows)[3].start, 11);
  EXPECT_EQ((*windows)[3].firstScored, 5);
  // Non-overlapping windows: 17 tokens, 16 predictions, 2 windows of 8.
  windows = planScoredWindows(17, 8, 8);
  ASSERT_TRUE(windows.ok());
  ASSERT_EQ(windows->size(), 2u);
  EXPECT_EQ((*windows)[1].start, 8);
  EXPECT_EQ((*windows)[1].firstScored, 0);
}

TEST(PerplexityWindowsTest, RefusesShortTextsAndBadStrides) {
  StatusOr<std::vector<ScoredWindow>> windows = planScoredWindows(8, 8, 8);
  ASSERT_FALSE(windows.ok());
  EXPECT_EQ(windows.status().message(),
            "the text has 8 tokens, fewer than one window of 8 inputs and "
            "their next tokens (9)");
  windows = planScoredWindows(100, 8, 9);
  ASSERT_FALSE(windows.ok());
  EXPECT_EQ(windows.status().message(),
            "--stride 9 is outside [1, 8] (the window's 8 tokens)");
  EXPECT_FALSE(planScoredWindows(100, 8, 0).ok());
}

} // namespace
