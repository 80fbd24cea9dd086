//===- CudaGemv.cpp - Decode GEMM: fused RMSNorm + GEMV ------------------===//
//
// With one token per batch row the GEMM reads every weight once and does
// two flops per weight: it is bound by memory bandwidth, and what it needs
// is many 16-byte weight loads in flight at all times. Each warp owns one
// output column (a weight row, or a SwiGLU gate/up row pair), or every
// SPLIT-th round of its K where the columns are few (gemvSplit), and
// streams it with 128-bit no-L1-allocate loads, kGemvUnroll in flight per
// lane and row.
//
// The activation rows are read beside the weights, each lane the elements
// its weight loads multiply, through L1: every warp of an SM reads the same
// few rows (at most 4 x 56 KiB for 70B's W2), so after the first warp they
// come from L1. Until 2026-11-24 a block staged them in shared memory in
// chunks of 32 KiB between two barriers a chunk, during which its warps had
// no weight loads in flight; the blocks resident at once start together and
// stalled together, which for 70B's W2 (K = 28672, four chunks) happened
// four times a launch. The RMSNorm's sum of squares is taken on the same
// loads: a warp that owns a whole column sees all of x, so its own shuffle
// sum is the row's; split columns add their warps' partial sums with their
// dot products.
//
// Launched while the previous kernel drains (programmatic dependent launch),
// each warp first sends the first kGemvPrefetchBytes of its weight rows
// towards L2, then waits for that kernel: the tail of one kernel, when few
// of its blocks are left to keep HBM busy, fetches the next one's weights.
// The GEMV after decode attention (Wo) can be resident through all of that
// latency-bound kernel, and prefetches kGemvPrefetchAfterAttentionBytes.
// A prefetch returns nothing to the thread, so it cannot read a value the
// previous kernel has yet to write.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaMatmulPlan.h"

#include <algorithm>

using namespace mlir;

