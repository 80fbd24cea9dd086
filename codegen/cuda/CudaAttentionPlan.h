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

  /// f32 operands, results and caches with a head size of 8 to 128 in
  /// steps of 8: the 3xTF32 tensor-core kernel (CudaTf32Attention.cpp)
  /// serves every call that is not decode.
  bool tf32() const;

  /// The tensor-core kernel's sm_90a variant (CudaWgmmaAttention.cpp)
  /// applies: head size 64 or 128 (whole 128-byte rows of the swizzle). The
  /// Tensor Memory Accelerator copies the key rows as stored (from the
  /// caches, or the key operand); cacheless fused_rope_attention's are
  /// rotated in shared memory once they land.
  bool wgmma() const {
    return tensorCores() && (headDim == 64 || headDim == 128);
  }

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

void emitTf32Attention(llvm::raw_ostream &os, const AttentionPlan &plan,
                       llvm::StringRef symbol);

/// The 3xTF32 kernel's block: 4 warps of 16 queries each, over key and
/// value tiles of 16 rows in two stages.
inline constexpr int kTf32AttentionQueryRows = 64;
inline constexpr int kTf32AttentionKeyRows = 16;
inline constexpr int kTf32AttentionThreads = 128;
/// Its dynamic shared memory: the queries and 2 stages of key and value
/// tiles, all f32 in rows of D + 4 floats: 66 KiB at head size 128.
inline constexpr unsigned tf32AttentionSharedBytes(int64_t headDim) {
  return (kTf32AttentionQueryRows + 4 * kTf32AttentionKeyRows) * (headDim + 4) *
         4;
}
static_assert(tf32AttentionSharedBytes(128) <= 99 * 1024,
              "every sm_80+ GPU gives a block the tiles");

/// The tensor-core kernels' causal limits (lastVisible(s), and the block's
/// tileLast and tiles), from s0, BQ, BKV, S, L and position.
void emitCausalLimits(llvm::raw_ostream &os);

/// The forward tensor-core kernels' RoPE (freq, firstOf, secondOf, rotate
/// and rotatePair) and the block's BQ queries, rotated, in qs (rows of ST),
/// from h, b, s0, tid and THREADS.
void emitRotatedQueries(llvm::raw_ostream &os);

/// The forward tensor-core kernels' outputRow(s): query s's row of `out`
/// in head h of batch row b, null from `queries` (emitCausalLimits) on.
void emitOutputRow(llvm::raw_ostream &os);

/// The wgmma kernels' per-warpgroup limits (rowLast, rowsVisible,
/// groupLast and `active`, the tiles it multiplies), from the causal limits
/// and q0 (the warpgroup's first query), rowBase (the thread's first row in
/// the block) and BKV.
void emitWgmmaRowLimits(llvm::raw_ostream &os);

/// The body of the sm_90a variant, for plans where wgmma() holds; the
/// tensor-core kernel emits it under LLAMA_WGMMA.
void emitWgmmaAttentionBody(llvm::raw_ostream &os);

/// The sm_90a variant's block: two warpgroups of 64 queries each (the same
/// 128 queries a block as the mma.sync kernel, so the grid is the same),
/// and a loader warpgroup, over key and value tiles of 128 rows in two
/// stages.
inline constexpr int kWgmmaAttentionKeyRows = 128;
inline constexpr int kWgmmaAttentionStages = 2;
inline constexpr int kWgmmaAttentionThreads = 384;
/// Its dynamic shared memory: the queries, then the stages' key and value
/// tiles, unpadded (swizzled), from a 1024-byte boundary (1 KiB more), a
/// full and an empty mbarrier a stage for each of the key and the value
/// tiles, and a "rotated" one a stage for the keys that the kernel rotates
/// (cacheless fused_rope_attention): 161 KiB at head size 128, one block an
/// SM.
inline constexpr unsigned wgmmaAttentionSharedBytes(int64_t headDim) {
  return (kAttentionQueryRows +
          2 * kWgmmaAttentionStages * kWgmmaAttentionKeyRows) *
             headDim * 2 +
         1024 + 5 * kWgmmaAttentionStages * 8;
}
static_assert(wgmmaAttentionSharedBytes(128) <= 227 * 1024,
              "an H100 gives a block the tiles");

/// Flash-decoding's block shape and its most splits of the key sequence: a
/// key row is `lanes` lanes' `elemsPerLane` elements, and each lane group
/// has `unroll` rows' loads in flight at a time.
struct DecodeShape {
  int64_t lanes = 1, elemsPerLane = 1, unroll = 1, splits = 1;
  /// Rows a block of 4 warps reads at a time.
  int64_t stepRows() const { return 4 * (32 / lanes) * unroll; }
};
DecodeShape decodeShape(const AttentionPlan &plan);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAATTENTIONPLAN_H
