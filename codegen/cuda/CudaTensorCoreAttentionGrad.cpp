//===- CudaTensorCoreAttentionGrad.cpp - Attention backward on mma.sync ---===//
//
// The backward of causal GQA attention for 16-bit data (head size 16 to
// 128 in steps of 16) on the sm_80 tensor-core instructions, as three
// kernels launched in turn on the same buffers. Like flash attention 2's
// backward it recomputes the probabilities tile by tile from q and k;
// unlike it, no element is summed by two blocks (no atomics), so every
// step gives the same bits:
//
//   1. stats: a block of 4 warps owns 64 queries of one head (16 a warp)
//      and walks the visible keys in tiles of 64, computing S = Q K^T and
//      dP = dO V^T on the tensor cores, and online over the tiles the
//      softmax's log-sum-exp and pdp = sum_j p_j dp_j (= rowsum(dO o O)).
//      Both f32 statistics wait in the first 8 bytes of that query head's
//      own dQ slice: no scratch sized by the dynamic sequence length.
//   2. dkv: a block owns 64 keys of one KV head (16 a warp) and walks every
//      query tile of the group's heads that sees them, computing the
//      transposed S^T = K Q^T and dP^T = V dO^T, so that P^T and
//      dS^T = P^T o (dP^T - pdp) * scale come out of the accumulators as A
//      fragments for dV += P^T dO and dK += dS^T Q.
//   3. dq: phase 1's blocks again, now with the statistics: dS from S and
//      dP as in phase 2, and dQ += dS K; then the statistics are
//      overwritten by dQ.
//
// Phases 1 and 3 keep the warp's queries and output gradients as A
// fragments in registers; phase 2 reads its keys and values from shared
// memory, as its two f32 accumulators of D columns take most registers.
// Tiles are double-buffered: cp.async brings tile n + 1 while tile n is
// multiplied. Scores are kept in base 2 (x * scale * log2 e) so that each
// probability is one FFMA and one ex2; P and dS are rounded to the 16-bit
// type as mma operands, as in flash attention. The fragment products are
// the prelude's, which the forward kernel uses too (llamaMmaRows,
// llamaMmaPackedRows).
//
// With head sizes 64 and 128 each phase has an sm_90a body on wgmma, with
// blocks of 128 rows (CudaWgmmaAttentionGrad.cpp), emitted first under
// LLAMA_WGMMA; the bodies here are the #else.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionGradPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {
namespace {

/// Queries or keys a block owns: 16 per warp.
constexpr int kBlockRows = 64;
constexpr int kThreads = 128;

/// Dynamic shared memory: two stages of two 64-row tiles, rows padded by
/// 16 bytes so that ldmatrix's 8 row addresses hit distinct banks; phase 2
/// adds its own keys and values and two stages of statistics.
unsigned sharedBytes(const AttentionGradPlan &plan, AttentionGradPhase phase) {
  unsigned tile = kBlockRows * (plan.headDim + 8) * 2;
  if (phase == AttentionGradPhase::KeyGrads)
    return 6 * tile + 2 * 2 * kBlockRows * 4;
  return 4 * tile;
}

/// What every phase shares: constants, the tile loader, the fragment
/// products and the statistics' place.
void emitPreamble(raw_ostream &os) {
  os << R"BODY(  typedef T ST;
  constexpr int BR = 64, THREADS = 128, DP = D + 8, NK = D / 16, NO = D / 8;
  constexpr float scale2 = scale * 1.4426950408889634f;
  typedef ST Tile[BR][DP];
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  Tile *tiles = reinterpret_cast<Tile *>(sharedRaw);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;
  const long long b = blockIdx.z;
  // Causal: query s sees key rows t <= position + s, within the L rows; a
  // query past S sees none.
  auto lastVisible = [&](long long s) {
    const long long last = position + s;
    return s >= S ? -1LL : last < L - 1 ? last : L - 1;
  };
  // (log-sum-exp in base 2, pdp) of query s of head h.
  auto statsOf = [&](int h, long long s) {
    return (float *)(dq + (b * S + s) * QF + (long long)h * D);
  };
  // Rows row0 + [0, BR) of a tensor with `stride` elements a row, columns
  // col + [0, D), into `tile` by cp.async; rows from `valid` on are zeros.
  auto loadTile = [&](Tile &tile, const T *base, long long row0,
                      long long valid, long long stride, long long col) {
    for (int i = tid; i < BR * (D / 8); i += THREADS) {
      const int r = i / (D / 8), c = i % (D / 8);
      const bool ok = r < valid;
      llamaCpAsync16(llamaSmemAddress(&tile[r][8 * c]),
                     ok ? (const void *)(base + (row0 + r) * stride + col +
                                         8 * c)
                        : (const void *)base,
                     ok ? 16 : 0);
    }
  };
  // Stores this thread's part of a 16 x D accumulator as rows row0 + g and
  // row0 + 8 + g (those before rowEnd) of `out`, from column col.
  auto storeRows = [&](const float (&acc)[NO][4], T *out, long long row0,
                       long long rowEnd, long long stride, long long col) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const long long row = row0 + g + 8 * r;
      if (row >= rowEnd)
        continue;
#pragma unroll
      for (int n = 0; n < NO; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e)
          out[row * stride + col + 8 * n + 2 * t4 + e] =
              llamaFromF<T>(acc[n][2 * r + e]);
    }
  };
)BODY";
}

