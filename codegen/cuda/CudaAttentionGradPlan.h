//===- CudaAttentionGradPlan.h - The plan of attention_grad -----*- C++ -*-===//
//
// attention_grad has three CUDA implementations, each three launches (the
// phases below): SIMT kernels for any element type and head size
// (CudaAttentionGrad.cpp), tensor-core kernels for 16-bit data with a head
// size mma.sync tiles (CudaTensorCoreAttentionGrad.cpp, with sm_90a bodies
// in CudaWgmmaAttentionGrad.cpp), and their 3xTF32 counterpart for f32
// (CudaTf32AttentionGrad.cpp). All print the same preamble of shape
// constants and buffers. Internal to codegen/cuda.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_CUDAATTENTIONGRADPLAN_H
#define LLAMAC_CODEGEN_CUDA_CUDAATTENTIONGRADPLAN_H

#include "codegen/cuda/CudaAttentionPlan.h"
#include "codegen/cuda/CudaEmitterUtil.h"

namespace llamac::codegen::cuda {

struct AttentionGradPlan {
  llama::AttentionGradOp op;
  int64_t batch = 0, heads = 0, kvHeads = 0, headDim = 0;
  double scale = 1.0;
  Elem elem = Elem::F32;
  /// The query and key row counts per batch row and the position of the
  /// first query, as expressions; the counts also as constants when static.
  std::string seq, keys, position;
  std::optional<int64_t> seqConstant, keysConstant;

  /// bf16 or f16 with a head size of 16 to 128 in steps of 16: the three
  /// tensor-core phases. Anything else runs the SIMT ones.
  bool tensorCores() const {
    return (elem == Elem::BF16 || elem == Elem::F16) && headDim % 16 == 0 &&
           headDim <= 128;
  }

  /// f32 with a head size of 8 to 128 in steps of 8: the three phases on
  /// the tensor cores in 3xTF32 (CudaTf32AttentionGrad.cpp).
  bool tf32() const {
    return elem == Elem::F32 && headDim % 8 == 0 && headDim <= 128;
  }

