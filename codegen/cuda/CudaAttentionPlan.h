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

/// The tensor-core kernel's block: 8 warps of 16 queries each, over key and
/// value tiles of 64 rows in two stages, so that the next tile loads while
/// this one is multiplied. 128 queries a block halve the key traffic (and
/// RoPE work) of 64.
inline constexpr int kAttentionQueryRows = 128;
inline constexpr int kAttentionKeyRows = 64;
inline constexpr int kAttentionThreads = 256;
/// Its dynamic shared memory: 2 stages of key and value tiles, rows padded
/// by 16 bytes (the queries are staged through the two key tiles first).
inline constexpr unsigned tensorCoreAttentionSharedBytes(int64_t headDim) {
  return 2 * 2 * kAttentionKeyRows * (headDim + 8) * 2;
}
static_assert(kAttentionQueryRows <= 2 * kAttentionKeyRows,
              "the queries are staged through both key tiles");

/// Flash-decoding's fixed split of the key sequence, and its block shape.
struct DecodeShape {
  int64_t lanes = 1, elemsPerLane = 1, splits = 1;
};
DecodeShape decodeShape(const AttentionPlan &plan);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAATTENTIONPLAN_H