/// Phases 1 and 3: the block's queries as A fragments, and the walk over
/// the key and value tiles they see, up to the per-tile work `TILE_WORK`.
void emitQueryBlock(raw_ostream &os) {
  os << R"BODY(  const int h = blockIdx.x, kvHead = h / G;
  const long long s0 = (long long)blockIdx.y * BR;
  if (s0 >= S)
    return;
  Tile *kt = tiles, *vt = tiles + 2;
  // The queries and output gradients, staged through the first stage.
  const long long queries = S - s0 < BR ? S - s0 : BR;
  loadTile(kt[0], q, b * S + s0, queries, QF, (long long)h * D);
  loadTile(vt[0], dout, b * S + s0, queries, QF, (long long)h * D);
  llamaCpAsyncCommit();
  llamaCpAsyncWait<0>();
  __syncthreads();
  unsigned qa[NK][4], oa[NK][4];
  llamaLoadFragmentsA(qa, kt[0], warp * 16, lane);
  llamaLoadFragmentsA(oa, vt[0], warp * 16, lane);
  __syncthreads(); // every warp holds its fragments: the stage is free

  // This thread holds query rows w0 + g and w0 + 8 + g.
  const long long w0 = s0 + warp * 16;
  const long long rowLast[2] = {lastVisible(w0 + g), lastVisible(w0 + 8 + g)};
  const long long rowsVisible =
      rowLast[0] < rowLast[1] ? rowLast[0] : rowLast[1];
  const long long warpLast =
      w0 >= S ? -1 : lastVisible(w0 + 15 < S ? w0 + 15 : S - 1);
  const long long tileLast = lastVisible(s0 + queries - 1);
  const int keyTiles = tileLast < 0 ? 0 : (int)(tileLast / BR) + 1;
  auto loadKeys = [&](int n, int stage) {
    const long long t0 = (long long)n * BR;
    loadTile(kt[stage], k, b * L + t0, tileLast + 1 - t0, KF,
             (long long)kvHead * D);
    loadTile(vt[stage], v, b * L + t0, tileLast + 1 - t0, KF,
             (long long)kvHead * D);
    llamaCpAsyncCommit();
  };
)BODY";
}

/// The key-tile loop of phases 1 and 3: S and dP of the warp's 16 queries
/// against tile n, then `work`.
void emitKeyLoop(raw_ostream &os, StringRef work) {
  os << R"BODY(  if (keyTiles > 0)
    loadKeys(0, 0);
  for (int n = 0; n < keyTiles; ++n) {
    const int stage = n & 1;
    const long long t0 = (long long)n * BR;
    llamaCpAsyncWait<0>();
    // Tile n has landed for every thread, and every warp is done with tile
    // n - 1, whose stage takes tile n + 1.
    __syncthreads();
    if (n + 1 < keyTiles)
      loadKeys(n + 1, stage ^ 1);
    if (t0 > warpLast)
      continue;
    // n-tile j holds keys t0 + 8 j + [0, 8); element e of it is row e / 2,
    // key t0 + 8 j + 2 t4 + e % 2.
    float sc[8][4] = {}, dp[8][4] = {};
    llamaMmaRows(sc, qa, kt[stage], 0, lane);
    llamaMmaRows(dp, oa, vt[stage], 0, lane);
    const bool masked = t0 + BR - 1 > rowsVisible;
)BODY"
     << work << "  }\n";
}

