//===- CudaWgmmaAttentionGrad.cpp - Attention backward on wgmma -----------===//
//
// The sm_90a bodies of attention_grad's three tensor-core phases, for head
// sizes 64 and 128, under LLAMA_WGMMA in the kernels of
// CudaTensorCoreAttentionGrad.cpp. Their arithmetic is the mma.sync
// phases' (the same statistics, kept in the same bytes of dQ), with each
// product a warpgroup's wgmma. A block has 384 threads: warpgroups 0 and 1
// own 64 rows each, warpgroup 2 loads. One of its threads copies 64-row
// tiles with the Tensor Memory Accelerator into 128-byte swizzled tiles,
// three stages ahead, each stage guarded by a full and an empty mbarrier;
// it gives its registers to the others (setmaxnreg). Each multiplying
// warpgroup stages its own rows of two operands in shared memory once.
// The accumulators have mma.sync's layout per warp, so the element-wise
// work is the mma.sync phases'.
// - stats and dq: 128 queries of a head a block, with their output
//   gradients; the key and value tiles come by TMA. S = Q Kᵀ and
//   dP = dO Vᵀ are wgmma.m64n64k16 products with both operands K-major.
//   dq packs dS = P o (dP - pdp) * scale in registers into the A fragments
//   of dQ += dS K: wgmma.m64nDk16 with the key tile, stored key-major, as
//   the transposed (MN-major) B operand.
// - dkv: 128 keys of a KV head a block, with their values; the query and
//   output-gradient tiles of the group's heads come by TMA, with each
//   query's statistics (the first 16 bytes of its dQ row, an unswizzled
//   box). Sᵀ = K Qᵀ and dPᵀ = V dOᵀ, then dV += Pᵀ dO and dK += dSᵀ Q with
//   Pᵀ and dSᵀ as register A fragments and the tiles as MN-major B.
// Rows past the block's last visible key (stats, dq) or past S (dkv) are
// zeroed in the last tile before they are multiplied, as the mma.sync
// phases load zeros there: they are another batch row's, or past the
// buffer.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionGradPlan.h"
#include "codegen/cuda/CudaAttentionPlan.h"
#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {
namespace {

/// The stats and dq phases' block setup, loader, staged queries and output
/// gradients, causal limits, and per-tile helpers.
void emitQuerySidePrologue(raw_ostream &os) {
  os << "  typedef T ST; // the staged and multiplied type\n"
     << "  constexpr int BQ = " << kAttentionQueryRows
     << ", BKV = " << kWgmmaAttentionGradKeyRows
     << ", STAGES = " << kWgmmaAttentionGradStages
     << ", CONSUMERS = " << kWgmmaConsumerThreads << ";\n";
  os << R"BODY(  // Rows of a tile are split into column groups of 64 elements (128-byte
  // rows, the swizzle's), each a run of the tile's rows, 1024-byte aligned.
  constexpr int GROUPS = D / 64, ROWS_BYTES = BQ * D * 2;
  constexpr int TILE_BYTES = BKV * D * 2, STAGE_BYTES = 2 * TILE_BYTES;
  static_assert(D == 64 || D == 128, "whole 128-byte rows, at most two");
  constexpr float scale2 = scale * 1.4426950408889634f;
  // Key and value rows arrive by TMA, through the tensor maps.
  (void)k;
  (void)v;
  (void)dk;
  (void)dv;
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  const unsigned rawBase = llamaSmemAddress(sharedRaw);
  const unsigned smemBase = llamaSwizzleBase(rawBase);
  unsigned char *smem = sharedRaw + (smemBase - rawBase);
  // The queries, their output gradients, then each stage's key tile and
  // value tile.
  constexpr unsigned QUERIES_AT = 0, GRADS_AT = ROWS_BYTES;
  auto keyOffset = [](int stage) {
    return 2 * ROWS_BYTES + stage * STAGE_BYTES;
  };
  auto valueOffset = [](int stage) {
    return 2 * ROWS_BYTES + stage * STAGE_BYTES + TILE_BYTES;
  };
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / G;
  const int s0 = (gridDim.y - 1 - blockIdx.y) * BQ; // heaviest first
  if (s0 >= S)
    return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;
  // (log-sum-exp in base 2, pdp) of query s of head h, as the mma.sync
  // phases keep them.
  auto statsOf = [&](int s) {
    return (float *)(dq + ((long long)b * S + s) * QF + (long long)h * D);
  };

)BODY";
  emitCausalLimits(os);
  os << R"BODY(  const auto bars = llamaInitStageBarriers<STAGES>(
      smemBase + 2 * ROWS_BYTES + STAGES * STAGE_BYTES, CONSUMERS / 32);

  if (tid >= CONSUMERS) {
)BODY";
  os << "    llamaRegistersDecrease<" << kWgmmaLoaderRegisters << ">();\n";
  os << R"BODY(    // Tile n is rows b L + n BKV on of the keys and values; the map's
    // rows past the buffer read as zeros.
    if (tid == CONSUMERS)
      for (int n = 0; n < tiles; ++n) {
        const int stage = n % STAGES;
        if (n >= STAGES)
          llamaMbarrierWait(bars.empty(stage), (n / STAGES - 1) & 1);
        llamaMbarrierArriveExpectTx(bars.full(stage), STAGE_BYTES);
#pragma unroll
        for (int c = 0; c < GROUPS; ++c) {
          llamaTmaLoad2d(smemBase + keyOffset(stage) + c * BKV * 128,
                         &args.tensorMaps[0], kvHead * D + 64 * c,
                         b * (int)L + n * BKV, bars.full(stage));
          llamaTmaLoad2d(smemBase + valueOffset(stage) + c * BKV * 128,
                         &args.tensorMaps[1], kvHead * D + 64 * c,
                         b * (int)L + n * BKV, bars.full(stage));
        }
      }
    return;
  }
)BODY";
  os << "  llamaRegistersIncrease<" << kWgmmaConsumerRegisters << ">();\n";
  os << R"BODY(
  // Warpgroup wg: queries q0 to q0 + 63 of the block. Accumulator i of lane
  // l of its warp w is row 16 w + l / 4 + 8 ((i / 2) % 2), column
  // 8 (i / 4) + 2 (l % 4) + i % 2: mma.sync's m16n8 layout, n-tile i / 4.
  const int wg = warp / 4, wtid = tid % 128, q0 = s0 + 64 * wg;
  const int rowBase = 64 * wg + 16 * (warp % 4) + g; // in the block

  // The warpgroup's query and output-gradient rows; rows past S are zeros.
  const long long firstRow = ((long long)b * S + s0) * QF + (long long)h * D;
  llamaStageRowPair<D, BQ>(smem + QUERIES_AT, smem + GRADS_AT, q + firstRow,
                           dout + firstRow, QF, 64 * wg, queries - s0, wtid);
  // The rows are wgmma's A operands: complete across the warpgroup.
  llamaWarpgroupSync(wg);

)BODY";
  emitWgmmaRowLimits(os);
  os << R"BODY(  float sc[BKV / 2], dp[BKV / 2];
  auto &s4 = *reinterpret_cast<float(*)[BKV / 8][4]>(sc);
  auto &dp4 = *reinterpret_cast<float(*)[BKV / 8][4]>(dp);
  // S = Q Kᵀ and dP = dO Vᵀ of tile n: D / 16 steps of 16 along the head,
  // both operands K-major; the first overwrites the accumulators.
  auto scoresAndGrads = [&](int stage) {
    llamaWgmmaFence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const unsigned rows =
          (kk / 4) * BQ * 128 + 64 * wg * 128 + (kk % 4) * 32;
      const unsigned column = (kk / 4) * BKV * 128 + (kk % 4) * 32;
      llamaWgmma64x64<ST>(
          sc, llamaWgmmaDescriptor(smemBase + QUERIES_AT + rows),
          llamaWgmmaDescriptor(smemBase + keyOffset(stage) + column), kk > 0);
      llamaWgmma64x64<ST>(
          dp, llamaWgmmaDescriptor(smemBase + GRADS_AT + rows),
          llamaWgmmaDescriptor(smemBase + valueOffset(stage) + column),
          kk > 0);
    }
    llamaWgmmaCommit();
    llamaWgmmaWait<0>();
    llamaWgmmaFenceOperands(sc);
    llamaWgmmaFenceOperands(dp);
  };
  // Waits for tile n; the last one's rows past the block's last visible
  // key are zeroed by both warpgroups before either multiplies them.
  auto awaitTile = [&](int n) {
    const int stage = n % STAGES, t0 = n * BKV;
    llamaMbarrierWait(bars.full(stage), (n / STAGES) & 1);
    if (n == tiles - 1 && t0 + BKV - 1 > tileLast) {
      llamaZeroTileRows<BKV>(smem + keyOffset(stage), GROUPS, BKV * 128,
                             tileLast + 1 - t0, tid, CONSUMERS);
      llamaZeroTileRows<BKV>(smem + valueOffset(stage), GROUPS, BKV * 128,
                             tileLast + 1 - t0, tid, CONSUMERS);
      llamaNamedBarrierSync<1>(CONSUMERS);
    }
  };
)BODY";
}

