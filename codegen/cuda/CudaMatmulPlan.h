//===- CudaMatmulPlan.h - What a CUDA GEMM kernel is specialized on -*- C++
//-*-//
//
// matmul and fused_matmul share one plan: shapes, element types, prologue,
// epilogue, and which of the three kernel designs computes them. The plan
// decides the design once, so the body and its launch geometry agree.
// Internal to codegen/cuda.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_CUDAMATMULPLAN_H
#define LLAMAC_CODEGEN_CUDA_CUDAMATMULPLAN_H

#include "codegen/cuda/CudaEmitterUtil.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"

namespace llamac::codegen::cuda {

enum class GemmKind {
  /// Few static activation rows (decode): memory bound on the weights, so
  /// one warp per output column pair streams its weight rows once.
  Gemv,
  /// Many or dynamic rows with 16-bit operands: mma.sync tensor cores.
  TensorCore,
  /// Anything else (f32, odd K): tiles staged through registers in f32,
  /// multiplied on the tensor cores in tf32 (3xTF32 for f32 operands).
  Tf32,
};

struct MatmulPlan {
  mlir::Operation *op = nullptr;
  GemmKind kind = GemmKind::Tf32;
  Elem input = Elem::F32, weight = Elem::F32;
  std::optional<Elem> gain, residual;
  llvm::SmallVector<Elem> results;
  /// The weight is [n][k]; rows are the activation rows (tokens).
  int64_t k = 0, n = 0;
  Rows rows;
  std::optional<double> epsilon;
  llama::Epilogue epilogue = llama::Epilogue::None;
  llvm::SmallVector<int64_t> segments;