void emitStats(raw_ostream &os) {
  emitQueryBlock(os);
  os << R"BODY(  float m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
  float t[2] = {0.0f, 0.0f};
)BODY";
  emitKeyLoop(
      os,
      R"BODY(    llamaAttentionStatsTile(sc, dp, scale2, masked, t0, t4, rowLast, m, l, t);
)BODY");
  os << R"BODY(  float *const st[2] = {w0 + g < S ? statsOf(h, w0 + g) : nullptr,
                        w0 + 8 + g < S ? statsOf(h, w0 + 8 + g) : nullptr};
  llamaStoreAttentionStats(l, t, m, st, t4);
)BODY";
}

void emitQueryGrads(raw_ostream &os) {
  emitQueryBlock(os);
  os << R"BODY(  float lse[2] = {LLAMA_INF, LLAMA_INF}, pdp[2] = {0.0f, 0.0f};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const long long s = w0 + g + 8 * r;
    if (s < S) {
      const float *st = statsOf(h, s);
      lse[r] = st[0];
      pdp[r] = st[1];
    }
  }
  // Every thread has its statistics before any overwrites them with dQ.
  __syncthreads();
  float acc[NO][4] = {};
)BODY";
  emitKeyLoop(os, R"BODY(#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool hidden =
            masked && t0 + 8 * j + 2 * t4 + e % 2 > rowLast[e / 2];
        const float p =
            hidden ? 0.0f : exp2f(sc[j][e] * scale2 - lse[e / 2]);
        sc[j][e] = p * (dp[j][e] - pdp[e / 2]) * scale;
      }
    // dQ += dS K: keys 16 kk + [0, 16) of the tile.
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      llamaMmaPackedRows(acc, sc[2 * kk], sc[2 * kk + 1], kt[stage], 16 * kk,
                         lane);
)BODY");
  os << R"BODY(  storeRows(acc, dq, b * S + w0, b * S + S, QF,
            (long long)h * D);
)BODY";
}

void emitKeyGrads(raw_ostream &os) {
  os << R"BODY(  const int kvHead = blockIdx.x;
  const long long t0 = (long long)blockIdx.y * BR;
  if (t0 >= L)
    return;
  Tile *own = tiles, *qt = tiles + 2, *ot = tiles + 4;
  float(*lseS)[BR] = reinterpret_cast<float(*)[BR]>(tiles + 6);
  float(*pdpS)[BR] = lseS + 2;
  const long long keys = L - t0 < BR ? L - t0 : BR;
  loadTile(own[0], k, b * L + t0, keys, KF, (long long)kvHead * D);
  loadTile(own[1], v, b * L + t0, keys, KF, (long long)kvHead * D);
  llamaCpAsyncCommit();

  // The query tiles that see a key of the block: query s sees key t when
  // s >= t - position, so tiles before firstTile see none. Item i is head
  // kvHead * G + i / perHead, query tile firstTile + i % perHead.
  const long long firstQuery = t0 - position > 0 ? t0 - position : 0;
  const int firstTile = (int)(firstQuery / BR);
  const int queryTiles = (int)((S + BR - 1) / BR);
  const int perHead = queryTiles > firstTile ? queryTiles - firstTile : 0;
  const int items = G * perHead;
  auto loadQueries = [&](int item, int stage) {
    const int h = kvHead * G + item / perHead;
    const long long s0 = (long long)(firstTile + item % perHead) * BR;
    const long long rows = S - s0 < BR ? S - s0 : BR;
    loadTile(qt[stage], q, b * S + s0, rows, QF, (long long)h * D);
    loadTile(ot[stage], dout, b * S + s0, rows, QF, (long long)h * D);
    llamaCpAsyncCommit();
    for (int i = tid; i < BR; i += THREADS) {
      const bool ok = i < rows;
      const float *st = ok ? statsOf(h, s0 + i) : nullptr;
      lseS[stage][i] = ok ? st[0] : LLAMA_INF;
      pdpS[stage][i] = ok ? st[1] : 0.0f;
    }
  };

  // This thread's key rows are kr + 8 r; the warp's are w0 + [0, 16).
  const long long w0 = t0 + warp * 16, kr = w0 + g;
  float dkAcc[NO][4] = {}, dvAcc[NO][4] = {};
  if (items > 0)
    loadQueries(0, 0);
  for (int item = 0; item < items; ++item) {
    const int stage = item & 1;
    const long long s0 = (long long)(firstTile + item % perHead) * BR;
    llamaCpAsyncWait<0>();
    // The item's tiles and statistics are in place for every thread, and
    // every warp is done with the previous item's stage.
    __syncthreads();
    if (item + 1 < items)
      loadQueries(item + 1, stage ^ 1);
    // Two halves of 32 queries: n-tile j holds queries s0 + q0 + 8 j +
    // [0, 8); element e of it is key kr + 8 (e / 2), query
    // s0 + q0 + 8 j + 2 t4 + e % 2.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int q0 = 32 * half;
      // Skip a half past S, or whose every query comes before the warp's
      // first key is visible.
      if (s0 + q0 >= S || w0 >= L || w0 > position + s0 + q0 + 31)
        continue;
      const bool masked = w0 + 15 > position + s0 + q0 ||
                          s0 + q0 + 31 >= S || w0 + 15 >= L;
      float sc[4][4] = {}, dp[4][4] = {};
      {
        unsigned ka[NK][4];
        llamaLoadFragmentsA(ka, own[0], warp * 16, lane);
        llamaMmaRows(sc, ka, qt[stage], q0, lane);
      }
      {
        unsigned va[NK][4];
        llamaLoadFragmentsA(va, own[1], warp * 16, lane);
        llamaMmaRows(dp, va, ot[stage], q0, lane);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int c = q0 + 8 * j + 2 * t4 + e % 2;
          const long long key = kr + 8 * (e / 2), s = s0 + c;
          const bool hidden =
              masked && (s >= S || key >= L || key > position + s);
          const float p =
              hidden ? 0.0f : exp2f(sc[j][e] * scale2 - lseS[stage][c]);
          sc[j][e] = p;
          dp[j][e] = p * (dp[j][e] - pdpS[stage][c]) * scale;
        }
      // dV += P^T dO and dK += dS^T Q: queries q0 + 16 kk + [0, 16).
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {
        llamaMmaPackedRows(dvAcc, sc[2 * kk], sc[2 * kk + 1], ot[stage],
                           q0 + 16 * kk, lane);
        llamaMmaPackedRows(dkAcc, dp[2 * kk], dp[2 * kk + 1], qt[stage],
                           q0 + 16 * kk, lane);
      }
    }
  }
  storeRows(dkAcc, dk, b * L + w0, b * L + L, KF, (long long)kvHead * D);
  storeRows(dvAcc, dv, b * L + w0, b * L + L, KF, (long long)kvHead * D);
)BODY";
}

} // namespace

void emitTensorCoreAttentionGrad(raw_ostream &os, const AttentionGradPlan &plan,
                                 AttentionGradPhase phase, StringRef symbol) {
  // The sm_90a variants have the forward attention's block, which the
  // prelude's macros name (384 threads with wgmma; else the 128 threads
  // here). One block an SM: ptxas then knows the register count at entry
  // (65536 / 384 = 168), which setmaxnreg needs, or it ignores it.
  const bool wgmma = plan.wgmma();
  if (wgmma)
    emitSignature(os, plan.op, symbol, "LLAMA_TENSOR_CORE_ATTENTION_THREADS",
                  "1");
  else
    emitSignature(os, plan.op, symbol, kThreads);
  emitAttentionGradCommon(os, plan);
  if (wgmma) {
    os << "#ifdef LLAMA_WGMMA\n";
    emitWgmmaAttentionGradBody(os, phase);
    os << "#else\n";
  }
  emitPreamble(os);
  switch (phase) {
  case AttentionGradPhase::Stats:
    emitStats(os);
    break;
  case AttentionGradPhase::KeyGrads:
    emitKeyGrads(os);
    break;
  case AttentionGradPhase::QueryGrads:
    emitQueryGrads(os);
    break;
  }
  if (wgmma)
    os << "#endif\n";
  os << "}\n";
}

artifact::LaunchGeometry
tensorCoreAttentionGradGeometry(const AttentionGradPlan &plan,
                                AttentionGradPhase phase) {
  artifact::LaunchGeometry g =
      attentionGradRowGrid(plan, phase, kBlockRows, kThreads);
  g.sharedBytes = sharedBytes(plan, phase);
  return g;
}

} // namespace llamac::codegen::cuda
