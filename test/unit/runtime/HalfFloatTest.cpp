//===- HalfFloatTest.cpp - f16/bf16 conversions ---------------------------===//

#include "runtime/HalfFloat.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace llamac::runtime;

namespace {

TEST(HalfFloatTest, F16KnownValues) {
  EXPECT_EQ(f16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(f16ToF32(0xC000), -2.0f);
  EXPECT_EQ(f16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16ToF32(0x0400), std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::isinf(f16ToF32(0x7C00)));
  EXPECT_TRUE(std::isnan(f16ToF32(0x7E00)));
  EXPECT_TRUE(std::signbit(f16ToF32(0x8000)));

  EXPECT_EQ(f32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(f32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32ToF16(65520.0f), 0x7C00); // Halfway to 65536: rounds to inf.
  EXPECT_EQ(f32ToF16(1e-8f), 0x0000);
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -25)), 0x0000); // Tie to even (0).
  EXPECT_EQ(f32ToF16(std::ldexp(3.0f, -25)), 0x0002); // Tie to even (2).
  // 1 + 2^-11 is halfway between 1 and the next f16: ties to even (1).
  EXPECT_EQ(f32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(f32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
}

TEST(HalfFloatTest, EveryF16RoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    float value = f16ToF32(uint16_t(bits));
    if (std::isnan(value))
      continue;
    EXPECT_EQ(f32ToF16(value), bits) << std::hex << bits;
  }
}

TEST(HalfFloatTest, BF16) {
  EXPECT_EQ(bf16ToF32(0x3F80), 1.0f);
  EXPECT_EQ(bf16ToF32(0xC040), -3.0f);
  EXPECT_EQ(f32ToBf16(1.0f), 0x3F80);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7.
  EXPECT_EQ(f32ToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(f32ToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_TRUE(std::isnan(
      bf16ToF32(f32ToBf16(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    float value = bf16ToF32(uint16_t(bits));
    if (!std::isnan(value))
      EXPECT_EQ(f32ToBf16(value), bits);
  }
}

} // namespace