void emitStatsBody(raw_ostream &os) {
  emitQuerySidePrologue(os);
  os << R"BODY(  float m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
  float t[2] = {0.0f, 0.0f};
  for (int n = 0; n < tiles; ++n) {
    const int t0 = n * BKV;
    awaitTile(n);
    if (n < active) {
      scoresAndGrads(n % STAGES);
      llamaAttentionStatsTile(s4, dp4, scale2, t0 + BKV - 1 > rowsVisible, t0,
                              t4, rowLast, m, l, t);
    }
    llamaReleaseStage(bars.empty(n % STAGES), n < active, lane);
  }
  const int s = s0 + rowBase;
  float *const st[2] = {s < queries ? statsOf(s) : nullptr,
                        s + 8 < queries ? statsOf(s + 8) : nullptr};
  llamaStoreAttentionStats(l, t, m, st, t4);
)BODY";
}

void emitQueryGradsBody(raw_ostream &os) {
  emitQuerySidePrologue(os);
  os << R"BODY(  // The statistics are read by the four lanes of each row, which the
  // row's dQ overwrites only at the end, from the same warp.
  float lse[2] = {LLAMA_INF, LLAMA_INF}, pdp[2] = {0.0f, 0.0f};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int s = s0 + rowBase + 8 * r;
    if (s < queries) {
      const float *st = statsOf(s);
      lse[r] = st[0];
      pdp[r] = st[1];
    }
  }
  float acc[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i)
    acc[i] = 0.0f;
  auto &acc4 = *reinterpret_cast<float(*)[D / 8][4]>(acc);
  for (int n = 0; n < tiles; ++n) {
    const int stage = n % STAGES, t0 = n * BKV;
    awaitTile(n);
    if (n < active) {
      scoresAndGrads(stage);
      const bool masked = t0 + BKV - 1 > rowsVisible;
      // dS as A fragments: n-tiles 2 kk and 2 kk + 1 are keys 16 kk to
      // 16 kk + 15, in the register order of mma.sync's A.
      unsigned dsa[BKV / 16][4];
#pragma unroll
      for (int kk = 0; kk < BKV / 16; ++kk) {
        float ds[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const int j = 2 * kk + e / 4, i = e % 4;
          const bool hidden =
              masked && t0 + 8 * j + 2 * t4 + i % 2 > rowLast[i / 2];
          const float p =
              hidden ? 0.0f : exp2f(s4[j][i] * scale2 - lse[i / 2]);
          ds[e] = p * (dp4[j][i] - pdp[i / 2]) * scale;
        }
#pragma unroll
        for (int e = 0; e < 4; ++e)
          dsa[kk][e] = llamaPack2<ST>(ds[2 * e], ds[2 * e + 1]);
      }
      // dQ += dS K over keys 16 kk + [0, 16) of the tile: its rows are k,
      // its 64-element column groups BKV * 128 bytes apart: the MN-major B
      // operand.
      llamaWgmmaFenceOperands(acc);
      llamaWgmmaFence();
#pragma unroll
      for (int kk = 0; kk < BKV / 16; ++kk)
        llamaWgmmaRegisterA<ST, 1, D>(
            acc, dsa[kk],
            llamaWgmmaDescriptorMN(smemBase + keyOffset(stage) + kk * 16 * 128,
                                   BKV * 128),
            1);
      llamaWgmmaCommit();
      llamaWgmmaWait<0>();
      llamaWgmmaFenceOperands(acc);
      llamaWgmmaFenceRegisters(dsa);
    }
    llamaReleaseStage(bars.empty(n % STAGES), n < active, lane);
  }
  // Every lane of the row has its statistics before they are overwritten.
  __syncwarp();
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int s = s0 + rowBase + 8 * r;
    if (s >= queries)
      continue;
    const long long row = ((long long)b * S + s) * QF + (long long)h * D;
