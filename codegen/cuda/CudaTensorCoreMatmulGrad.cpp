//===- CudaTensorCoreMatmulGrad.cpp - matmul_grad on the tensor cores -----===//
//
// The backward GEMMs of a 16-bit matmul on the tensor cores, in the grid of
// CudaMatmulGrad.cpp: blocks below WEIGHT_TILES compute a tile of 128 rows
// of dW = dyᵀ x, the others one of dx = dy W. Both sum over the rows of a
// stored matrix (dy's and x's rows for dW, W's rows for dx), so B is always
// a tile of rows as stored (N-major, in the GEMM's terms); A is dy, as
// stored for dx (K-major) and transposed for dW (M-major). Each output
// element is summed by one thread in a fixed order, so a step's gradients
// are the same every run.
// - sm_90a: persistent, as the forward GEMM (CudaWgmmaGemm.cpp): one block
//   per SM walks the tiles, its loader running on into the next tile while
//   the multiplying warps store the last. 128 x 256 tiles, as the forward
//   GEMM's and for the same reason (3/4 of the L2 reads per product of
//   128 x 128 tiles), 64 reduced rows a stage, 4 stages (193 KiB). Tiles have
//   128-byte rows swizzled by row % 8 from a 1024-byte aligned base; a row of
//   an N- or M-major tile is 64 columns of one reduced row, the tile's groups
//   of 64 columns 8 KiB apart. As in the forward GEMM, a loader warpgroup fills
//   them by TMA (64 x 64 boxes from tensor maps of x, W and dy) on full and
//   empty mbarriers, and gives its registers (setmaxnreg) to the two that
//   multiply: each of those multiplies its 64 rows by all 256 columns with 4
//   wgmma.m64n256k16 a stage, B and the transposed A read as MN-major
//   (imm-trans = 1) straight from shared memory. The blocks run in
//   clusters of 2 (kWgmmaClusterBlocks) that compute consecutive row tiles
//   of one column tile: both sum over the same rows of x or W, so each
//   loader loads its own dy tile and half of B's column groups, which TMA
//   multicast writes into both, and the cluster reads B from L2 once.
// - Other archs: 32 reduced rows a stage, 3 stages, rows padded by 16
//   bytes. B is read by ldmatrix.trans; A by ldmatrix (dx) or
//   ldmatrix.trans, which hands out the transpose (dW). 8 warps of 64 x 32
//   multiply with mma.m16n8k16 in f32 accumulators.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

/// The first STAGES - 1 reduction steps' loads, one cp.async group each
/// (empty past the last step), before a tile's main loop.
static const char *const pipelinePrologue =
    R"BODY(    const long long KT = (R + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < KT)
        load(s, s);
      llamaCpAsyncCommit();
    }
)BODY";

