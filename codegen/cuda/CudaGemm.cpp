//===- CudaGemm.cpp - Prefill GEMMs on tensor cores, f32 in TF32 ----------===//
//
// The tensor-core GEMM tiles 128 activation rows by 64 of K and, by arch,
// 128 or 256 weight rows, in a pipeline in dynamic shared memory. Tiles
// have 128-byte rows whose 16-byte chunks are XOR-swizzled by row % 8 from
// a 1024-byte aligned base: the layout both of the products below read
// without bank conflicts.
// - sm_90a: 256 weight rows, persistent and warp-specialized, with wgmma
//   and TMA (CudaWgmmaGemm.cpp).
// - Other archs: 128 weight rows, 3 stages of 32 KiB (97 KiB, which every
//   sm_80+ GPU gives a block), one tile a block. Every thread issues
//   cp.async copies, and eight warps (2 x 4) each own a 64 x 32 tile; per
//   16 of K, 4 + 2 ldmatrix.x4 feed 16 mma.sync.m16n8k16 with f32
//   accumulators.
// Both give each thread pairs of outputs (64 or 32) that one epilogue
// serves: staged in shared memory and written in 16-byte chunks where every
// output row is whole chunks, else pair by pair. For SwiGLU a pair is the gate
// and up value of one output: the sm_90a B tile holds 128 gate rows then 128 up
// rows, the cp.async one interleaves them. The RMSNorm row scale comes from
// the A tiles in shared memory (two threads per row sum x²), so the activations
// are read from global memory once.
//
// The TF32 GEMM (f32, and 16-bit rows that cp.async cannot copy whole)
// tiles 128 x 128 x 16 in two stages of k-major f32 tiles, fetched to
// registers a step ahead (converted, and for training times the gain), and
// multiplies them with mma.sync.m16n8k8 in tf32: f32 operands split in
// two (3xTF32: about 22 bits of each, where the SIMT cores' f32 FMAs ran at
// 25-30 TFLOP/s on an H100), 16-bit ones, exact in tf32, whole.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

/// Tile row i of the weight tile -> weight row, or -1 past the matrix.
static const char *const weightRowText =
    R"BODY(  auto weightRow = [&](int i) -> long long {
    if constexpr (SWIGLU) {
      const int c = c0 + i / 2; // even tile rows: gate c; odd: up c
      return c < COLS ? (long long)(i % 2) * COLS + c : -1;
    } else {
      const int n = c0 + i;
      return n < N ? n : -1;
    }
  };
)BODY";

/// The tensor-core GEMM's outputs, straight from the accumulators: two
/// 2-byte stores a pair, each warp's spread over 8 rows.
static void emitPairEpilogue(raw_ostream &os) {
  os << R"BODY(
#pragma unroll
  for (int j = 0; j < PAIRS; ++j) {
    const int rowInTile = pairRow(j), col = pairCol(j);
    const long long r = m0 + rowInTile;
    if (r >= M)
      continue;
    const float scale = NORM ? rowScale[rowInTile] : 1.0f;
    const float v0 = pairValue(j, 0), v1 = pairValue(j, 1);
    if constexpr (SWIGLU) {
      const int c = c0 + col / 2;
      if (c < COLS)
        finish(r, c, v0, v1, scale);
    } else {
      if (c0 + col < N)
        finish(r, c0 + col, v0, 0.0f, scale);
      if (c0 + col + 1 < N)
        finish(r, c0 + col + 1, v1, 0.0f, scale);
    }
  }
)BODY";
}

/// The RMSNorm scales of the tile's rows, from the threads' sums of
/// squares (ss), into rowScale.
static void emitRowScales(raw_ostream &os) {
  os << R"BODY(
  if constexpr (NORM) {
    ss += __shfl_xor_sync(0xffffffffu, ss, 1); // a row's two threads
    syncMultipliers(); // no thread still reads the last tile's scales
    if (tid % 2 == 0)
      rowScale[tid / 2] = llamaInvRms(ss, K, EPS);
    syncMultipliers();
  }
)BODY";
}