#pragma unroll
    for (int j = 0; j < D / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        dq[row + 8 * j + 2 * t4 + e] = llamaFromF<T>(acc4[j][2 * r + e]);
  }
)BODY";
}

void emitKeyGradsBody(raw_ostream &os) {
  os << "  typedef T ST; // the staged and multiplied type\n"
     << "  constexpr int BK = " << kWgmmaAttentionGradBlockKeys
     << ", BQ = " << kWgmmaAttentionGradKeyRows
     << ", STAGES = " << kWgmmaAttentionGradStages
     << ", CONSUMERS = " << kWgmmaConsumerThreads << ";\n";
  os << R"BODY(  // Rows of a tile are split into column groups of 64 elements (128-byte
  // rows, the swizzle's), each a run of the tile's rows, 1024-byte aligned.
  constexpr int GROUPS = D / 64, OWN_BYTES = BK * D * 2;
  constexpr int TILE_BYTES = BQ * D * 2, STATS_BYTES = BQ * 16;
  constexpr int STAGE_BYTES = 2 * TILE_BYTES + 1024;
  static_assert(D == 64 || D == 128, "whole 128-byte rows, at most two");
  static_assert(STATS_BYTES <= 1024, "a query tile's statistics fit");
  constexpr float scale2 = scale * 1.4426950408889634f;
  // Query rows, output gradients and statistics arrive by TMA.
  (void)q;
  (void)dout;
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  const unsigned rawBase = llamaSmemAddress(sharedRaw);
  const unsigned smemBase = llamaSwizzleBase(rawBase);
  unsigned char *smem = sharedRaw + (smemBase - rawBase);
  // The block's keys and values, then each stage's query tile, output
  // gradient tile and statistics: 16 bytes a query, of which the first 8
  // are its (log-sum-exp, pdp), as the stats phase left them in dQ.
  constexpr unsigned KEYS_AT = 0, VALUES_AT = OWN_BYTES;
  auto queryOffset = [](int stage) {
    return 2 * OWN_BYTES + stage * STAGE_BYTES;
  };
  auto gradOffset = [](int stage) {
    return 2 * OWN_BYTES + stage * STAGE_BYTES + TILE_BYTES;
  };
  auto statsOffset = [](int stage) {
    return 2 * OWN_BYTES + stage * STAGE_BYTES + 2 * TILE_BYTES;
  };
  const int kvHead = blockIdx.x, b = blockIdx.z;
  const int t0 = blockIdx.y * BK;
  if (t0 >= L)
    return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;
  const int queries = (int)S, keys = (int)L, pos = (int)position;

  // The query tiles that see a key of the block: query s sees key t when
  // s >= t - position, so tiles before firstTile see none. Item i is head
  // kvHead * G + i / perHead, query tile firstTile + i % perHead.
  const int firstQuery = t0 - pos > 0 ? t0 - pos : 0;
  const int firstTile = firstQuery / BQ;
  const int queryTiles = (queries + BQ - 1) / BQ;
  const int perHead = queryTiles > firstTile ? queryTiles - firstTile : 0;
  const int items = G * perHead;
  auto headOf = [&](int item) { return kvHead * G + item / perHead; };
  auto tileStart = [&](int item) { return (firstTile + item % perHead) * BQ; };

  const auto bars = llamaInitStageBarriers<STAGES>(
      smemBase + 2 * OWN_BYTES + STAGES * STAGE_BYTES, CONSUMERS / 32);

  if (tid >= CONSUMERS) {
)BODY";
  os << "    llamaRegistersDecrease<" << kWgmmaLoaderRegisters << ">();\n";
  os << R"BODY(    // Item i's rows are b S + its tile's start on; the maps' rows past
    // the buffers read as zeros.
    if (tid == CONSUMERS)
      for (int i = 0; i < items; ++i) {
        const int stage = i % STAGES, h = headOf(i);
        const int row = b * queries + tileStart(i);
        if (i >= STAGES)
          llamaMbarrierWait(bars.empty(stage), (i / STAGES - 1) & 1);
        llamaMbarrierArriveExpectTx(bars.full(stage),
                                    2 * TILE_BYTES + STATS_BYTES);
#pragma unroll
        for (int c = 0; c < GROUPS; ++c) {
          llamaTmaLoad2d(smemBase + queryOffset(stage) + c * BQ * 128,
                         &args.tensorMaps[0], h * D + 64 * c, row,
                         bars.full(stage));
          llamaTmaLoad2d(smemBase + gradOffset(stage) + c * BQ * 128,
                         &args.tensorMaps[1], h * D + 64 * c, row,
                         bars.full(stage));
        }
        llamaTmaLoad2d(smemBase + statsOffset(stage), &args.tensorMaps[2],
                       h * D, row, bars.full(stage));
      }
    return;
  }
)BODY";
  os << "  llamaRegistersIncrease<" << kWgmmaConsumerRegisters << ">();\n";
  os << R"BODY(
  // Warpgroup wg: keys k0 to k0 + 63 of the block. Accumulator i of lane l
  // of its warp w is key 16 w + l / 4 + 8 ((i / 2) % 2) of them, query (or
  // head column) 8 (i / 4) + 2 (l % 4) + i % 2: mma.sync's m16n8 layout.
  const int wg = warp / 4, wtid = tid % 128, k0 = t0 + 64 * wg;
  const int keyRow = 64 * wg + 16 * (warp % 4) + g; // in the block

  // The warpgroup's key and value rows; rows past L are zeros.
  const long long firstRow = ((long long)b * L + t0) * KF + (long long)kvHead * D;
  llamaStageRowPair<D, BK>(smem + KEYS_AT, smem + VALUES_AT, k + firstRow,
                           v + firstRow, KF, 64 * wg, keys - t0, wtid);
  llamaWarpgroupSync(wg);

  float dkAcc[D / 2], dvAcc[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) {
    dkAcc[i] = 0.0f;
    dvAcc[i] = 0.0f;
  }
  float sc[BQ / 2], dp[BQ / 2];
  auto &s4 = *reinterpret_cast<float(*)[BQ / 8][4]>(sc);
  auto &dp4 = *reinterpret_cast<float(*)[BQ / 8][4]>(dp);
  // Each item: its query and output-gradient rows past S (another batch
  // row's, or past the buffer) are zeroed by both warpgroups before either
  // multiplies them, as the mma.sync phase loads zeros there.
  for (int i = 0; i < items; ++i) {
    const int stage = i % STAGES, s0 = tileStart(i);
    llamaMbarrierWait(bars.full(stage), (i / STAGES) & 1);
    if (s0 + BQ > queries) {
      llamaZeroTileRows<BQ>(smem + queryOffset(stage), GROUPS, BQ * 128,
                            queries - s0, tid, CONSUMERS);
      llamaZeroTileRows<BQ>(smem + gradOffset(stage), GROUPS, BQ * 128,
                            queries - s0, tid, CONSUMERS);
      llamaNamedBarrierSync<1>(CONSUMERS);
    }
    // The warpgroup multiplies when one of its keys is visible to one of
    // the tile's queries, and masks unless all are.
    const int lastQuery = s0 + BQ - 1 < queries ? s0 + BQ - 1 : queries - 1;
    const bool computes = k0 < keys && k0 <= pos + lastQuery;
    if (computes) {
      const bool masked =
          s0 + BQ > queries || k0 + 63 >= keys || k0 + 63 > pos + s0;
      // Sᵀ = K Qᵀ and dPᵀ = V dOᵀ: D / 16 steps of 16 along the head, both
      // operands K-major; the first overwrites the accumulators.
      llamaWgmmaFence();
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const unsigned rows =
            (kk / 4) * BK * 128 + 64 * wg * 128 + (kk % 4) * 32;
        const unsigned column = (kk / 4) * BQ * 128 + (kk % 4) * 32;
        llamaWgmma64x64<ST>(
            sc, llamaWgmmaDescriptor(smemBase + KEYS_AT + rows),
            llamaWgmmaDescriptor(smemBase + queryOffset(stage) + column),
            kk > 0);
        llamaWgmma64x64<ST>(
            dp, llamaWgmmaDescriptor(smemBase + VALUES_AT + rows),
            llamaWgmmaDescriptor(smemBase + gradOffset(stage) + column),
            kk > 0);
      }
      llamaWgmmaCommit();
      llamaWgmmaWait<0>();
      llamaWgmmaFenceOperands(sc);
      llamaWgmmaFenceOperands(dp);
      // Pᵀ and dSᵀ = Pᵀ o (dPᵀ - pdp) * scale as A fragments: n-tiles 2 kk
      // and 2 kk + 1 are queries 16 kk to 16 kk + 15 of the tile, in the
      // register order of mma.sync's A.
      const float *stats =
          reinterpret_cast<const float *>(smem + statsOffset(stage));
      unsigned pa[BQ / 16][4], dsa[BQ / 16][4];
#pragma unroll
      for (int kk = 0; kk < BQ / 16; ++kk) {
        float p[8], ds[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const int j = 2 * kk + e / 4, x = e % 4;
          const int c = 8 * j + 2 * t4 + x % 2, s = s0 + c;
          const int key = t0 + keyRow + 8 * (x / 2);
          const bool hidden =
              masked && (s >= queries || key >= keys || key > pos + s);
          p[e] = hidden ? 0.0f : exp2f(s4[j][x] * scale2 - stats[4 * c]);
          ds[e] = p[e] * (dp4[j][x] - stats[4 * c + 1]) * scale;
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          pa[kk][e] = llamaPack2<ST>(p[2 * e], p[2 * e + 1]);
          dsa[kk][e] = llamaPack2<ST>(ds[2 * e], ds[2 * e + 1]);
        }
      }
      // dV += Pᵀ dO and dK += dSᵀ Q over queries 16 kk + [0, 16) of the
      // tile: its rows are k, its 64-element column groups BQ * 128 bytes
      // apart: the MN-major B operand.
      llamaWgmmaFenceOperands(dkAcc);
      llamaWgmmaFenceOperands(dvAcc);
      llamaWgmmaFence();
#pragma unroll
      for (int kk = 0; kk < BQ / 16; ++kk) {
        llamaWgmmaRegisterA<ST, 1, D>(
            dvAcc, pa[kk],
            llamaWgmmaDescriptorMN(smemBase + gradOffset(stage) + kk * 16 * 128,
                                   BQ * 128),
            1);
        llamaWgmmaRegisterA<ST, 1, D>(
            dkAcc, dsa[kk],
            llamaWgmmaDescriptorMN(
                smemBase + queryOffset(stage) + kk * 16 * 128, BQ * 128),
            1);
      }
      llamaWgmmaCommit();
      llamaWgmmaWait<0>();
      llamaWgmmaFenceOperands(dkAcc);
      llamaWgmmaFenceOperands(dvAcc);
      llamaWgmmaFenceRegisters(pa);
      llamaWgmmaFenceRegisters(dsa);
    }
    llamaReleaseStage(bars.empty(stage), computes, lane);
  }

  auto &dk4 = *reinterpret_cast<float(*)[D / 8][4]>(dkAcc);
  auto &dv4 = *reinterpret_cast<float(*)[D / 8][4]>(dvAcc);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int t = t0 + keyRow + 8 * r;
    if (t >= keys)
      continue;
    const long long row = ((long long)b * L + t) * KF + (long long)kvHead * D;
