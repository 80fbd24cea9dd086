//===- Fnv1a.h - A stable 64-bit hash of bytes -------------------*- C++ -*-===//
//
// FNV-1a 64: the same value on every machine and in every run, unlike
// std::hash. It names random weights' tensors (WeightSource.cpp) and JIT
// cache entries (CudaJit.cpp); neither needs collision resistance against
// an adversary.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_FNV1A_H
#define LLAMAC_RUNTIME_FNV1A_H

#include <cstdint>
#include <string_view>

namespace llamac::runtime {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;

/// Hashes `bytes`, continuing from `hash` so that several pieces chain.
inline uint64_t fnv1a64(std::string_view bytes, uint64_t hash = kFnv1aOffset) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_FNV1A_H