/// sm_90a's body: persistent, a loader warpgroup's TMA loads and two
/// warpgroups' wgmma, each walking the block's tiles.
static void emitWgmmaMatmulGrad(raw_ostream &os) {
  os << "  constexpr int BN = " << kGradWgmmaTileCols
     << ", STAGES = " << kGradWgmmaStages << ", BK = " << kGradWgmmaTileK
     << ", CONSUMERS = " << kWgmmaConsumerThreads << ";\n";
  os << R"BODY(  constexpr int ROW_BYTES = 128, A_BYTES = BM * ROW_BYTES;
  // An M- or N-major tile: groups of 64 columns, BK rows each.
  constexpr int GROUP_BYTES = BK * ROW_BYTES, B_GROUPS = BN / 64;
  constexpr int STAGE_BYTES = A_BYTES + B_GROUPS * GROUP_BYTES;
  static_assert(BK * 2 == ROW_BYTES && A_BYTES == 2 * GROUP_BYTES,
                "K-major rows of BK and M-major groups share the 128-byte "
                "swizzle and the tile size");
  const unsigned rawBase = llamaSmemAddress(sharedRaw);
  const unsigned smemBase = llamaSwizzleBase(rawBase);
  unsigned char *smem = sharedRaw + (smemBase - rawBase);
  const int group = warp / 4;
  // The cluster: 2 CTAs (kWgmmaClusterBlocks), or 1 where the launch has
  // none. Its CTAs compute consecutive row tiles of one column tile, which
  // share B (the same rows and columns of x or W); CTA r loads B's column
  // groups 2r and 2r + 1 into both (TMA multicast). Each stage has a
  // "full" mbarrier, which its TMA loads complete, and an "empty" one, at
  // which each multiplying warp of the cluster arrives once its products
  // of the stage retired (bars.release).
  const int CLUSTER = (int)llamaClusterSize(), RANK = (int)llamaClusterRank();
  if (CLUSTER > 2)
    __trap(); // B has two pairs of column groups to share
  const auto bars = llamaInitStageBarriers<STAGES>(
      smemBase + STAGES * STAGE_BYTES, CONSUMERS / 32, CLUSTER);
  // The block's tiles, in the grouped order (llamaForEachClusterTile) over
  // K's column tiles and the row tiles of dW, then of dx; every warpgroup
  // walks the same ones. dW's row tiles are padded to whole clusters, so
  // that a cluster's CTAs sum over the same rows of the same operand: a
  // tile past N or past the rows runs the pipeline (its loads are the
  // cluster's too) and stores nothing. forEachTile(work) calls
  // work(layout, m0, M, R, n0) for each: outputs out[m0 + i][n0 + j] =
  // sum over the R reduced rows of A[i][r] b[r][j], of M rows in all.
  constexpr int COL_TILES = (int)((K + BN - 1) / BN);
  const int weightTiles = (WEIGHT_TILES + CLUSTER - 1) / CLUSTER * CLUSTER;
  const int rowTiles = weightTiles + (int)((rows + BM - 1) / BM);
  auto forEachTile = [&](auto &&work) {
    llamaForEachClusterTile<8>(
        COL_TILES, rowTiles, CLUSTER, RANK, [&](int2 place) {
          const long long n0 = (long long)place.x * BN;
          if (place.y < weightTiles) {
            // dW[m, n] = sum_r dy[r, m] x[r, n].
            work(DyColumns(), (long long)place.y * BM, N, rows, n0);
          } else {
            // dx[m, n] = sum_j dy[m, j] W[j, n].
            work(DyRows(), (long long)(place.y - weightTiles) * BM, rows, N,
                 n0);
          }
        });
  };
  // `step` counts reduction steps over all of the block's tiles, so the
  // ring's stages and mbarrier phases run on from one tile to the next:
  // the loader fills the next tile's first stages while the multiplying
  // warps store the last one's outputs.
  long long step = 0;
  if (tid >= CONSUMERS) {
    // The loader warpgroup (warp specialization, as the forward GEMM's):
    // one thread loads each reduction step once the multiplying warps
    // released its stage. Every box is 64 x 64 (128-byte rows, the
    // 128-byte swizzle) from the tensor maps of x, W and dy
    // (matmulGradTensorMaps), one group of an M- or N-major tile, or 64
    // rows of a K-major one; elements past a tensor read as zeros.
)BODY";
  os << "    llamaRegistersDecrease<" << kWgmmaLoaderRegisters << ">();\n";
  os << R"BODY(    if (tid != CONSUMERS)
      return;
    forEachTile([&](auto layout, long long m0, long long, long long R,
                    long long n0) {
      constexpr bool AT = decltype(layout){}.transposed;
      const LlamaGpuTensorMap *dyMap = &args.tensorMaps[2],
                              *bMap = &args.tensorMaps[AT ? 0 : 1];
      const long long KT = (R + BK - 1) / BK;
      for (long long kt = 0; kt < KT; ++kt, ++step) {
        const int s = (int)(step % STAGES), r0 = (int)(kt * BK);
        if (step >= STAGES) // step - STAGES released the stage
          llamaMbarrierWait(bars.empty(s),
                            (unsigned)(step / STAGES - 1) & 1);
        const unsigned base = smemBase + s * STAGE_BYTES;
        llamaMbarrierArriveExpectTx(bars.full(s), STAGE_BYTES);
        // A: dy's columns m0 + [0, 128) of rows r0 + [0, 64) for dW (two
        // M-major groups), dy's rows m0 + [0, 128) of columns r0 + [0, 64)
        // for dx (K-major, two boxes of 64 rows).
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          if constexpr (AT)
            llamaTmaLoad2d(base + h * GROUP_BYTES, dyMap, (int)m0 + 64 * h, r0,
                           bars.full(s));
          else
            llamaTmaLoad2d(base + h * GROUP_BYTES, dyMap, r0,
                           (int)m0 + 64 * h, bars.full(s));
        }
        // B: rows r0 + [0, 64) of x or W, columns n0 + [0, BN) in groups;
        // in a cluster, this CTA's half of them, for both CTAs.
#pragma unroll
        for (int g = 0; g < B_GROUPS; ++g) {
          const unsigned dst = base + A_BYTES + g * GROUP_BYTES;
          if (CLUSTER == 1)
            llamaTmaLoad2d(dst, bMap, (int)n0 + 64 * g, r0, bars.full(s));
          else if (g / (B_GROUPS / 2) == RANK)
            llamaTmaLoad2dMulticast(dst, bMap, (int)n0 + 64 * g, r0,
                                    bars.full(s), 0x3);
        }
      }
    });
    // The producer tail: wait out the other CTA's use of the last stages,
    // which arrives here.
    bars.awaitClusterReleases(step);
    return;
  }
)BODY";
  os << "  llamaRegistersIncrease<" << kWgmmaConsumerRegisters << ">();\n";
  os << R"BODY(  // Accumulator i of lane l of the group's warp w: row 64 group + 16 w +
  // l / 4 + 8 ((i / 2) % 2), column 8 (i / 4) + 2 (l % 4) + i % 2.
  float acc[BN / 2];
  forEachTile([&](auto layout, long long m0, long long M, long long R,
                  long long n0) {
    constexpr bool AT = decltype(layout){}.transposed;
    ST *out = AT ? dw : dx;
#pragma unroll
    for (int i = 0; i < BN / 2; ++i)
      acc[i] = 0.0f;
    auto compute = [&](int s) {
      const unsigned base = smemBase + s * STAGE_BYTES;
      llamaWgmmaFenceOperands(acc);
      llamaWgmmaFence();
#pragma unroll
      for (int ks = 0; ks < BK / 16; ++ks) {
        // 16 reduced rows further: 32 bytes along a K-major row, or 16
        // rows of an MN-major tile.
        const unsigned bk = base + A_BYTES + ks * 16 * ROW_BYTES;
        if constexpr (AT)
          llamaWgmma64x256<ST, 1, 1>(
              acc,
              llamaWgmmaDescriptorMN(
                  base + group * GROUP_BYTES + ks * 16 * ROW_BYTES, GROUP_BYTES),
              llamaWgmmaDescriptorMN(bk, GROUP_BYTES), 1);
        else
          llamaWgmma64x256<ST, 0, 1>(
              acc, llamaWgmmaDescriptor(base + group * 64 * ROW_BYTES + ks * 32),
              llamaWgmmaDescriptorMN(bk, GROUP_BYTES), 1);
      }
      llamaWgmmaCommit();
      // This stage's products run on; the previous stage's have retired.
      llamaWgmmaWait<1>();
    };
    const long long KT = (R + BK - 1) / BK;
    for (long long kt = 0; kt < KT; ++kt, ++step) {
      const int s = (int)(step % STAGES);
      llamaMbarrierWait(bars.full(s), (unsigned)(step / STAGES) & 1);
      const int valid = (int)(R - kt * BK);
      if (AT && valid < BK) {
        // dW sums over the call's rows, but the maps span the buffers'
        // capacity: rows past R would hold whatever was there (NaN times
        // zero is NaN), so both operands' rows past R become zeros. Whole
        // 128-byte rows, which the swizzle only permutes within. (Training
        // entries take exactly their rows today, so the TMA has zero-filled
        // these already; this keeps dW right if a call ever takes fewer.)
        llamaZeroTileRows<BK>(smem + s * STAGE_BYTES, 2 + B_GROUPS,
                              GROUP_BYTES, valid, tid, CONSUMERS);
        llamaNamedBarrierSync<1>(CONSUMERS);
      }
      compute(s);
      // wgmma.wait_group synchronizes the warp: every lane has retired its
      // products of the previous step.
      if (kt > 0 && lane == 0)
        bars.release((int)((step - 1) % STAGES));
    }
    llamaWgmmaWait<0>();
    llamaWgmmaFenceOperands(acc);
    // The tile's last stage is free too: the loader may fill it with the
    // next tile's.
    if (KT > 0 && lane == 0)
      bars.release((int)((step - 1) % STAGES));
    // Pair j: accumulators 2 j and 2 j + 1, one 4-byte store.
#pragma unroll
    for (int j = 0; j < BN / 4; ++j) {
      const long long m =
          m0 + group * 64 + (warp % 4) * 16 + lane / 4 + 8 * (j % 2);
      const long long n = n0 + 8 * (j / 2) + 2 * (lane % 4);
      if (m >= M || n >= K)
        continue;
      LLAMA_CHECK_ALIGNED(out + m * K + n, 4);
      *reinterpret_cast<unsigned *>(out + m * K + n) =
          llamaPack2<ST>(acc[2 * j], acc[2 * j + 1]);
    }
  });
)BODY";
}

