//===- EmulatedTensorMap.h - The kernel emulator's CUtensorMap --*- C++ -*-===//
//
// A CUtensorMap is 128 opaque bytes whose encoding only the driver and the
// TMA unit know. The fake driver (test/unit/runtime/FakeCudaDriver.cpp)
// encodes this struct in their place with llamaEmuEncodeTiled, which takes
// cuTensorMapEncodeTiled's parameters and refuses what the driver refuses;
// the kernel emulator (CudaEmulation.cpp) reads it back for
// cp.async.bulk.tensor. A map with another origin (zeros, a real driver's)
// lacks the magic number, and the emulator traps on it.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TEST_CUDAEMU_EMULATEDTENSORMAP_H
#define LLAMAC_TEST_CUDAEMU_EMULATEDTENSORMAP_H

#include <cstdint>
#include <cstring>

/// "LLAMATMA", little-endian.
inline constexpr uint64_t kLlamaEmuTensorMapMagic = 0x414d54414d414c4cull;
/// The driver's rank limit; the emulator copies rank-2 boxes only.
inline constexpr unsigned kLlamaEmuTensorMapMaxRank = 5;

/// CUresult values the encoder returns.
inline constexpr int kLlamaEmuEncodeSuccess = 0;
inline constexpr int kLlamaEmuEncodeInvalidValue = 1;
/// CUDA_ERROR_NOT_SUPPORTED: a valid request the emulator does not emulate.
inline constexpr int kLlamaEmuEncodeNotSupported = 801;

struct LlamaEmuTensorMap {
  uint64_t magic;
  uint64_t globalAddress;
  uint32_t rank;
  uint32_t elementBytes;
  /// The swizzle span in bytes (32, 64 or 128), 0 for none.
  uint32_t swizzleBytes;
  uint32_t reserved;
  /// Elements, innermost first.
  uint64_t dims[kLlamaEmuTensorMapMaxRank];
  /// Bytes between consecutive indices of dims[1..rank-1].
  uint64_t strides[kLlamaEmuTensorMapMaxRank - 1];
  /// Elements per box, innermost first.
  uint32_t box[kLlamaEmuTensorMapMaxRank];
};
static_assert(sizeof(LlamaEmuTensorMap) <= 128, "a CUtensorMap has 128 bytes");