/// The outputs staged as f32 in `staged`, in rounds of EPILOGUE_COLS
/// output columns (pairGroup(j): pair j's 8-column group), then written in
/// 16-byte chunks of 8 columns, a warp's stores covering whole rows and
/// every sector written whole.
static void emitStagedEpilogue(raw_ostream &os) {
  os << R"BODY(
  // f32 rows of EPILOGUE_COLS, padded by 8 so that a warp's pair stores
  // (8 rows) spread over the banks.
  constexpr int CP = EPILOGUE_COLS + 8, ROUND_CHUNKS = EPILOGUE_COLS / 8;
  static_assert(TILE_COLS % EPILOGUE_COLS == 0, "whole rounds a tile");
#pragma unroll
  for (int round = 0; round < TILE_COLS / EPILOGUE_COLS; ++round) {
#pragma unroll
    for (int j = 0; j < PAIRS; ++j) {
      if (pairGroup(j) / ROUND_CHUNKS != round)
        continue;
      const int rowInTile = pairRow(j);
      const int col =
          (SWIGLU ? pairCol(j) / 2 : pairCol(j)) - round * EPILOGUE_COLS;
      const float scale = NORM ? rowScale[rowInTile] : 1.0f;
      const float v0 = pairValue(j, 0) * scale, v1 = pairValue(j, 1) * scale;
      if constexpr (SWIGLU) {
        staged[rowInTile * CP + col] = llamaSwiglu(v0, v1);
      } else {
        LLAMA_CHECK_ALIGNED(&staged[rowInTile * CP + col], 8);
        *reinterpret_cast<float2 *>(&staged[rowInTile * CP + col]) =
            make_float2(v0, v1);
      }
    }
    syncMultipliers();
#pragma unroll 4
    for (int i = tid; i < BM * ROUND_CHUNKS; i += 256) {
      const int rowInTile = i / ROUND_CHUNKS, ch = i % ROUND_CHUNKS;
      const long long r = m0 + rowInTile;
      const int c = c0 + round * EPILOGUE_COLS + 8 * ch;
      if (r >= M || c >= COLS)
        continue;
      float v[8];
      llamaLoad(&staged[rowInTile * CP + 8 * ch], v);
      finish8(r, c, v);
    }
    syncMultipliers(); // the round is written out; the next may reuse it
  }
)BODY";
}

void emitTileEpilogue(raw_ostream &os, const MatmulPlan &plan) {
  emitRowScales(os);
  if (plan.stagedEpilogue())
    emitStagedEpilogue(os);
  else
    emitPairEpilogue(os);
}

void emitTensorCoreTileSetup(raw_ostream &os) {
  os << "  constexpr int BM = " << kTensorCoreTileRows
     << ", BK = " << kTensorCoreTileK << ";\n";
  os << R"BODY(  constexpr int ROW_BYTES = BK * 2, A_BYTES = BM * ROW_BYTES;
  constexpr int STAGE_BYTES = (BM + BN) * ROW_BYTES;
  constexpr int KT = (K + BK - 1) / BK;
  static_assert(ROW_BYTES == 128, "tiles are laid out for the 128-byte swizzle");
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  const unsigned rawBase = llamaSmemAddress(sharedRaw);
  const unsigned smemBase = llamaSwizzleBase(rawBase);
  unsigned char *smem = sharedRaw + (smemBase - rawBase);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  // Two threads per A row, four chunks each: the sum of x² for the norm,
  // and the gain when it is a separate operand (training), applied in
  // shared memory.
  float ss = 0.0f;
  auto normStage = [&](int stage, int kt) {
    const int row = tid / 2;
    unsigned char *tile = smem + stage * STAGE_BYTES;
#pragma unroll
    for (int h = 0; h < 4; ++h) {
      const int ch = (tid % 2) * 4 + h;
      TX *p = (TX *)(tile + llamaSwizzle128(row, ch));
      float v[8];
      llamaLoad(p, v);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        ss += v[e] * v[e];
      if constexpr (GAIN) {
        const int k = kt * BK + ch * 8;
        if (k < K) {
          float g[8];
          llamaLoad(gain + k, g);
#pragma unroll
          for (int e = 0; e < 8; ++e)
            v[e] *= g[e];
          llamaStore(p, v);
        }
      }
    }
  };
)BODY";
}