  /// The three phases have sm_90a variants (CudaWgmmaAttentionGrad.cpp)
  /// for head sizes 64 and 128: whole 128-byte rows of the swizzle, which
  /// the Tensor Memory Accelerator copies.
  bool wgmma() const {
    return tensorCores() && (headDim == 64 || headDim == 128);
  }
};

mlir::FailureOr<AttentionGradPlan> planAttentionGrad(llama::AttentionGradOp op);

/// The shape constants, `scale`, S, L, position, T and the seven buffers.
void emitAttentionGradCommon(llvm::raw_ostream &os,
                             const AttentionGradPlan &plan);

/// The phases of either implementation, in launch order.
enum class AttentionGradPhase { Stats, KeyGrads, QueryGrads };
inline constexpr unsigned kAttentionGradPhases = 3;

/// A phase's grid, every implementation's: (heads, blocks of `blockRows`
/// queries, batch), or (KV heads, blocks of keys, batch) for dkv, of
/// `threads` threads. The runtime's rule divides batch * rows, so the row
/// step is blockRows * batch.
artifact::LaunchGeometry attentionGradRowGrid(const AttentionGradPlan &plan,
                                              AttentionGradPhase phase,
                                              int64_t blockRows,
                                              unsigned threads);

/// The tile kernels' thread indices (tid, warp, lane, g = lane / 4,
/// t4 = lane % 4, and b, the batch row) and shared lambdas: lastVisible(s),
/// statsOf(h, s), loadRows (cp.async of rows into a padded tile) and
/// storeRows (a warp's 16 x D accumulators to a tensor). They read T, ST
/// (the tiles' type), D, DP (a tile row's length), NO = D / 8, THREADS, S,
/// L, QF, position and dq.
void emitAttentionGradTileHelpers(llvm::raw_ostream &os);

/// Phases 1 and 3 (stats, dq) of both tile kernels, after the kernel's
/// own part: the warp's causal limits, and the walk over the key tiles of
/// KT rows that the block's queries see, in two stages, with the phase's
/// work on each. The kernel's part defines h, s0, queries (the block's
/// query rows) and the lambdas loadKeys(stage, t0, valid) (key and value
/// rows t0 + [0, KT) to a stage, rows from `valid` on zeros: one cp.async
/// group), products(sc, dp, stage) (S and dP of the warp's 16 queries
/// against a stage, as NS n-tiles of 8 keys) and addKeyProducts(acc, ds,
/// stage) (dQ += dS K).
void emitQueryPhase(llvm::raw_ostream &os, AttentionGradPhase phase);

/// Phase 2 of both tile kernels walks `items`: each query tile of `rows`
/// rows, of each head of the block's group, that sees a key of the block
/// (from t0 on), numbered head by head from firstTile on (perHead a head).
void emitQueryTileItems(llvm::raw_ostream &os, llvm::StringRef rows);

void emitTf32AttentionGrad(llvm::raw_ostream &os, const AttentionGradPlan &plan,
                           AttentionGradPhase phase, llvm::StringRef symbol);
artifact::LaunchGeometry
tf32AttentionGradGeometry(const AttentionGradPlan &plan,
                          AttentionGradPhase phase);

void emitTensorCoreAttentionGrad(llvm::raw_ostream &os,
                                 const AttentionGradPlan &plan,
                                 AttentionGradPhase phase,
                                 llvm::StringRef symbol);
artifact::LaunchGeometry
tensorCoreAttentionGradGeometry(const AttentionGradPlan &plan,
                                AttentionGradPhase phase);

/// The sm_90a body of a phase, where wgmma() holds; the tensor-core kernel
/// emits it under LLAMA_WGMMA.
void emitWgmmaAttentionGradBody(llvm::raw_ostream &os,
                                AttentionGradPhase phase);
/// Its launch and the tensor maps of the tiles it loads; none where
/// wgmma() does not hold.
std::optional<artifact::LaunchGeometry>
wgmmaAttentionGradGeometry(const AttentionGradPlan &plan,
                           AttentionGradPhase phase);
std::vector<artifact::TensorMapSpec>
wgmmaAttentionGradTensorMaps(const AttentionGradPlan &plan,
                             AttentionGradPhase phase);

/// Its blocks: the forward's (two multiplying warpgroups of 64 rows and a
/// loader warpgroup), the query-side phases' over key and value tiles of
/// 64 rows, the dkv phase's (128 keys a block) over query, output-gradient
/// and statistics tiles of 64 rows, in three stages. A tile of 128 rows
/// would take the two 64 x 64 accumulators (S and dP) to 128 registers,
/// beside the dQ or the dK and dV ones.
inline constexpr int kWgmmaAttentionGradKeyRows = 64;
inline constexpr int kWgmmaAttentionGradBlockKeys = 128;
inline constexpr int kWgmmaAttentionGradStages = 3;
/// Its dynamic shared memory, unpadded (swizzled) tiles from a 1024-byte
/// boundary (1 KiB more) and a full and an empty mbarrier a stage: the
/// block's queries and output gradients (or keys and values), then the
/// stages' key and value tiles (or query and output-gradient tiles and
/// 1 KiB of statistics): 161 KiB (or 163 KiB) at head size 128.
inline constexpr unsigned
wgmmaAttentionGradSharedBytes(int64_t headDim, AttentionGradPhase phase) {
  const bool keys = phase == AttentionGradPhase::KeyGrads;
  return (2 * (keys ? kWgmmaAttentionGradBlockKeys : kAttentionQueryRows) +
          2 * kWgmmaAttentionGradStages * kWgmmaAttentionGradKeyRows) *
             headDim * 2 +
         (keys ? kWgmmaAttentionGradStages * 1024 : 0) + 1024 +
         2 * kWgmmaAttentionGradStages * 8;
}
static_assert(
    wgmmaAttentionGradSharedBytes(128, AttentionGradPhase::KeyGrads) <=
            227 * 1024 &&
        wgmmaAttentionGradSharedBytes(128, AttentionGradPhase::QueryGrads) <=
            227 * 1024,
    "an H100 gives a block the tiles");

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAATTENTIONGRADPLAN_H
