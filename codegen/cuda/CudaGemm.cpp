//===- CudaGemm.cpp - Prefill GEMMs: tensor cores, and SIMT for f32 -------===//
//
// The tensor-core GEMM tiles 128 activation rows by 64 of K and, by arch,
// 128 or 256 weight rows, in a pipeline in dynamic shared memory. Tiles
// have 128-byte rows whose 16-byte chunks are XOR-swizzled by row % 8 from
// a 1024-byte aligned base: the layout both of the products below read
// without bank conflicts.
// - sm_90a: 256 weight rows, 4 stages of 48 KiB (193 KiB, one block per
//   SM), and warp specialization. The Tensor Memory Accelerator writes the
//   tiles in that layout from the launch's tensor maps, issued by one
//   thread of a third, loader warpgroup, each stage guarded by a "full"
//   and an "empty" mbarrier. Each of the two other warpgroups multiplies
//   its 64 rows by all 256 weight rows with 4 wgmma.m64n256k16 a stage,
//   straight from shared memory (llamaWgmmaDescriptor), into 128 f32
//   accumulators a thread; a stage's products run on while the next
//   stage's are issued (wgmma.wait_group 1), and a stage is reloaded once
//   all eight of their warps retired its products. The loader waits for
//   nothing else, so the multiplying warps never wait for a load to be
//   issued; it gives its registers to them (setmaxnreg: 40 against 232).
//   The wider tile reads 3/4 of the bytes per product that a 128 x 128 one
//   does from L2, which runs out of bandwidth before the tensor cores do.
// - Other archs: 128 weight rows, 3 stages of 32 KiB (97 KiB, which every
//   sm_80+ GPU gives a block). Every thread issues cp.async copies, and
//   eight warps (2 x 4) each own a 64 x 32 tile; per 16 of K, 4 + 2
//   ldmatrix.x4 feed 16 mma.sync.m16n8k16 with f32 accumulators.
// Both give each thread pairs of outputs (64 or 32) that one epilogue
// serves: staged in shared memory and written in 16-byte chunks where every
// output row is whole chunks, else pair by pair. For SwiGLU a pair is the gate
// and up value of one output: the sm_90a B tile holds 128 gate rows then 128 up
// rows, the cp.async one interleaves them. The RMSNorm row scale comes from the
// A tiles in shared memory (two threads per row sum x²), so the activations are
// read from global memory once.
//
// The SIMT GEMM (f32, and 16-bit rows that cp.async cannot copy whole)
// tiles 128 x 128 x 8 in two stages, with an 8 x 8 outer product per thread
// from float4 reads of k-major tiles: 16 FMAs per shared-memory load,
// where 64 x 64 tiles of 4 x 4 did 4.
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
static const char *const pairEpilogueText = R"BODY(
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

/// The same outputs staged in shared memory, then written in 16-byte chunks
/// of 8 columns, a warp's stores covering whole rows: 16 store instructions
/// a thread instead of 128 (sm_90a), and every sector written whole. With
/// one block per SM nothing else runs during the epilogue.
static const char *const stagedEpilogueText = R"BODY(
  // Scaled (and gated) outputs as f32 rows of TILE_COLS, padded by 8 so
  // that a warp's pair stores (8 rows) spread over the banks, after the
  // row scales.
  constexpr int CP = TILE_COLS + 8, CHUNKS_PER_ROW = TILE_COLS / 8;
  static_assert((BM + BM * CP) * 4 <= STAGES * STAGE_BYTES,
                "the staged outputs fit in the consumed tiles");
  float *staged = rowScale + BM;
#pragma unroll
  for (int j = 0; j < PAIRS; ++j) {
    const int rowInTile = pairRow(j), col = pairCol(j);
    const float scale = NORM ? rowScale[rowInTile] : 1.0f;
    const float v0 = pairValue(j, 0) * scale, v1 = pairValue(j, 1) * scale;
    if constexpr (SWIGLU)
      staged[rowInTile * CP + col / 2] = llamaSwiglu(v0, v1);
    else
      *reinterpret_cast<float2 *>(&staged[rowInTile * CP + col]) =
          make_float2(v0, v1);
  }
  syncMultipliers();