/// The mma.sync GEMM (sm_80 to sm_89, and sm_90 without the `a` features):
/// one tile a block, every thread issuing cp.async copies.
static void emitMmaSyncGemm(raw_ostream &os, const MatmulPlan &plan) {
  os << "  constexpr int BN = " << kTensorCoreTileRows
     << ", STAGES = " << kTensorCoreStages << ";\n";
  emitTensorCoreTileSetup(os);
  os << R"BODY(  constexpr int TILE_COLS = SWIGLU ? BN / 2 : BN; // output columns per tile
  // Pairs of outputs per thread: a 2 x 4 grid of warps covers the tile.
  constexpr int PAIRS = BM * BN / 2 / 256;
  // Bands of 8 row tiles (llamaGroupedTile), so that the blocks resident
  // at once share their weight tiles in L2.
  const int2 tile = llamaGroupedTile<8>();
  const long long m0 = (long long)tile.y * BM;
  const int c0 = tile.x * TILE_COLS;
  // The weight tile interleaves gate and up rows for SwiGLU, so a pair of
  // adjacent accumulators is the gate and up value of one output.
)BODY";
  os << weightRowText;
  os << R"BODY(
  // Rows past M or the weight, and K past its end, are zero-filled.
  auto loadStage = [&](int stage, int kt) {
    const unsigned base = smemBase + stage * STAGE_BYTES;
#pragma unroll
    for (int it = 0; it < (BM + BN) * 8 / 256; ++it) {
      const int i = tid + it * 256, ch = i % 8, k = kt * BK + ch * 8;
      const bool isA = i < BM * 8;
      const int row = isA ? i / 8 : i / 8 - BM;
      const void *src = x;
      int valid = 0;
      if (isA) {
        const long long m = m0 + row;
        if (m < M && k < K) {
          src = x + m * K + k;
          valid = 16;
        }
      } else {
        const long long n = weightRow(row);
        if (n >= 0 && k < K) {
          src = w + n * K + k;
          valid = 16;
        }
      }
      llamaCpAsync16(base + (isA ? 0 : A_BYTES) + llamaSwizzle128(row, ch), src,
                     valid);
    }
  };

  const int wm = warp / 4, wn = warp % 4; // warp tile: rows wm*64, cols wn*32
  float acc[4][4][4];
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        acc[mi][ni][e] = 0.0f;

  auto computeStage = [&](int stage) {
    const unsigned a = smemBase + stage * STAGE_BYTES;
    const unsigned b = a + A_BYTES;
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks) {
      unsigned af[4][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        // Matrices: rows 0-7 / 8-15 of k 0-7, then of k 8-15.
        const int row = wm * 64 + mi * 16 + lane % 16;
        llamaLdmatrixX4(af[mi], a + llamaSwizzle128(row, ks * 2 + lane / 16));
      }
#pragma unroll
      for (int nj = 0; nj < 2; ++nj) {
        // Matrices: n 0-7 of k 0-7, k 8-15, then n 8-15 of k 0-7, k 8-15.
        const int row = wn * 32 + nj * 16 + (lane / 16) * 8 + lane % 8;
        unsigned r[4];
        llamaLdmatrixX4(r, b + llamaSwizzle128(row, ks * 2 + (lane / 8) % 2));
        bf[nj * 2][0] = r[0];
        bf[nj * 2][1] = r[1];
        bf[nj * 2 + 1][0] = r[2];
        bf[nj * 2 + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
          llamaMma16816<TX>(acc[mi][ni], af[mi], bf[ni]);
    }
  };
  // Pair j = (mi, ni, half): accumulators 2 half and 2 half + 1 of the
  // 16 x 8 tile (mi, ni), at row lane / 4 + 8 half, columns 2 (lane % 4)
  // and the next.
  auto pairRow = [&](int j) {
    return wm * 64 + (j / 8) * 16 + lane / 4 + 8 * (j % 2);
  };
  auto pairCol = [&](int j) {
    return wn * 32 + ((j / 2) % 4) * 8 + 2 * (lane % 4);
  };
  auto pairValue = [&](int j, int e) {
    return acc[j / 8][(j / 2) % 4][(j % 2) * 2 + e];
  };

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < KT)
      loadStage(s, s);
    llamaCpAsyncCommit();
  }
  for (int kt = 0; kt < KT; ++kt) {
    llamaCpAsyncWait<STAGES - 2>();
    __syncthreads(); // stage kt landed; stage kt - 1 is free again
    // Step kt + STAGES - 1 reuses the stage of step kt - 1.
    const int next = kt + STAGES - 1;
    if (next < KT)
      loadStage(next % STAGES, next);
    llamaCpAsyncCommit();
    if constexpr (NORM) {
      normStage(kt % STAGES, kt);
      if constexpr (GAIN)
        __syncthreads();
    }
    computeStage(kt % STAGES);
  }
  llamaCpAsyncWait<0>();
  // The tiles are consumed: the row scales and the staged outputs, all of
  // the tile's columns in one round, reuse them.
  __syncthreads();
  auto syncMultipliers = [] { __syncthreads(); };
  constexpr int EPILOGUE_COLS = TILE_COLS;
  static_assert((BM + BM * (EPILOGUE_COLS + 8)) * 4 <= STAGES * STAGE_BYTES,
                "the staged outputs fit in the consumed tiles");
  float *rowScale = (float *)smem, *staged = rowScale + BM;
  (void)staged;
  auto pairGroup = [](int) { return 0; }; // one round takes every pair
)BODY";
  emitTileEpilogue(os, plan);
}

