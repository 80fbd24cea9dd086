//===- CudaTensorCoreMatmulGrad.cpp - matmul_grad on mma.sync -------------===//
//
// The backward GEMMs of a 16-bit matmul on the tensor cores, in the grid of
// CudaMatmulGrad.cpp: blocks below WEIGHT_TILES compute a 128 x 128 tile of
// dW = dyᵀ x, the others one of dx = dy W. Both sum over the rows of a
// stored matrix (dy's and x's rows for dW, W's rows for dx), so B is always
// a [32][128] tile of rows as stored, read by ldmatrix.trans; A is dy, as
// stored for dx ([128 rows][32]: ldmatrix) and transposed for dW ([32
// rows][128 columns]: ldmatrix.trans hands out the transpose). 8 warps of
// 64 x 32 multiply with mma.m16n8k16 in f32 accumulators, over a 3-stage
// cp.async pipeline. Each output element is summed by one thread in a fixed
// order, so a step's gradients are the same every run.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

void emitTensorCoreMatmulGrad(raw_ostream &os) {
  os << "  constexpr int BM = " << kGradTile << ", BN = " << kGradTile
     << ", BK = " << kGradTileK << ", STAGES = " << kGradStages << ";\n";
  os << R"BODY(  typedef TX ST; // x, W and dy share the 16-bit type
  // Rows padded by 16 bytes: ldmatrix's 8 row addresses hit distinct banks.
  constexpr int AP = BK + 8, WP = BM + 8;
  constexpr int A_ELEMS = BM * AP > BK * WP ? BM * AP : BK * WP;
  constexpr int STAGE_ELEMS = A_ELEMS + BK * WP;
  static_assert(K % 8 == 0 && N % 8 == 0, "16-byte rows of every operand");
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  ST *smem = reinterpret_cast<ST *>(sharedRaw);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4, g = lane / 4, t4 = lane % 4;
  const long long n0 = (long long)blockIdx.x * BN;
  // A's layout, as a type: dy's rows (dx) or its columns (dW) are the
  // tile's rows.
  struct DyRows {
    bool transposed = false;
  };
  struct DyColumns {
    bool transposed = true;
  };
  // out[m0 + i][n0 + j] = sum over the R reduced rows of A[i][r] b[r][j].
  auto tile = [&](auto layout, long long m0, long long M, long long R,
                  const ST *b, ST *out) {
    constexpr bool AT = decltype(layout){}.transposed;
    // Reduction step kt to stage s: A's 512 chunks of 16 bytes, then B's.
    auto load = [&](int s, long long kt) {
      ST *a = smem + s * STAGE_ELEMS, *bs = a + A_ELEMS;
      const long long r0 = kt * BK;
#pragma unroll
      for (int it = 0; it < 2; ++it) {
        const int i = tid + it * 256;
        // A: dy[m][r] for dx (128 rows of 4 chunks), dy[r][m] for dW (32
        // rows of 16 chunks); dy's rows are N long either way.
        const int ar = AT ? i / 16 : i / 4, ac = AT ? i % 16 : i % 4;
        const long long row = AT ? r0 + ar : m0 + ar;
        const long long col = AT ? m0 + 8 * ac : r0 + 8 * ac;
        const bool aValid = AT ? row < R && col < M : row < M && col < R;
        llamaCpAsync16(llamaSmemAddress(a + ar * (AT ? WP : AP) + 8 * ac),
                       aValid ? (const void *)(dy + row * N + col)
                              : (const void *)dy,
                       aValid ? 16 : 0);
        // B: rows r0 + [0, 32) of b, 16 chunks of columns n0 + [0, 128).
        const int br = i / 16, bc = i % 16;
        const bool bValid = r0 + br < R && n0 + 8 * bc < K;
        llamaCpAsync16(llamaSmemAddress(bs + br * WP + 8 * bc),
                       bValid ? (const void *)(b + (r0 + br) * K + n0 + 8 * bc)
                              : (const void *)b,
                       bValid ? 16 : 0);
      }
    };
    float acc[4][4][4] = {};
    const long long KT = (R + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < KT)
        load(s, s);
      llamaCpAsyncCommit();
    }
    for (long long kt = 0; kt < KT; ++kt) {
      llamaCpAsyncWait<STAGES - 2>();
      // Step kt has landed for every thread, and every warp is done with
      // step kt - 1, whose stage takes step kt + STAGES - 1.
      __syncthreads();
      if (kt + STAGES - 1 < KT)
        load((int)((kt + STAGES - 1) % STAGES), kt + STAGES - 1);
      llamaCpAsyncCommit();
      const ST *a = smem + (int)(kt % STAGES) * STAGE_ELEMS,
               *bs = a + A_ELEMS;
#pragma unroll
      for (int ks = 0; ks < BK / 16; ++ks) {
        unsigned af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
          const int m = wm * 64 + mi * 16;
          if constexpr (AT)
            // Matrix i is (reduced rows 8 (i / 2), columns m + 8 (i % 2)),
            // transposed: the A fragment of dy's columns.
            llamaLdmatrixX4Trans(
                af[mi], llamaSmemAddress(
                            a + (ks * 16 + (lane / 16) * 8 + lane % 8) * WP +
                            m + ((lane / 8) % 2) * 8));
          else
            llamaLdmatrixX4(af[mi],
                            llamaSmemAddress(a + (m + lane % 16) * AP +
                                             ks * 16 + (lane / 16) * 8));
        }
#pragma unroll
        for (int nj = 0; nj < 2; ++nj) {
          // Matrices (rows lo, columns 16 nj + 0-7), (rows hi, same), then
          // columns + 8, transposed: the B fragments of n-tiles 2 nj and
          // 2 nj + 1.
          unsigned r[4];
          llamaLdmatrixX4Trans(
              r, llamaSmemAddress(
                     bs + (ks * 16 + ((lane / 8) % 2) * 8 + lane % 8) * WP +
                     wn * 32 + nj * 16 + (lane / 16) * 8));
          bf[2 * nj][0] = r[0];
          bf[2 * nj][1] = r[1];
          bf[2 * nj + 1][0] = r[2];
          bf[2 * nj + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
          for (int ni = 0; ni < 4; ++ni)
            llamaMma16816<ST>(acc[mi][ni], af[mi], bf[ni]);
      }
    }
    llamaCpAsyncWait<0>();
    // Element e of (mi, ni) is row 16 mi + g + 8 (e / 2), column
    // 8 ni + 2 t4 + e % 2: each pair is one 4-byte store.
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const long long m = m0 + wm * 64 + mi * 16 + g + 8 * h;
          const long long n = n0 + wn * 32 + ni * 8 + 2 * t4;
          if (m >= M || n >= K)
            continue;
          *reinterpret_cast<unsigned *>(out + m * K + n) =
              llamaPack2<ST>(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
        }
  };
  if (blockIdx.y < WEIGHT_TILES) {
    // dW[m, n] = sum_r dy[r, m] x[r, n].
    tile(DyColumns(), (long long)blockIdx.y * BM, N, rows, x, dw);
  } else {
    // dx[m, n] = sum_j dy[m, j] W[j, n].
    const long long m0 = (long long)(blockIdx.y - WEIGHT_TILES) * BM;
    if (m0 < rows)
      tile(DyRows(), m0, rows, N, w, dx);
  }
}
)BODY";
}

} // namespace llamac::codegen::cuda