#pragma unroll 4
  for (int i = tid; i < BM * CHUNKS_PER_ROW; i += 256) {
    const int rowInTile = i / CHUNKS_PER_ROW, ch = i % CHUNKS_PER_ROW;
    const long long r = m0 + rowInTile;
    const int c = c0 + 8 * ch;
    if (r >= M || c >= COLS)
      continue;
    const float4 *src =
        reinterpret_cast<const float4 *>(&staged[rowInTile * CP + 8 * ch]);
    const float4 lo = src[0], hi = src[1];
    float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    finish8(r, c, v);
  }
)BODY";

void emitTensorCoreGemm(raw_ostream &os, const MatmulPlan &plan) {
  emitOperandsAndFinish(os, plan);
  // The weight tile's rows and the pipeline's depth are the path's own
  // (CudaMatmulPlan.h), and so is the launch geometry.
  os << "#ifdef LLAMA_WGMMA\n"
     << "  constexpr int BN = " << kWgmmaTileCols
     << ", STAGES = " << kWgmmaStages
     << ", CONSUMERS = " << kWgmmaConsumerThreads << ";\n"
     << "#else\n"
     << "  constexpr int BN = " << kTensorCoreTileRows
     << ", STAGES = " << kTensorCoreStages << ";\n"
     << "#endif\n"
     << "  constexpr int BM = " << kTensorCoreTileRows
     << ", BK = " << kTensorCoreTileK << ";\n";
  os << R"BODY(  constexpr int TILE_COLS = SWIGLU ? BN / 2 : BN; // output columns per block
  // Pairs of outputs per thread: a 2 x 4 grid of warps (sm_80) or two
  // warpgroups (sm_90a) covers the BM x BN tile.
  constexpr int PAIRS = BM * BN / 2 / 256;
  constexpr int ROW_BYTES = BK * 2, A_BYTES = BM * ROW_BYTES;
  constexpr int STAGE_BYTES = (BM + BN) * ROW_BYTES;
  constexpr int KT = (K + BK - 1) / BK;
  static_assert(ROW_BYTES == 128, "tiles are laid out for the 128-byte swizzle");
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  const unsigned rawBase = llamaSmemAddress(sharedRaw);
  const unsigned smemBase = llamaSwizzleBase(rawBase);
  unsigned char *smem = sharedRaw + (smemBase - rawBase);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  // A barrier of the 256 threads that multiply: on sm_90a the loader
  // warpgroup has left by the epilogue.
  auto syncMultipliers = [] {
#ifdef LLAMA_WGMMA
    llamaNamedBarrierSync<1>(CONSUMERS);
#else
    __syncthreads();
#endif
  };
  // Bands of 8 row tiles (llamaGroupedTile): a wave of 132 blocks then
  // covers 8 x 16 tiles (sm_90a, QKV of 7B: 8 MiB of activations and 33
  // MiB of weights) rather than 3 x 48 (all 96 MiB of them).
  const int2 tile = llamaGroupedTile<8>();
  const long long m0 = (long long)tile.y * BM;
  const int c0 = tile.x * TILE_COLS;

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

#ifdef LLAMA_WGMMA
  // Warp specialization: warpgroups 0 and 1 multiply, and warpgroup 2
  // (CONSUMERS to CONSUMERS + 127) only loads. One of its threads issues
  // the Tensor Memory Accelerator's loads, already swizzled, from the
  // launch's tensor maps (matmulTensorMaps): x's 128 rows at (k, m0), and
  // the weight's 256 rows at (k, c0), or for SwiGLU 128 gate rows at
  // (k, c0) then 128 up rows at (k, COLS + c0): the halves of the B tile,
  // not interleaved. Rows past the tensor and K past its end read as
  // zeros. Each stage has a "full" mbarrier, which the loads complete,
  // and an "empty" one, at which each multiplying warp arrives once its
  // products of the stage retired. The loader runs up to STAGES steps
  // ahead, waiting on nothing but the empty stages, so no multiplying warp
  // ever waits for a load to be issued, and no barrier spans the block
  // after the start. The loader gives up registers it does not need
  // (setmaxnreg) to the multiplying warpgroups, whose 128 accumulators a
  // thread would not fit the 168 registers a thread of 384 has otherwise.
  const auto bars = llamaInitStageBarriers<STAGES>(
      smemBase + STAGES * STAGE_BYTES, CONSUMERS / 32);
  if (tid >= CONSUMERS) {
)BODY";
  os << "    llamaRegistersDecrease<" << kWgmmaLoaderRegisters << ">();\n";
  os << R"BODY(    if (tid == CONSUMERS)
      for (int kt = 0; kt < KT; ++kt) {
        const int stage = kt % STAGES;
        if (kt >= STAGES) // step kt - STAGES released the stage
          llamaMbarrierWait(bars.empty(stage), (kt / STAGES - 1) & 1);
        const unsigned base = smemBase + stage * STAGE_BYTES;
        const int k = kt * BK;
        llamaMbarrierArriveExpectTx(bars.full(stage), STAGE_BYTES);
        llamaTmaLoad2d(base, &args.tensorMaps[0], k, (int)m0,
                       bars.full(stage));
        if constexpr (SWIGLU) {
          llamaTmaLoad2d(base + A_BYTES, &args.tensorMaps[1], k, c0,
                         bars.full(stage));
          llamaTmaLoad2d(base + A_BYTES + (BN / 2) * ROW_BYTES,
                         &args.tensorMaps[1], k, COLS + c0,
                         bars.full(stage));
        } else {
          llamaTmaLoad2d(base + A_BYTES, &args.tensorMaps[1], k, c0,
                         bars.full(stage));
        }
      }
    // The loads land on the full mbarriers whoever waits for them; the
    // epilogue synchronizes the multiplying warps alone (syncMultipliers).
    return;
  }
)BODY";
  os << "  llamaRegistersIncrease<" << kWgmmaConsumerRegisters << ">();\n";
  os << R"BODY(
  // Warpgroup g: rows g * 64 to g * 64 + 63 of the tile, all 256 columns.
  // Accumulator i of lane l of the group's warp w: row 16 w + l / 4 +
  // 8 ((i / 2) % 2), column 8 (i / 4) + 2 (l % 4) + i % 2.
  const int group = warp / 4;
  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i)
    acc[i] = 0.0f;
  auto computeStage = [&](int stage) {
    const unsigned a = smemBase + stage * STAGE_BYTES + group * 64 * ROW_BYTES;
    const unsigned b = smemBase + stage * STAGE_BYTES + A_BYTES;
    llamaWgmmaFenceOperands(acc);
    llamaWgmmaFence();
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks)
      llamaWgmma64x256<TX>(acc, llamaWgmmaDescriptor(a + ks * 32),
                           llamaWgmmaDescriptor(b + ks * 32), 1);
    llamaWgmmaCommit();
    // This stage's products run on; the previous stage's have retired.
    llamaWgmmaWait<1>();
  };
  // Pairs of outputs: columns 2 (l % 4) + 8 (j / 2) and the next; for
  // SwiGLU, gate column j' = 8 (j / 4) + 2 (l % 4) + j % 2 (accumulator j)
  // and its up column j' + 128 (accumulator j + 64), given as 2 j' so that
  // the epilogue's column / 2 is the output column.
  auto pairRow = [&](int j) {
    const int half = SWIGLU ? (j / 2) % 2 : j % 2;
    return group * 64 + (warp % 4) * 16 + lane / 4 + 8 * half;
  };
  auto pairCol = [&](int j) {
    if constexpr (SWIGLU)
      return 2 * (8 * (j / 4) + 2 * (lane % 4) + j % 2);
    else
      return 8 * (j / 2) + 2 * (lane % 4);
  };
  auto pairValue = [&](int j, int e) {
    if constexpr (SWIGLU)
      return acc[j + BN / 4 * e];
    else
      return acc[2 * j + e];
  };

  for (int kt = 0; kt < KT; ++kt) {
    const int stage = kt % STAGES;
    llamaMbarrierWait(bars.full(stage), (kt / STAGES) & 1);
    if constexpr (NORM) {
      // A warpgroup's 128 threads scale its own 64 rows of the A tile.
      normStage(stage, kt);
      if constexpr (GAIN) {
        llamaFenceProxyAsync(); // the scaled rows, for wgmma's reads
        if (group == 0)
          llamaNamedBarrierSync<2>(128);
        else
          llamaNamedBarrierSync<3>(128);
      }
    }
    computeStage(stage);
    // wgmma.wait_group synchronizes the warp, so every lane has retired
    // its products of step kt - 1 (and read the stage for the norm).
    if (kt > 0 && lane == 0)
      llamaMbarrierArrive(bars.empty((kt - 1) % STAGES));
  }
  llamaWgmmaWait<0>();
  llamaWgmmaFenceOperands(acc);
#else
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
#endif
  syncMultipliers(); // the tiles are consumed; reuse them for the row scales

  float *rowScale = (float *)smem;
  if constexpr (NORM) {
    ss += __shfl_xor_sync(0xffffffffu, ss, 1);
    if (tid % 2 == 0)
      rowScale[tid / 2] = llamaInvRms(ss, K, EPS);
    syncMultipliers();
  }
)BODY";
  if (plan.stagedEpilogue())
    os << stagedEpilogueText;
  else
    os << pairEpilogueText;
}

void emitSimtGemm(raw_ostream &os, const MatmulPlan &plan) {
  emitOperandsAndFinish(os, plan);
  os << "  constexpr int BM = " << kSimtTileRows << ", BN = " << kSimtTileRows
     << ", BK = 8;\n";
  os << R"BODY(  constexpr int TILE_COLS = SWIGLU ? BN / 2 : BN;
  // k-major tiles in two stages: a thread reads 4 consecutive rows (or
  // weight rows) from each half of a tile at once, as one float4.
  __shared__ __align__(16) float as[2][BK][BM + 4];
  __shared__ __align__(16) float ws[2][BK][BN + 4];
  __shared__ float rowScale[BM];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const long long m0 = (long long)blockIdx.y * BM;
  const int c0 = blockIdx.x * TILE_COLS;
)BODY";
  os << weightRowText;
  os << R"BODY(  // Loader: tile row lr, k [lk, lk + 4) of each step of BK, fetched to
  // registers a step ahead and stored after the step's products.
  const int lr = tid / 2, lk = (tid % 2) * 4;
  const long long lm = m0 + lr, ln = weightRow(lr);
  float xa[4], wa[4];
  float ss = 0.0f;
  auto fetch = [&](int k0) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int k = k0 + lk + e;
      float a = 0.0f, b = 0.0f;
      if (lm < M && k < K) {
        a = llamaToF(x[lm * K + k]);
        ss += a * a;
        if constexpr (GAIN)
          a *= llamaToF(gain[k]);
      }
      if (ln >= 0 && k < K)
        b = llamaToF(w[ln * K + k]);
      xa[e] = a;
      wa[e] = b;
    }
  };
  auto stash = [&](int stage) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      as[stage][lk + e][lr] = xa[e];
      ws[stage][lk + e][lr] = wa[e];
    }
  };
  // This thread's 8 x 8 outputs: rows 4 ty + [0, 4) of each half of the
  // tile's rows, columns 4 tx + [0, 4) of each half of its weight rows.
  auto half = [](int i, int at) { return (i / 4) * 64 + at + i % 4; };
  float acc[8][8];
  llamaSimtMainLoop((K + BK - 1) / BK, fetch, stash, as, ws, acc);
  if constexpr (NORM) {
    ss = llamaWarpSum<2>(ss); // a row's 2 loaders are adjacent lanes
    if (tid % 2 == 0)
      rowScale[lr] = llamaInvRms(ss, K, EPS);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int rowInTile = half(i, 4 * ty);
    const long long r = m0 + rowInTile;
    if (r >= M)
      continue;
    const float scale = NORM ? rowScale[rowInTile] : 1.0f;
    if constexpr (SWIGLU) {
      // Adjacent weight rows are an output's gate and up rows.
#pragma unroll
      for (int j = 0; j < 8; j += 2) {
        const int c = c0 + half(j, 4 * tx) / 2;
        if (c < COLS)
          finish(r, c, acc[i][j], acc[i][j + 1], scale);
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        if (c0 + half(j, 4 * tx) < N)
          finish(r, c0 + half(j, 4 * tx), acc[i][j], 0.0f, scale);
    }
  }
)BODY";
}

} // namespace llamac::codegen::cuda
