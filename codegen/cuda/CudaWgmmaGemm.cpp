//===- CudaWgmmaGemm.cpp - The prefill GEMM on sm_90a: wgmma and TMA ------===//
//
// A persistent, warp-specialized GEMM. Each block (one per SM) walks the
// output tiles of 128 activation rows by 256 weight rows (for SwiGLU 128
// gate and 128 up rows) with a stride of the grid, in the grouped order of
// llamaGroupedTileAt. Its three warpgroups:
// - the loader: one thread issues the Tensor Memory Accelerator's loads of
//   the tiles' 64-wide K steps into a ring of 4 stages of 48 KiB, in the
//   128-byte swizzle that wgmma's descriptors name, each stage guarded by a
//   "full" mbarrier (the loads complete it) and an "empty" one (every
//   multiplying warp arrives once its products of the stage retired). It
//   runs up to 4 steps ahead across tile boundaries, so while the other two
//   warpgroups write one tile's outputs the next tile's first stages land,
//   and they start its products without waiting for HBM. It gives its
//   registers to them (setmaxnreg: 40 against 232).
// - two multiplying warpgroups: each multiplies its 64 rows by all 256
//   weight rows with 4 wgmma.m64n256k16 a stage, straight from shared
//   memory, into 128 f32 accumulators a thread; a stage's products run on
//   while the next stage's are issued (wgmma.wait_group 1).
// Their epilogue stages the scaled (and gated) outputs in a buffer of its
// own, 32 output columns at a time, and writes them in 16-byte chunks: the
// stages may already hold the next tile. The RMSNorm row scale comes from
// the A tiles in shared memory (two threads per row sum x²).
//
// Where the call's rows are few, a GEMM without SwiGLU walks narrow tiles
// of 128 weight rows instead (wgmma.m64n128k16, 64 accumulators a thread),
// so that twice the blocks have work: it does so when each narrow tile
// gets a block of its own (kWgmmaNarrowTileCols).
//
// The blocks run in clusters of 2 (kWgmmaClusterBlocks) that multiply
// consecutive row tiles of one column tile: each CTA's loader loads its own
// x tile and half of the shared weight tile, which TMA multicast writes
// into both CTAs, so the cluster reads each weight tile from L2 once (a
// narrow tile is one box, which CTA 0 loads for both).
//
// A launch with one block a tile (a runtime that ignores the geometry's
// persistentBlocksPerSm), or without clusters (each CTA then loads its whole
// weight tile), computes the same outputs.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

