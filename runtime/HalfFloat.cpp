//===- HalfFloat.cpp - f16 and bf16 to and from f32 -----------------------===//

#include "runtime/HalfFloat.h"

#include <cstring>

using namespace llamac::runtime;

static float fromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

static uint32_t toBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float llamac::runtime::f16ToF32(uint16_t bits) {
  uint32_t sign = uint32_t(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f) // Infinity or NaN.
    return fromBits(sign | 0x7f800000 | (mantissa << 13));
  if (exponent != 0) // Normal.
    return fromBits(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in f32.
  float magnitude = float(mantissa) * (1.0f / 16777216.0f);
  return sign ? -magnitude : magnitude;
}

float llamac::runtime::bf16ToF32(uint16_t bits) {
  return fromBits(uint32_t(bits) << 16);
}

uint16_t llamac::runtime::f32ToBf16(float value) {
  uint32_t bits = toBits(value);
  if ((bits & 0x7fffffff) > 0x7f800000) // NaN: keep it quiet and NaN.
    return uint16_t((bits >> 16) | 0x40);
  uint32_t roundingBias = 0x7fff + ((bits >> 16) & 1);
  return uint16_t((bits + roundingBias) >> 16);
}

uint16_t llamac::runtime::f32ToF16(float value) {
  uint32_t bits = toBits(value);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) // NaN.
    return sign | 0x7e00;
  if (magnitude >= 0x477ff000) // Rounds to beyond 65504: infinity.
    return sign | 0x7c00;
  if (magnitude < 0x38800000) {
    // Subnormal or zero in f16: scale so the f16 subnormal step (2^-24) is
    // one unit, letting f32 addition do the round-to-nearest-even.
    float scaled = fromBits(magnitude) + 0.5f;
    // 0.5 = 2^-1 has ulp 2^-24, so the low bits of `scaled` are the result.
    return sign | uint16_t(toBits(scaled) - toBits(0.5f));
  }
  uint32_t exponent = (magnitude >> 23) - 112;
  uint32_t mantissa = magnitude & 0x7fffff;
  uint32_t result = (exponent << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (result & 1)))
    ++result; // May carry into the exponent, which is still correct.
  return sign | uint16_t(result);
}
