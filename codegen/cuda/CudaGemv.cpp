//===- CudaGemv.cpp - Decode GEMM: fused RMSNorm + GEMV ------------------===//
//
// With one token per batch row the GEMM reads every weight once and does
// two flops per weight: it is bound by memory bandwidth. Each warp owns
// kGemvColumnsPerWarp output columns (weight rows, or gate/up row pairs for
// SwiGLU) and streams them with 128-bit no-L1-allocate loads, several in
// flight per lane; the few activation rows sit in shared memory as f32, staged
// in chunks of at most 32 KiB. While staging, every block also sums x² of its
// rows, so the RMSNorm scale costs no extra pass and no extra launch: with
// dim <= 8192 it is cheaper to recompute per block than to share.
//
// Launched while the previous kernel drains (programmatic dependent launch),
// each warp first sends the first kGemvPrefetchBytes of its weight rows
// towards L2, then waits for that kernel: the tail of one kernel, when few
// of its blocks are left to keep HBM busy, fetches the next one's weights.
// A prefetch returns nothing to the thread, so it cannot read a value the
// previous kernel has yet to write.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaMatmulPlan.h"

#include <algorithm>

using namespace mlir;

namespace llamac::codegen::cuda {

void emitGemv(raw_ostream &os, const MatmulPlan &plan) {
  int64_t rows = *plan.rows.constant;
  // The widest access dividing a weight row (16 bytes for every Llama).
  const int64_t vec = vectorElements(plan.k, plan.weight);
  // Activation chunks of equal size (a multiple of vec) within 32 KiB.
  int64_t maxChunk = std::max<int64_t>(vec, 8192 / rows / vec * vec);
  int64_t chunks = (plan.k + maxChunk - 1) / maxChunk;
  int64_t chunk = (plan.k + chunks - 1) / chunks;
  chunk = (chunk + vec - 1) / vec * vec;

  emitOperandsAndFinish(os, plan);
  os << "  constexpr int R = " << rows << ", VEC = " << vec
     << ", CHUNK = " << chunk << ";\n";
  os << "  constexpr int THREADS = 256, WARPS = 8, COLS_PER_WARP = "
     << kGemvColumnsPerWarp << ";\n";
  os << R"BODY(  constexpr int PARTS = SWIGLU ? 2 : 1; // SwiGLU: gate row c and up row COLS + c
  __shared__ __align__(16) float xs[R][CHUNK];
  __shared__ float red[WARPS];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int col0 = (blockIdx.x * WARPS + warp) * COLS_PER_WARP;
  (void)M;
)BODY";
  os << "  constexpr int PREFETCH_LINES = " << kGemvPrefetchBytes / 128
     << "; // 128-byte lines of each weight row\n";
  os << R"BODY(  if (lane < PREFETCH_LINES && lane * 128 < K * (int)sizeof(TW))
#pragma unroll
    for (int j = 0; j < COLS_PER_WARP; ++j)
#pragma unroll
      for (int p = 0; p < PARTS; ++p)
        if (col0 + j < COLS)
          llamaPrefetchL2(reinterpret_cast<const char *>(
                              w + ((long long)p * COLS + col0 + j) * K) +
                          lane * 128);
)BODY";
  emitGridDependencyWait(os);
  os << R"BODY(

  float acc[COLS_PER_WARP][PARTS][R];
  float ss[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    ss[r] = 0.0f;
#pragma unroll
    for (int j = 0; j < COLS_PER_WARP; ++j)
#pragma unroll
      for (int p = 0; p < PARTS; ++p)
        acc[j][p][r] = 0.0f;
  }

  for (int k0 = 0; k0 < K; k0 += CHUNK) {
    const int len = K - k0 < CHUNK ? K - k0 : CHUNK;
    __syncthreads(); // the previous chunk is consumed
#pragma unroll
    for (int r = 0; r < R; ++r)
      for (int c = threadIdx.x * VEC; c < len; c += THREADS * VEC) {
        float v[VEC];
        llamaLoad(x + (long long)r * K + k0 + c, v);
        if constexpr (GAIN) {
          float g[VEC];
          llamaLoad(gain + k0 + c, g);
#pragma unroll
          for (int e = 0; e < VEC; ++e) {
            ss[r] += v[e] * v[e];
            xs[r][c + e] = v[e] * g[e];
          }
        } else {
#pragma unroll
          for (int e = 0; e < VEC; ++e) {
            ss[r] += v[e] * v[e];
            xs[r][c + e] = v[e];
          }
        }
      }
    __syncthreads();

    // Lane l reads elements [l * VEC, (l + 1) * VEC) of each 32 * VEC run:
    // a warp's accesses to one weight row are contiguous.
)BODY";
  os << "#pragma unroll " << kGemvUnroll << "\n";
  os << R"BODY(    for (int k = lane * VEC; k < len; k += 32 * VEC) {
      float xv[R][VEC];
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int e = 0; e < VEC; ++e)
          xv[r][e] = xs[r][k + e];
#pragma unroll
      for (int j = 0; j < COLS_PER_WARP; ++j) {
        const int col = col0 + j;
        if (col >= COLS)
          continue;
#pragma unroll
        for (int p = 0; p < PARTS; ++p) {
          const long long row = (long long)p * COLS + col;
          float wv[VEC];
          llamaLoad<true>(w + row * K + k0 + k, wv);
#pragma unroll
          for (int r = 0; r < R; ++r)
#pragma unroll
            for (int e = 0; e < VEC; ++e)
              acc[j][p][r] += wv[e] * xv[r][e];
        }
      }
    }
  }

  float scale[R];
#pragma unroll
  for (int r = 0; r < R; ++r)
    scale[r] = NORM ? llamaInvRms(llamaBlockSum<THREADS>(ss[r], red), K, EPS)
                    : 1.0f;
#pragma unroll
  for (int j = 0; j < COLS_PER_WARP; ++j)
#pragma unroll
    for (int p = 0; p < PARTS; ++p)
#pragma unroll
      for (int r = 0; r < R; ++r)
        acc[j][p][r] = llamaWarpSum(acc[j][p][r]);
  if (lane == 0)
#pragma unroll
    for (int j = 0; j < COLS_PER_WARP; ++j)
      if (col0 + j < COLS)
#pragma unroll
        for (int r = 0; r < R; ++r)
          finish(r, col0 + j, acc[j][0][r], acc[j][PARTS - 1][r], scale[r]);
)BODY";
}

} // namespace llamac::codegen::cuda