void emitWgmmaGemm(raw_ostream &os, const MatmulPlan &plan) {
  os << "  constexpr int BN = " << kWgmmaTileCols
     << ", NARROW_BN = " << kWgmmaNarrowTileCols
     << ", STAGES = " << kWgmmaStages
     << ", CONSUMERS = " << kWgmmaConsumerThreads
     << ", EPILOGUE_COLS = " << kWgmmaEpilogueColumns << ";\n";
  emitTensorCoreTileSetup(os);
  os << R"BODY(  // A barrier of the 256 threads that multiply: the loader warpgroup
  // never joins them.
  auto syncMultipliers = [] { llamaNamedBarrierSync<1>(CONSUMERS); };
  // The cluster: 2 CTAs (kWgmmaClusterBlocks), or 1 where the launch has
  // none. Its CTAs multiply consecutive row tiles of one column tile; CTA
  // r loads half r of the weight tile into both (TMA multicast), so a
  // stage is free only once every multiplying warp of the cluster is done
  // with it: each arrives on the empty mbarrier of every CTA
  // (bars.release), and no CTA does so before the cluster's mbarriers
  // exist (the initialization synchronizes the cluster).
  const int CLUSTER = (int)llamaClusterSize(), RANK = (int)llamaClusterRank();
  if (CLUSTER > 2)
    __trap(); // the weight tile has two halves to share
  // Shared memory: the stages, their mbarriers, the row scales and the
  // epilogue's staged outputs (CudaMatmulPlan.h, kWgmmaSharedBytes).
  const auto bars = llamaInitStageBarriers<STAGES>(
      smemBase + STAGES * STAGE_BYTES, CONSUMERS / 32, CLUSTER);
  float *rowScale = (float *)(smem + STAGES * STAGE_BYTES + bars.kBytes);
  float *staged = rowScale + BM;
  (void)staged;
  // The tiles, in bands of 8 row tiles (llamaGroupedTileAt): the 132
  // blocks of an H100 then work on 8 x 16 tiles at a time (QKV of 7B:
  // 8 MiB of activations and 33 MiB of weights) rather than 3 x 48 (all
  // 96 MiB of them). A cluster's CTAs take consecutive row tiles of a
  // column tile (llamaForEachClusterTile). Every block walks them in the
  // same order, the loader and the multiplying warps alike.
  const int rowTiles = (int)((M + BM - 1) / BM);
  // Wide tiles have BN weight rows; narrow ones NARROW_BN, taken where
  // each has a block of its own (kWgmmaNarrowTileCols), so that few rows
  // still keep every SM at work. Every block decides alike.
  constexpr int NARROW_COL_TILES = (COLS + NARROW_BN - 1) / NARROW_BN;
  const int clusters = (int)(gridDim.x * gridDim.y) / CLUSTER;
  const bool narrow =
      !SWIGLU &&
      NARROW_COL_TILES * ((rowTiles + CLUSTER - 1) / CLUSTER) <= clusters;
  // withTileWidth(work) calls work(tag), whose tag::value says whether the
  // tiles are narrow at compile time: each width has its own wgmma shape
  // and accumulators.
  auto withTileWidth = [&](auto &&work) {
    if constexpr (!SWIGLU)
      if (narrow)
        return work(LlamaBool<true>());
    work(LlamaBool<false>());
  };
  // forEachTile(tag, work) calls work(m0, c0) for each of the block's
  // tiles of tag's width.
  auto forEachTile = [&](auto tag, auto &&work) {
    constexpr int TILE_BN = decltype(tag)::value ? NARROW_BN : BN;
    constexpr int TILE_COLS = SWIGLU ? TILE_BN / 2 : TILE_BN;
    llamaForEachClusterTile<8>((COLS + TILE_COLS - 1) / TILE_COLS, rowTiles,
                               CLUSTER, RANK, [&](int2 tile) {
                                 work((long long)tile.y * BM,
                                      tile.x * TILE_COLS);
                               });
  };

  if (tid >= CONSUMERS) {
)BODY";
  os << "    llamaRegistersDecrease<" << kWgmmaLoaderRegisters << ">();\n";
  os << R"BODY(    // One thread issues every load: x's 128 rows at (k, m0), and the
    // weight's rows in boxes of 128: a wide tile's two halves, at (k, c0)
    // and (k, c0 + 128), or for SwiGLU 128 gate rows at (k, c0) and 128
    // up rows at (k, COLS + c0), not interleaved; a narrow tile's one box
    // at (k, c0). In a cluster, CTA r loads wide half r for both CTAs, and
    // CTA 0 the narrow box; each CTA's stage still receives all of its
    // bytes. Rows past the tensor and K past its end read as zeros. `step`
    // counts K steps over all of the block's tiles, so the ring's stages
    // and mbarrier phases run on from one tile to the next.
    if (tid == CONSUMERS) {
      int step = 0;
      withTileWidth([&](auto tag) {
        constexpr bool NARROW = decltype(tag)::value;
        constexpr int HALVES = NARROW ? 1 : 2; // boxes of weight rows
        constexpr int LOAD_BYTES = A_BYTES + HALVES * (BN / 2) * ROW_BYTES;
        forEachTile(tag, [&](long long m0, int c0) {
          for (int kt = 0; kt < KT; ++kt, ++step) {
            const int stage = step % STAGES;
            if (step >= STAGES) // step - STAGES released the stage
              llamaMbarrierWait(bars.empty(stage), (step / STAGES - 1) & 1);
            const unsigned base = smemBase + stage * STAGE_BYTES;
            const int k = kt * BK;
            llamaMbarrierArriveExpectTx(bars.full(stage), LOAD_BYTES);
            llamaTmaLoad2d(base, &args.tensorMaps[0], k, (int)m0,
                           bars.full(stage));
            for (int half = 0; half < HALVES; ++half) {
              const unsigned dst =
                  base + A_BYTES + half * (BN / 2) * ROW_BYTES;
              const int row = SWIGLU ? half * COLS + c0 : c0 + half * (BN / 2);
              if (CLUSTER == 1)
                llamaTmaLoad2d(dst, &args.tensorMaps[1], k, row,
                               bars.full(stage));
              else if (half == RANK)
                llamaTmaLoad2dMulticast(dst, &args.tensorMaps[1], k, row,
                                        bars.full(stage), 0x3);
            }
          }
        });
      });
      // The producer tail: wait out the other CTA's use of the last
      // stages, which arrives here.
      bars.awaitClusterReleases(step);
    }
    // The loads land on the full mbarriers whoever waits for them.
    return;
  }
)BODY";
  os << "  llamaRegistersIncrease<" << kWgmmaConsumerRegisters << ">();\n";
  os << R"BODY(  const int group = warp / 4;
  withTileWidth([&](auto tag) {
  constexpr bool NARROW = decltype(tag)::value;
  constexpr int TILE_BN = NARROW ? NARROW_BN : BN; // weight rows a tile
  constexpr int TILE_COLS = SWIGLU ? TILE_BN / 2 : TILE_BN;
  constexpr int PAIRS = BM * TILE_BN / 2 / 256; // a thread's output pairs
  // Warpgroup g: rows g * 64 to g * 64 + 63 of the tile, all TILE_BN
  // columns. Accumulator i of lane l of the group's warp w: row 16 w +
  // l / 4 + 8 ((i / 2) % 2), column 8 (i / 4) + 2 (l % 4) + i % 2.
  float acc[TILE_BN / 2];
  auto computeStage = [&](int stage) {
    const unsigned a = smemBase + stage * STAGE_BYTES + group * 64 * ROW_BYTES;
    const unsigned b = smemBase + stage * STAGE_BYTES + A_BYTES;
    llamaWgmmaFenceOperands(acc);
    llamaWgmmaFence();
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks) {
      if constexpr (NARROW)
        llamaWgmma64x128<TX>(acc, llamaWgmmaDescriptor(a + ks * 32),
                             llamaWgmmaDescriptor(b + ks * 32), 1);
      else
        llamaWgmma64x256<TX>(acc, llamaWgmmaDescriptor(a + ks * 32),
                             llamaWgmmaDescriptor(b + ks * 32), 1);
    }
    llamaWgmmaCommit();
    // This stage's products run on; the previous stage's have retired.
    llamaWgmmaWait<1>();
  };
  // Pairs of outputs: columns 2 (l % 4) + 8 (j / 2) and the next; for
  // SwiGLU (wide tiles only), gate column j' = 8 (j / 4) + 2 (l % 4) + j % 2
  // (accumulator j) and its up column j' + 128 (accumulator j + 64), given
  // as 2 j' so that the epilogue's column / 2 is the output column.
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
      return acc[j + TILE_BN / 4 * e];
    else
      return acc[2 * j + e];
  };
  // The 8-column group of pair j's output, known at compile time, so that
  // the epilogue's rounds of EPILOGUE_COLS keep the accumulators in
  // registers.
  auto pairGroup = [](int j) { return SWIGLU ? j / 4 : j / 2; };

  int step = 0;
  forEachTile(tag, [&](long long m0, int c0) {
#pragma unroll
    for (int i = 0; i < TILE_BN / 2; ++i)
      acc[i] = 0.0f;
    ss = 0.0f;
    for (int kt = 0; kt < KT; ++kt, ++step) {
      const int stage = step % STAGES;
      llamaMbarrierWait(bars.full(stage), (step / STAGES) & 1);
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
      // its products of the previous step (and read its stage for the norm).
      if (kt > 0 && lane == 0)
        bars.release((step - 1) % STAGES);
    }
    llamaWgmmaWait<0>();
    llamaWgmmaFenceOperands(acc);
    // The tile's last stage is free too: the loader may fill it with the
    // next tile's.
    if (lane == 0)
      bars.release((step - 1) % STAGES);
)BODY";
  emitTileEpilogue(os, plan);
  os << "  });\n  });\n";
}

} // namespace llamac::codegen::cuda
