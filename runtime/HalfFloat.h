//===- HalfFloat.h - f16 and bf16 to and from f32 ----------------*- C++
//-*-===//
//
// Checkpoints ship in f16 or bf16; the runtime computes in f32. These are the
// IEEE conversions (round to nearest even, NaN kept NaN), written out so the
// runtime needs no compiler intrinsics or half-float library.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_HALFFLOAT_H
#define LLAMAC_RUNTIME_HALFFLOAT_H

#include <cstdint>

namespace llamac::runtime {

float f16ToF32(uint16_t bits);
float bf16ToF32(uint16_t bits);
/// Rounds to nearest even; overflow gives infinity.
uint16_t f32ToF16(float value);
/// Rounds to nearest even (what torch's .to(bfloat16) does).
uint16_t f32ToBf16(float value);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_HALFFLOAT_H