/// cuTensorMapEncodeTiled with the driver's parameters (its enums as ints):
/// returns 1 (CUDA_ERROR_INVALID_VALUE) for whatever the driver documents
/// as invalid, 801 (CUDA_ERROR_NOT_SUPPORTED) for a valid request the
/// emulator cannot copy (rank above 2, element strides, interleaving,
/// swizzles other than none and 128B, the NaN fill, 8-byte and packed
/// element types), and 0 after writing the map.
inline int llamaEmuEncodeTiled(void *tensorMap, int dataType, unsigned rank,
                               void *globalAddress, const uint64_t *globalDim,
                               const uint64_t *globalStrides,
                               const uint32_t *boxDim,
                               const uint32_t *elementStrides, int interleave,
                               int swizzle, int l2Promotion, int oobFill) {
  constexpr int kInvalid = kLlamaEmuEncodeInvalidValue;
  // CUtensorMapDataType: bits per element in memory. The packed types hold
  // 16 values in 8 bytes (16U4_ALIGN8B) or in 16 (the ALIGN16B ones).
  constexpr unsigned kBits[] = {8,  16, 32, 32, 64, 64, 16, 32,
                                64, 16, 32, 32, 32, 4,  8,  8};
  constexpr int kPacked4Align8 = 13, kPacked4Align16 = 14, kPacked6 = 15;
  constexpr int kInterleaveNone = 0, kInterleave32 = 2;
  constexpr int kSwizzleNone = 0, kSwizzle32 = 1, kSwizzle64 = 2,
                kSwizzle128 = 3, kSwizzle128Atom32 = 4, kSwizzle128Atom64 = 6;
  if (!tensorMap || uintptr_t(tensorMap) % 64 != 0 || dataType < 0 ||
      dataType > kPacked6 || rank == 0 || rank > kLlamaEmuTensorMapMaxRank ||
      interleave < 0 || interleave > kInterleave32 || swizzle < 0 ||
      swizzle > kSwizzle128Atom64 || l2Promotion < 0 || l2Promotion > 3 ||
      oobFill < 0 || oobFill > 1 || !globalDim || !boxDim || !elementStrides ||
      (rank > 1 && !globalStrides))
    return kInvalid;
  bool packed16 = dataType == kPacked4Align16 || dataType == kPacked6;
  bool isFloat = dataType >= 6 && dataType <= 12;
  unsigned addressAlign = interleave == kInterleave32 || packed16 ? 32 : 16;
  if ((interleave != kInterleaveNone && rank < 3) ||
      uintptr_t(globalAddress) % addressAlign != 0 ||
      (interleave == kInterleave32 && swizzle != kSwizzle32) ||
      (dataType == kPacked6 && interleave != kInterleaveNone) ||
      (packed16 && swizzle != kSwizzleNone && swizzle != kSwizzle128 &&
       swizzle != kSwizzle128Atom32 &&
       !(dataType == kPacked6 && swizzle == kSwizzle128Atom64)) ||
      (oobFill != 0 && !isFloat))
    return kInvalid;
  for (unsigned i = 0; i < rank; ++i)
    if (globalDim[i] == 0 || globalDim[i] > (uint64_t(1) << 32) ||
        boxDim[i] == 0 || boxDim[i] > 256 || elementStrides[i] == 0 ||
        elementStrides[i] > 8)
      return kInvalid;
  if ((packed16 && globalDim[0] % 128 != 0) ||
      (dataType == kPacked4Align8 && globalDim[0] % 2 != 0) ||
      (packed16 && boxDim[0] != 128))
    return kInvalid;
  for (unsigned i = 0; i + 1 < rank; ++i)
    if (globalStrides[i] % addressAlign != 0 ||
        globalStrides[i] >= (uint64_t(1) << 40))
      return kInvalid;
  uint64_t innerBits = uint64_t(boxDim[0]) * kBits[dataType];
  unsigned swizzleBytes = swizzle == kSwizzleNone ? 0
                          : swizzle == kSwizzle32 ? 32
                          : swizzle == kSwizzle64 ? 64
                                                  : 128;
  if (interleave == kInterleaveNone &&
      (innerBits % 128 != 0 ||
       (swizzleBytes != 0 && innerBits / 8 > swizzleBytes)))
    return kInvalid;

  // Valid; what the emulator copies.
  bool emulatedType =
      dataType <= 3 || dataType == 6 || dataType == 7 || dataType == 9;
  // TMA ignores the innermost element stride without interleaving.
  for (unsigned i = 1; i < rank; ++i)
    if (elementStrides[i] != 1)
      return kLlamaEmuEncodeNotSupported;
  if (rank > 2 || interleave != kInterleaveNone ||
      (swizzle != kSwizzleNone && swizzle != kSwizzle128) || oobFill != 0 ||
      !emulatedType)
    return kLlamaEmuEncodeNotSupported;

  LlamaEmuTensorMap map = {};
  map.magic = kLlamaEmuTensorMapMagic;
  map.globalAddress = uint64_t(uintptr_t(globalAddress));
  map.rank = rank;
  map.elementBytes = kBits[dataType] / 8;
  map.swizzleBytes = swizzleBytes;
  for (unsigned i = 0; i < rank; ++i) {
    map.dims[i] = globalDim[i];
    map.box[i] = boxDim[i];
    if (i + 1 < rank)
      map.strides[i] = globalStrides[i];
  }
  std::memset(tensorMap, 0, 128);
  std::memcpy(tensorMap, &map, sizeof(map));
  return kLlamaEmuEncodeSuccess;
}

#endif // LLAMAC_TEST_CUDAEMU_EMULATEDTENSORMAP_H