  bool swiglu() const { return epilogue == llama::Epilogue::SwiGLU; }
  /// Output columns: the SwiGLU hidden width, else the weight rows.
  int64_t columns() const { return swiglu() ? n / 2 : n; }
  /// Whether the tensor-core GEMM stages its outputs in shared memory and
  /// writes them in 8-column chunks: every output row (each segment's, and
  /// the residual's) is whole chunks of 16-byte aligned 16-bit elements.
  bool stagedEpilogue() const {
    if (kind != GemmKind::TensorCore || columns() % 8 != 0)
      return false;
    return llvm::all_of(segments, [](int64_t size) { return size % 8 == 0; });
  }
};

/// The tensor-core GEMM's tiles with mma.sync: 128 activation rows by 128
/// weight rows by 64 of K (128-byte rows of 16-bit elements), in a pipeline
/// of 3 stages.
inline constexpr int kTensorCoreTileRows = 128;
inline constexpr int kTensorCoreTileK = 64;
inline constexpr int kTensorCoreStages = 3;
/// Its dynamic shared memory: the stages and 1 KiB to align them to the
/// swizzle's 1024 bytes. 97 KiB fits the 99 KiB that sm_86 and sm_89 allow.
inline constexpr unsigned kTensorCoreSharedBytes =
    kTensorCoreStages * 2 * kTensorCoreTileRows * kTensorCoreTileK * 2 + 1024;

/// With wgmma (sm_90a) the tiles are twice as wide: 128 activation rows by
/// 256 weight rows (for SwiGLU 128 gate and 128 up rows) by 64 of K, in 4
/// stages, one block per SM. Per FLOP a block then reads 3/4 of the bytes a
/// 128 x 128 tile reads from L2, which at 128 x 128 tiles could not feed the
/// tensor cores (15 TB/s at an H100's peak, against a few of L2 bandwidth).
inline constexpr int kWgmmaTileCols = 256;
inline constexpr int kWgmmaStages = 4;
/// Where the rows are few, wide tiles leave SMs idle: at 512 rows 7B's Wo
/// and W2 (N = 4096) have 64 of them for an H100's 132 SMs, and ran at 72%
/// and 64% of cuBLAS. Tiles of half the weight rows (wgmma.m64n128k16)
/// double the blocks at work. A GEMM without SwiGLU takes them when they
/// all run at once, one a block (CudaWgmmaGemm.cpp decides at run time, as
/// the rows are the call's), and its launch geometry counts them, so that
/// such a launch has a block for each. Where narrow tiles would take more
/// than one round of the grid the wide ones' fewer bytes a FLOP win.
/// SwiGLU's tiles stay wide: their gate and up halves are the weight's
/// 128-row TMA boxes, and W1W3 (twice the FFN width) has the most tiles.
inline constexpr int kWgmmaNarrowTileCols = kWgmmaTileCols / 2;
/// Its block: two warpgroups that multiply and a third that only issues the
/// TMA loads (warp specialization). setmaxnreg moves registers from the
/// loader to the multiplying warpgroups: a thread of 384 gets 168 at
/// launch, too few for 128 accumulators and the epilogue's addresses.
inline constexpr int kWgmmaConsumerThreads = 256;
inline constexpr int kWgmmaGemmThreads = kWgmmaConsumerThreads + 128;
inline constexpr int kWgmmaLoaderRegisters = 40;
inline constexpr int kWgmmaConsumerRegisters = 232;
/// What a block holds at launch: the register file split evenly among its
/// threads, in steps of 8 a thread (168 for 384 threads). setmaxnreg only
/// moves registers within that pool; an increase beyond it would wait
/// forever.
inline constexpr int kWgmmaLaunchRegisters =
    65536 / kWgmmaGemmThreads / 8 * 8;
static_assert(128 * kWgmmaLoaderRegisters +
                      kWgmmaConsumerThreads * kWgmmaConsumerRegisters <=
                  kWgmmaGemmThreads * kWgmmaLaunchRegisters,
              "the warpgroups' registers fit the block's pool at launch");
static_assert(kWgmmaLoaderRegisters % 8 == 0 &&
                  kWgmmaConsumerRegisters % 8 == 0 &&
                  kWgmmaLoaderRegisters >= 24 && kWgmmaConsumerRegisters <= 256,
              "setmaxnreg takes multiples of 8 from 24 to 256");
/// The epilogue stages this many output columns of the 128 rows at a time
/// (f32 rows padded by 8), in a buffer of its own: the loader may already
/// be filling the pipeline's stages with the block's next tile. 32 is the
/// widest round that fits beside 4 stages.
inline constexpr int kWgmmaEpilogueColumns = 32;
/// The stages, 1 KiB of alignment, a full and an empty mbarrier per stage
/// (8 bytes each), the row scales, and the staged outputs: 214 KiB of the
/// 227 an H100 gives a block.
inline constexpr unsigned kWgmmaSharedBytes =
    kWgmmaStages * (kTensorCoreTileRows + kWgmmaTileCols) * kTensorCoreTileK *
        2 +
    1024 + kWgmmaStages * 2 * 8 + kTensorCoreTileRows * 4 +
    kTensorCoreTileRows * (kWgmmaEpilogueColumns + 8) * 4;
static_assert(kWgmmaSharedBytes <= 227 * 1024,
              "the sm_90a GEMM's shared memory fits an H100's block");
/// The sm_90a GEMM is persistent (CudaWgmmaGemm.cpp): one block on each SM
/// walks the tiles.
inline constexpr unsigned kWgmmaPersistentBlocksPerSm = 1;
/// It runs in clusters of 2 CTAs along x (CudaWgmmaGemm.cpp): the two
/// multiply consecutive row tiles of one column tile, and each loads half
/// of their weight tile into both by TMA multicast. Per FLOP the cluster's
/// CTAs then read 2/3 of the bytes from L2 that lone 128 x 256 tiles read
/// (128 + 128 rows a stage instead of 128 + 256), where L2 bandwidth, not
/// HBM's, is what 128 x 256 tiles press on. The weight tile is loaded in
/// two boxes of 128 rows either way: each CTA's half, or both halves where
/// a launch has no clusters. matmul_grad's sm_90a kernel runs in the same
/// clusters (CudaTensorCoreMatmulGrad.cpp), sharing the rows of x or W
/// that both of its tiles sum over.
inline constexpr unsigned kWgmmaClusterBlocks = 2;
inline constexpr unsigned kWgmmaWeightBoxRows = kWgmmaTileCols / 2;

/// matmul_grad's tensor-core tiles with mma.sync: 128 x 128 outputs, 3
/// stages of 32 reduced rows: a stage holds dy's tile (128 x 32 for dx,
/// 32 x 128 for dW; the larger is reserved) and 32 x 128 of x or W, rows
/// padded by 16 bytes (55.5 KiB in all).
inline constexpr int kGradTile = 128;
inline constexpr int kGradTileK = 32;
inline constexpr int kGradStages = 3;
inline constexpr unsigned kGradMmaSyncSharedBytes =
    kGradStages *
    (kGradTile * (kGradTileK + 8) + kGradTileK * (kGradTile + 8)) * 2;
/// With wgmma (sm_90a): 128 x 256 outputs, 4 stages of 64 reduced rows in
/// 128-byte rows (16 KiB of dy, 32 KiB of x or W), 1 KiB of alignment, and
/// a full and an empty mbarrier a stage: 193 KiB, one block per SM, whose
/// threads are the forward GEMM's (kWgmmaGemmThreads).
inline constexpr int kGradWgmmaTileCols = 256;
inline constexpr int kGradWgmmaTileK = 64;
inline constexpr int kGradWgmmaStages = 4;
inline constexpr unsigned kGradWgmmaSharedBytes =
    kGradWgmmaStages * (kGradTile + kGradWgmmaTileCols) * kGradWgmmaTileK * 2 +
    1024 + kGradWgmmaStages * 2 * 8;

/// The TF32 GEMM's tiles: 128 rows by 128 weight rows (64 SwiGLU outputs),
/// llamaTf32TileMainLoop's in the prelude.
inline constexpr int kTf32TileRows = 128;

/// At most this many static rows take the GEMV: each weight row is then
/// read once for all of them, from registers.
inline constexpr int64_t kGemvMaxRows = 4;

/// 16-byte weight loads in flight per lane and column (8 measured slower).
inline constexpr int64_t kGemvUnroll = 4;
/// Bytes at the start of each of its weight rows a GEMV warp prefetches to
/// L2 before waiting for the previous kernel (CudaGemv.cpp): 8 lines, some
/// 8 MB over a full wave of GEMV blocks on an H100 (17 with SwiGLU's two
/// rows a column), about what HBM moves in a kernel's few-microsecond tail.
/// Not yet timed on a GPU.
inline constexpr int64_t kGemvPrefetchBytes = 1024;
/// What a GEMV whose input is decode attention's output (the attention
/// projection, Wo) prefetches of its weight in all, at least: attention
/// reads a few MB of cache in several microseconds of dependent steps and
/// leaves HBM mostly idle, time in which HBM moves about 16 MiB at 3 TB/s,
/// a third of an H100's L2 (half of 7B's Wo, an eighth of 70B's). Not yet
/// timed on a GPU.
inline constexpr int64_t kGemvPrefetchAfterAttentionBytes = 16 << 20;
/// A GEMV warp owns one output column (a weight row, or a SwiGLU gate/up
/// row pair), 8 warps a block. Where the columns are few the warps of a
/// block split each column's K, up to kGemvMaxSplit ways, until the launch
/// has this many warps: an H100 holds 132 SMs x 64 warps (8,448), and a
/// GEMV with fewer, such as 7B's Wo and W2 (4,096 columns), leaves HBM too
/// few loads in flight. Warps are what the GEMV is short of there: one
/// column a warp instead of two took 7B's W2 from 54.0 to 40.5 us on an
/// H100 and its decode from 175 to 190 tokens/s. The split is not yet
/// timed on a GPU.
inline constexpr int64_t kGemvTargetWarps = 8192;
inline constexpr int64_t kGemvMaxSplit = 8;

/// How many warps of a block share each GEMV column (1, 2, 4 or 8): the
/// fewest that reach kGemvTargetWarps while each warp's share of K keeps
/// kGemvUnroll loads a lane in flight at least once.
int64_t gemvSplit(const MatmulPlan &plan);

/// The 128-byte lines at the start of each of its weight rows a GEMV
/// column's warps prefetch to L2 before waiting for the previous kernel.
int64_t gemvPrefetchLines(const MatmulPlan &plan);

/// The GEMV's blocks an SM must hold (its __launch_bounds__), or 0 for no
/// bound. 8 blocks of 256 threads are the 64 warps an SM holds, which
/// leaves a thread 32 registers.
int64_t gemvMinBlocks(const MatmulPlan &plan);

mlir::FailureOr<MatmulPlan> planMatmul(mlir::Operation *op);

/// Prints the buffers, in the ABI's order, and `finish(r, c, acc, up,
/// scale)`, which applies the epilogue to output column `c` of row `r`
/// (and finish8, where the plan stages its epilogue).
void emitOperandsAndFinish(llvm::raw_ostream &os, const MatmulPlan &plan);

/// With a staged epilogue, also `finish8(r, c, v)`: the epilogue of output
/// columns c to c + 7 of row r, whose 8 values `v` are already scaled.
void emitChunkFinish(llvm::raw_ostream &os, const MatmulPlan &plan);

/// The kernel bodies, after the signature.
void emitGemv(llvm::raw_ostream &os, const MatmulPlan &plan);
void emitTensorCoreGemm(llvm::raw_ostream &os, const MatmulPlan &plan);
/// emitTensorCoreGemm's sm_90a design (CudaWgmmaGemm.cpp).
void emitWgmmaGemm(llvm::raw_ostream &os, const MatmulPlan &plan);
/// The tensor-core designs' shared parts, after BN (the weight rows a stage
/// holds) and STAGES: the stage layout's constants, the shared-memory base,
/// and normStage (the row sums of squares, and the gain applied in shared
/// memory).
void emitTensorCoreTileSetup(llvm::raw_ostream &os);
/// Their epilogue: the RMSNorm row scales, then the outputs, staged in
/// shared memory and written in 16-byte chunks where every output row is
/// whole chunks (MatmulPlan::stagedEpilogue), else pair by pair. Given the
/// tile's m0 and c0, TILE_COLS (its output columns), PAIRS (a thread's
/// pairs of outputs), syncMultipliers (a barrier of the 256 threads that
/// hold accumulators), rowScale, staged, EPILOGUE_COLS (the columns staged
/// at once), and pairRow, pairCol, pairValue and pairGroup (pair j's tile
/// row, column, gate or up value, and 8-column group).
void emitTileEpilogue(llvm::raw_ostream &os, const MatmulPlan &plan);
void emitTf32Gemm(llvm::raw_ostream &os, const MatmulPlan &plan);
/// matmul_grad's tensor-core body, after its signature, TX, the shape
/// constants (K, N, WEIGHT_TILES), rows and the buffers.
void emitTensorCoreMatmulGrad(llvm::raw_ostream &os);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAMATMULPLAN_H