#pragma unroll
    for (int j = 0; j < D / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        dk[row + 8 * j + 2 * t4 + e] = llamaFromF<T>(dk4[j][2 * r + e]);
        dv[row + 8 * j + 2 * t4 + e] = llamaFromF<T>(dv4[j][2 * r + e]);
      }
  }
)BODY";
}

} // namespace

void emitWgmmaAttentionGradBody(raw_ostream &os, AttentionGradPhase phase) {
  switch (phase) {
  case AttentionGradPhase::Stats:
    emitStatsBody(os);
    return;
  case AttentionGradPhase::KeyGrads:
    emitKeyGradsBody(os);
    return;
  case AttentionGradPhase::QueryGrads:
    emitQueryGradsBody(os);
    return;
  }
}

std::optional<artifact::LaunchGeometry>
wgmmaAttentionGradGeometry(const AttentionGradPlan &plan,
                           AttentionGradPhase phase) {
  if (!plan.wgmma())
    return std::nullopt;
  // As the mma.sync phases' grid, with blocks of 128 rows.
  const bool keys = phase == AttentionGradPhase::KeyGrads;
  artifact::LaunchGeometry g = attentionGradRowGrid(
      plan, phase, keys ? kWgmmaAttentionGradBlockKeys : kAttentionQueryRows,
      kWgmmaAttentionThreads);
  g.sharedBytes = wgmmaAttentionGradSharedBytes(plan.headDim, phase);
  return g;
}

std::vector<artifact::TensorMapSpec>
wgmmaAttentionGradTensorMaps(const AttentionGradPlan &plan,
                             AttentionGradPhase phase) {
  if (!plan.wgmma())
    return {};
  // Boxes of one head's 64-element column group (128-byte rows) by a
  // tile's rows, of rows of KVH * D (keys and values: buffers 1 and 2) or
  // H * D (queries, output gradients and dQ: 0, 3 and 4).
  const uint32_t rows = kWgmmaAttentionGradKeyRows;
  if (phase != AttentionGradPhase::KeyGrads)
    return {{1, 64, rows, 128}, {2, 64, rows, 128}};
  // dkv: the query and output-gradient tiles, and each query's first 16
  // bytes of dQ, which hold its statistics: unswizzled rows of 8 elements.
  return {{0, 64, rows, 128}, {3, 64, rows, 128}, {4, 8, rows, 0}};
}

} // namespace llamac::codegen::cuda