void emitTensorCoreGemm(raw_ostream &os, const MatmulPlan &plan) {
  emitOperandsAndFinish(os, plan);
  // The two designs share their operands, epilogue functions and tile
  // layout; the binary for sm_90a compiles the first, every other the
  // second (CudaMatmulPlan.h gives each its launch geometry).
  os << "#ifdef LLAMA_WGMMA\n";
  emitWgmmaGemm(os, plan);
  os << "#else\n";
  emitMmaSyncGemm(os, plan);
  os << "#endif\n";
}

void emitTf32Gemm(raw_ostream &os, const MatmulPlan &plan) {
  emitOperandsAndFinish(os, plan);
  os << "  constexpr int BM = " << kTf32TileRows << ", BN = " << kTf32TileRows
     << ", BK = LLAMA_TF32_TILE_K;\n";
  os << R"BODY(  constexpr int TILE_COLS = SWIGLU ? BN / 2 : BN;
  static_assert(BK == 16, "each loader thread fetches two runs of 4, 8 k apart, a step");
  // f32 operands (and x times the gain in f32) take 3xTF32; 16-bit ones
  // are tf32 already.
  constexpr bool SPLIT = sizeof(TX) == 4 || sizeof(TW) == 4 || GAIN;
  __shared__ __align__(16) float as[2][BK][LLAMA_TF32_TILE_STRIDE];
  __shared__ __align__(16) float ws[2][BK][LLAMA_TF32_TILE_STRIDE];
  __shared__ float rowScale[BM];
  const int tid = threadIdx.x;
  const long long m0 = (long long)blockIdx.y * BM;
  const int c0 = blockIdx.x * TILE_COLS;
)BODY";
  os << weightRowText;
  os << R"BODY(  // Loader: tile row lr, k lk + 8 h + [0, 4) (h = 0, 1) of each step,
  // fetched to registers a step ahead (zeros past the rows or K, which add
  // nothing to the sum of squares) and stored after the step's products.
  const int lr = tid / 2, lk = (tid % 2) * 4;
  const long long lm = m0 + lr, ln = weightRow(lr);
  float xa[2][4], wa[2][4];
  float ss = 0.0f;
  auto fetch = [&](int k0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int k = k0 + lk + 8 * h;
      llamaFetch4(x + lm * K + k, lm < M ? K - k : 0, xa[h]);
      llamaFetch4(w + ln * K + k, ln >= 0 ? K - k : 0, wa[h]);
      float g[4];
      if constexpr (GAIN)
        llamaFetch4(gain + k, K - k, g);
      (void)g;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        ss += xa[h][e] * xa[h][e];
        if constexpr (GAIN)
          xa[h][e] *= g[e];
      }
    }
  };
  auto stash = [&](int stage) {
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        as[stage][lk + 8 * h + e][lr] = xa[h][e];
        ws[stage][lk + 8 * h + e][lr] = wa[h][e];
      }
  };
  float acc[8][8];
  llamaTf32TileMainLoop<BK, SPLIT>((K + BK - 1) / BK, fetch, stash, as, ws,
                                   acc);
  if constexpr (NORM) {
    ss = llamaWarpSum<2>(ss); // a row's 2 loaders are adjacent lanes
    if (tid % 2 == 0)
      rowScale[lr] = llamaInvRms(ss, K, EPS);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int rowInTile = llamaTf32TileRow(i);
    const long long r = m0 + rowInTile;
    if (r >= M)
      continue;
    const float scale = NORM ? rowScale[rowInTile] : 1.0f;
    if constexpr (SWIGLU) {
      // Even tile columns are gate rows, the next their up rows, and an
      // even j's column is even.
#pragma unroll
      for (int j = 0; j < 8; j += 2) {
        const int c = c0 + llamaTf32TileCol(j) / 2;
        if (c < COLS)
          finish(r, c, acc[i][j], acc[i][j + 1], scale);
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        if (c0 + llamaTf32TileCol(j) < N)
          finish(r, c0 + llamaTf32TileCol(j), acc[i][j], 0.0f, scale);
    }
  }
)BODY";
}

} // namespace llamac::codegen::cuda