namespace llamac::codegen::cuda {

namespace {

/// Elements of K a lane reads at a time: the widest access dividing a
/// weight row (16 bytes for every Llama).
int64_t gemvVector(const MatmulPlan &plan) {
  return vectorElements(plan.k, plan.weight);
}

} // namespace

int64_t gemvSplit(const MatmulPlan &plan) {
  const int64_t round = 32 * gemvVector(plan) * kGemvUnroll;
  int64_t split = 1;
  while (split < kGemvMaxSplit && plan.columns() * split < kGemvTargetWarps &&
         ceilDiv(plan.k, 2 * split) >= round)
    split *= 2;
  return split;
}

int64_t gemvPrefetchLines(const MatmulPlan &plan) {
  const int64_t rowBytes = plan.k * elemBytes(plan.weight);
  int64_t bytes = kGemvPrefetchBytes * gemvSplit(plan);
  auto fused = dyn_cast<llama::FusedMatmulOp>(plan.op);
  if (fused && fused.getInput().getDefiningOp<llama::FusedRoPEAttentionOp>())
    bytes = std::max(bytes, kGemvPrefetchAfterAttentionBytes /
                                (plan.columns() * (plan.swiglu() ? 2 : 1)));
  return ceilDiv(std::min(bytes, rowBytes), int64_t(128));
}

int64_t gemvMinBlocks(const MatmulPlan &plan) {
  // One row without SwiGLU fits 32 registers a thread with no spills (sm_80
  // and sm_90a), where ptxas left to itself takes 34, which rounds to 40
  // and leaves an SM 6 blocks of warps instead of 8. SwiGLU's two weight
  // rows and more activation rows need more.
  return *plan.rows.constant == 1 && !plan.swiglu() ? 8 : 0;
}

void emitGemv(raw_ostream &os, const MatmulPlan &plan) {
  const int64_t rows = *plan.rows.constant;
  const int64_t split = gemvSplit(plan);

  emitOperandsAndFinish(os, plan);
  os << "  constexpr int R = " << rows << ", VEC = " << gemvVector(plan)
     << ";\n"
     << "  constexpr int WARPS = 8, SPLIT = " << split
     << "; // warps a column\n"
     << "  constexpr int PREFETCH_LINES = " << gemvPrefetchLines(plan)
     << "; // 128-byte lines of each weight row\n";
  os << R"BODY(  constexpr int PARTS = SWIGLU ? 2 : 1; // SwiGLU: gate row c and up row COLS + c
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // A column's SPLIT warps take turns at rounds of 32 * VEC elements of K
  // (warp s rounds s, s + SPLIT, ...): together they stream each weight row
  // front to back, and each loop has the one bound K.
  const int col = blockIdx.x * (WARPS / SPLIT) + warp / SPLIT;
  const int part = warp % SPLIT;
  const bool owner = col < COLS; // the last block's spare warps only add 0
  (void)M;
  // The column's warps prefetch the first PREFETCH_LINES lines of its rows
  // (each line starts within the row: PREFETCH_LINES * 128 < K * sizeof(TW)
  // + 128).
  if (owner)
    for (int line = part * 32 + lane; line < PREFETCH_LINES;
         line += SPLIT * 32)
#pragma unroll
      for (int p = 0; p < PARTS; ++p)
        llamaPrefetchL2(reinterpret_cast<const char *>(
                            w + ((long long)p * COLS + col) * K) +
                        line * 128);
)BODY";
  emitGridDependencyWait(os);
  os << R"BODY(
  float acc[PARTS][R], ss[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    ss[r] = 0.0f;
#pragma unroll
    for (int p = 0; p < PARTS; ++p)
      acc[p][r] = 0.0f;
  }
  // Lane l reads elements [l * VEC, (l + 1) * VEC) of each 32 * VEC run: a
  // warp's accesses to one weight row are contiguous.
  if (owner) {
)BODY";
  os << "#pragma unroll " << kGemvUnroll << "\n";
  os << R"BODY(    for (int k = (part * 32 + lane) * VEC; k < K; k += SPLIT * 32 * VEC) {
      float xv[R][VEC], g[VEC];
      if constexpr (GAIN)
        llamaLoad(gain + k, g);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        llamaLoad(x + r * K + k, xv[r]);
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          if constexpr (NORM)
            ss[r] += xv[r][e] * xv[r][e];
          if constexpr (GAIN)
            xv[r][e] *= g[e];
        }
      }
#pragma unroll
      for (int p = 0; p < PARTS; ++p) {
        float wv[VEC];
        llamaLoad<LlamaPath::Streaming>(w + ((long long)p * COLS + col) * K + k, wv);
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int e = 0; e < VEC; ++e)
            acc[p][r] += wv[e] * xv[r][e];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if constexpr (NORM)
      ss[r] = llamaWarpSum(ss[r]);
#pragma unroll
    for (int p = 0; p < PARTS; ++p)
      acc[p][r] = llamaWarpSum(acc[p][r]);
  }
  if constexpr (SPLIT > 1) {
    // The column's warps add their partial sums in warp order, the same
    // every call: one barrier, at the end.
    __shared__ float partial[WARPS][PARTS + 1][R];
    if (lane == 0)
#pragma unroll
      for (int r = 0; r < R; ++r) {
        partial[warp][PARTS][r] = ss[r];
#pragma unroll
        for (int p = 0; p < PARTS; ++p)
          partial[warp][p][r] = acc[p][r];
      }
    __syncthreads();
    if (part != 0)
      return;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      ss[r] = 0.0f;
#pragma unroll
      for (int p = 0; p < PARTS; ++p)
        acc[p][r] = 0.0f;
#pragma unroll
      for (int s = 0; s < SPLIT; ++s) {
        ss[r] += partial[warp + s][PARTS][r];
#pragma unroll
        for (int p = 0; p < PARTS; ++p)
          acc[p][r] += partial[warp + s][p][r];
      }
    }
  }
  if (owner && lane == 0)
#pragma unroll
    for (int r = 0; r < R; ++r)
      finish(r, col, acc[0][r], acc[PARTS - 1][r],
             NORM ? llamaInvRms(ss[r], K, EPS) : 1.0f);
)BODY";
}

} // namespace llamac::codegen::cuda
