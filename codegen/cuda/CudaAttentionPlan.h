//===- CudaAttentionPlan.h - What a CUDA attention kernel is specialized on -//
//
// attention and fused_rope_attention share one plan. Key row t of a query's
// batch row is "old" (t < newBase: read as stored, from the cache or the
// key operand) or "new" (the call's own keys, row t - newBase, rotated at
// position + t - newBase). Internal to codegen/cuda.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_CUDAATTENTIONPLAN_H
#define LLAMAC_CODEGEN_CUDA_CUDAATTENTIONPLAN_H

#include "codegen/cuda/CudaEmitterUtil.h"

namespace llamac::codegen::cuda {

struct AttentionPlan {
  mlir::Operation *op = nullptr;
  int64_t heads = 0, kvHeads = 0, headDim = 0;
  std::optional<double> scale;
  Elem query = Elem::F32, key = Elem::F32, value = Elem::F32, out = Elem::F32;
  /// fused_rope_attention: RoPE on q and the new keys.
  bool rope = false;
  llama::RopeStyle style = llama::RopeStyle::Adjacent;
  double theta = 10000.0;
  /// fused_rope_attention with caches: new rows are written to them.
  bool cache = false;
  /// Rows of the old key source per batch row (the capacity, or the key
  /// operand's rows), as an expression; also the causal limit L.
  std::string keyRows;
  std::optional<int64_t> keyRowsConstant;
  Elem cacheElem = Elem::F32;
  std::string batch, seq, position;
  std::optional<int64_t> batchConstant, seqConstant;

  /// 16-bit operands and a head size mma.sync tiles: the tensor-core
  /// kernel serves every call that is not decode.
  bool tensorCores() const;

  /// One new token per batch row, with caches: flash-decoding.
  bool decode() const {
    return cache && seqConstant && *seqConstant == 1 && batchConstant &&
           keyRowsConstant;
  }

  /// Caches and not decode: a first launch writes the new rows to the
  /// caches (CudaAttentionCacheWrite.cpp), then the attention kernel reads
  /// every key and value row from them.
  bool writesCacheFirst() const { return cache && !decode(); }
};

mlir::FailureOr<AttentionPlan> planAttention(mlir::Operation *op);

/// Prints the types, shape constants, launch values, the buffers (q, k, v,
/// out, and kc, vc: the caches, through the result pointers that alias
/// them) and `scoreOf(dot)`, shared by both kernels.
void emitAttentionCommon(llvm::raw_ostream &os, const AttentionPlan &plan);

/// The kernel bodies; the signature and any globals come first.
void emitFlashDecoding(llvm::raw_ostream &os, const AttentionPlan &plan,
                       llvm::StringRef symbol);
mlir::LogicalResult emitFlashAttention(llvm::raw_ostream &os,
                                       const AttentionPlan &plan,
                                       llvm::StringRef symbol);

void emitAttentionCacheWrite(llvm::raw_ostream &os, const AttentionPlan &plan,
                             llvm::StringRef symbol);
inline constexpr int kAttentionCacheWriteThreads = 256;

void emitTensorCoreAttention(llvm::raw_ostream &os, const AttentionPlan &plan,
                             llvm::StringRef symbol);

/// The tensor-core kernel's block: 4 warps of 32 queries each (two halves
/// of 16 that share every key and value fragment a warp loads), over key
/// and value tiles of 32 rows in two stages, so that the next tile loads
/// while this one is multiplied. 128 queries a block halve the key traffic
/// (and RoPE work) of 64. Tiles of 64 keys would take the 64 score
/// accumulators beside the 128 of O past 255 registers (ptxas spilled).
inline constexpr int kAttentionQueryRows = 128;
inline constexpr int kAttentionKeyRows = 32;
inline constexpr int kAttentionThreads = 128;
/// Its dynamic shared memory: the queries and 2 stages of key and value
/// tiles, rows padded by 16 bytes: 68 KiB at head size 128, which sm_86 and
/// sm_89 give a block and an H100 gives two.
inline constexpr unsigned tensorCoreAttentionSharedBytes(int64_t headDim) {
  return (kAttentionQueryRows + 4 * kAttentionKeyRows) * (headDim + 8) * 2;
}
static_assert(tensorCoreAttentionSharedBytes(128) <= 99 * 1024,
              "every sm_80+ GPU gives a block the tiles");

/// Flash-decoding's fixed split of the key sequence, and its block shape.
struct DecodeShape {
  int64_t lanes = 1, elemsPerLane = 1, splits = 1;
};
DecodeShape decodeShape(const AttentionPlan &plan);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAATTENTIONPLAN_H