/// Other archs' `tile`: cp.async into padded rows, ldmatrix and mma.sync.
static void emitMmaSyncTile(raw_ostream &os) {
  os << "  constexpr int BK = " << kGradTileK << ";\n";
  os << R"BODY(  // Rows padded by 16 bytes: ldmatrix's 8 row addresses hit distinct banks.
  constexpr int AP = BK + 8, WP = BM + 8;
  constexpr int A_ELEMS = BM * AP > BK * WP ? BM * AP : BK * WP;
  constexpr int STAGE_ELEMS = A_ELEMS + BK * WP;
  ST *smem = reinterpret_cast<ST *>(sharedRaw);
  const int wm = warp / 4, wn = warp % 4, g = lane / 4, t4 = lane % 4;
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
)BODY"
     << pipelinePrologue << R"BODY(    for (long long kt = 0; kt < KT; ++kt) {
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
          LLAMA_CHECK_ALIGNED(out + m * K + n, 4);
          *reinterpret_cast<unsigned *>(out + m * K + n) =
              llamaPack2<ST>(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
        }
  };
)BODY";
}

void emitTensorCoreMatmulGrad(raw_ostream &os) {
  os << "  constexpr int BM = " << kGradTile << ";\n";
  os << R"BODY(  typedef TX ST; // x, W and dy share the 16-bit type
  static_assert(K % 8 == 0 && N % 8 == 0, "16-byte rows of every operand");
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  // A's layout, as a type: dy's rows (dx) or its columns (dW) are the
  // tile's rows.
  struct DyRows {
    bool transposed = false;
  };
  struct DyColumns {
    bool transposed = true;
  };
  // Bands of 8 row tiles (llamaGroupedTile), as the forward GEMM: the
  // blocks resident at once share their column tiles of x or W in L2. A band
  // may straddle dW's tiles and dx's; each tile is computed on its own.
  // The tile's columns and the pipeline's depth are each design's own
  // (CudaMatmulPlan.h), and so is the launch geometry.
#ifdef LLAMA_WGMMA
)BODY";
  emitWgmmaMatmulGrad(os);
  os << "#else\n"
     << "  constexpr int BN = " << kGradTile << ", STAGES = " << kGradStages
     << ";\n";
  os << R"BODY(  const int2 place = llamaGroupedTile<8>();
  const long long n0 = (long long)place.x * BN;
  // tile(layout, m0, M, R, b, out): out[m0 + i][n0 + j] = sum over the R
  // reduced rows of A[i][r] b[r][j], for the block's BM x BN outputs.
)BODY";
  emitMmaSyncTile(os);
  os << R"BODY(  if (place.y < WEIGHT_TILES) {
    // dW[m, n] = sum_r dy[r, m] x[r, n].
    tile(DyColumns(), (long long)place.y * BM, N, rows, x, dw);
  } else {
    // dx[m, n] = sum_j dy[m, j] W[j, n].
    const long long m0 = (long long)(place.y - WEIGHT_TILES) * BM;
    if (m0 < rows)
      tile(DyRows(), m0, rows, N, w, dx);
  }
#endif
}
)BODY";
}

} // namespace llamac::codegen::cuda
