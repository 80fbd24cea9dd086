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
//      query tile (64 rows, or 32 at head size 128, whose 64-row tiles
//      would take 103 KiB where sm_86 and sm_89 give a block 99) of the
//      group's heads that sees them, computing the
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

/// Phase 2's dynamic shared memory with query tiles of `queryRows`: its
/// own keys and values, two stages of query and output-gradient tiles, and
/// two stages of their statistics. Rows are padded by 16 bytes so that
/// ldmatrix's 8 row addresses hit distinct banks.
constexpr unsigned keyGradsSharedBytes(int64_t headDim, int queryRows) {
  return (2 * kBlockRows + 4 * queryRows) * (headDim + 8) * 2 +
         2 * 2 * queryRows * 4;
}

/// Phase 2's query tiles: 64 rows where that fits the 99 KiB that sm_86
/// and sm_89 give a block, else 32 (head size 128: 103 KiB with 64).
constexpr int keyGradsQueryRows(int64_t headDim) {
  return keyGradsSharedBytes(headDim, 64) <= 99 * 1024 ? 64 : 32;
}
static_assert(keyGradsQueryRows(112) == 64 && keyGradsQueryRows(128) == 32 &&
                  keyGradsSharedBytes(128, 32) <= 99 * 1024,
              "every sm_80+ GPU gives a block phase 2's tiles");

/// Dynamic shared memory: phases 1 and 3 take two stages of two 64-row
/// tiles.
unsigned sharedBytes(const AttentionGradPlan &plan, AttentionGradPhase phase) {
  if (phase == AttentionGradPhase::KeyGrads)
    return keyGradsSharedBytes(plan.headDim, keyGradsQueryRows(plan.headDim));
  return 4 * kBlockRows * (plan.headDim + 8) * 2;
}

/// What every phase shares: constants, the tile loader, the fragment
/// products and the statistics' place.
void emitPreamble(raw_ostream &os) {
  os << R"BODY(  typedef T ST;
  constexpr int BR = 64, THREADS = 128, DP = D + 8, NK = D / 16, NO = D / 8;
  constexpr int KT = BR, NS = KT / 8; // phases 1 and 3: key tiles of BR
  constexpr float scale2 = scale * 1.4426950408889634f;
  typedef ST Tile[BR][DP];
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  Tile *tiles = reinterpret_cast<Tile *>(sharedRaw);
)BODY";
  emitAttentionGradTileHelpers(os);
}

/// Phases 1 and 3: the block's queries and output gradients as A
/// fragments, and what emitQueryPhase needs of this kernel.
void emitQueryBlock(raw_ostream &os) {
  os << R"BODY(  const int h = blockIdx.x, kvHead = h / G;
  const long long s0 = (long long)blockIdx.y * BR;
  if (s0 >= S)
    return;
  Tile *kt = tiles, *vt = tiles + 2;
  // The queries and output gradients, staged through the first stage.
  const long long queries = S - s0 < BR ? S - s0 : BR;
  loadRows(kt[0], BR, q, b * S + s0, queries, QF, (long long)h * D);
  loadRows(vt[0], BR, dout, b * S + s0, queries, QF, (long long)h * D);
  llamaCpAsyncCommit();
  llamaCpAsyncWait<0>();
  __syncthreads();
  unsigned qa[NK][4], oa[NK][4];
  llamaLoadFragmentsA(qa, kt[0], warp * 16, lane);
  llamaLoadFragmentsA(oa, vt[0], warp * 16, lane);
  __syncthreads(); // every warp holds its fragments: the stage is free
  auto loadKeys = [&](int stage, long long t0, long long valid) {
    loadRows(kt[stage], BR, k, b * L + t0, valid, KF,
             (long long)kvHead * D);
    loadRows(vt[stage], BR, v, b * L + t0, valid, KF,
             (long long)kvHead * D);
    llamaCpAsyncCommit();
  };
  auto products = [&](float(&sc)[NS][4], float(&dp)[NS][4], int stage) {
    llamaMmaRows(sc, qa, kt[stage], 0, lane);
    llamaMmaRows(dp, oa, vt[stage], 0, lane);
  };
  auto addKeyProducts = [&](float(&acc)[NO][4], const float(&ds)[NS][4],
                            int stage) {
#pragma unroll
    for (int kk = 0; kk < NS / 2; ++kk)
      llamaMmaPackedRows(acc, ds[2 * kk], ds[2 * kk + 1], kt[stage], 16 * kk,
                         lane);
  };
)BODY";
}

void emitKeyGrads(raw_ostream &os, const AttentionGradPlan &plan) {
  os << "  constexpr int QR = " << keyGradsQueryRows(plan.headDim) << ";\n";
  os << R"BODY(  const int kvHead = blockIdx.x;
  const long long t0 = (long long)blockIdx.y * BR;
  if (t0 >= L)
    return;
  // Own keys and values, then two stages of QR-row query and
  // output-gradient tiles, and of their statistics.
  typedef ST QueryTile[QR][DP];
  Tile *own = tiles;
  QueryTile *qt = reinterpret_cast<QueryTile *>(tiles + 2), *ot = qt + 2;
  float(*lseS)[QR] = reinterpret_cast<float(*)[QR]>(ot + 2);
  float(*pdpS)[QR] = lseS + 2;
  const long long keys = L - t0 < BR ? L - t0 : BR;
  loadRows(own[0], BR, k, b * L + t0, keys, KF, (long long)kvHead * D);
  loadRows(own[1], BR, v, b * L + t0, keys, KF, (long long)kvHead * D);
  llamaCpAsyncCommit();

)BODY";
  emitQueryTileItems(os, "QR");
  os << R"BODY(  auto loadQueries = [&](int item, int stage) {
    const int h = kvHead * G + item / perHead;
    const long long s0 = (long long)(firstTile + item % perHead) * QR;
    const long long rows = S - s0 < QR ? S - s0 : QR;
    loadRows(qt[stage], QR, q, b * S + s0, rows, QF, (long long)h * D);
    loadRows(ot[stage], QR, dout, b * S + s0, rows, QF, (long long)h * D);
    llamaCpAsyncCommit();
    for (int i = tid; i < QR; i += THREADS) {
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
    const long long s0 = (long long)(firstTile + item % perHead) * QR;
    llamaCpAsyncWait<0>();
    // The item's tiles and statistics are in place for every thread, and
    // every warp is done with the previous item's stage.
    __syncthreads();
    if (item + 1 < items)
      loadQueries(item + 1, stage ^ 1);
    // Parts of 32 queries: n-tile j holds queries s0 + q0 + 8 j + [0, 8);
    // element e of it is key kr + 8 (e / 2), query s0 + q0 + 8 j +
    // 2 t4 + e % 2.
#pragma unroll
    for (int part = 0; part < QR / 32; ++part) {
      const int q0 = 32 * part;
      // Skip a part past S, or whose every query comes before the warp's
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

void emitAttentionGradTileHelpers(raw_ostream &os) {
  os << R"BODY(  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
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
  // Rows row0 + [0, rows) of a tensor with `stride` elements a row,
  // columns col + [0, D), into `tile` by cp.async of 16 bytes; rows from
  // `valid` on are zeros.
  auto loadRows = [&](ST(*tile)[DP], int rows, const ST *base,
                      long long row0, long long valid, long long stride,
                      long long col) {
    constexpr int CH = 16 / sizeof(ST);
    for (int i = tid; i < rows * (D / CH); i += THREADS) {
      const int r = i / (D / CH), c = i % (D / CH);
      const bool ok = r < valid;
      llamaCpAsync16(llamaSmemAddress(&tile[r][CH * c]),
                     ok ? (const void *)(base + (row0 + r) * stride + col +
                                         CH * c)
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

void emitQueryTileItems(raw_ostream &os, StringRef rows) {
  os << "  // The query tiles of " << rows
     << " rows that see a key of the block: query s sees key t\n"
        "  // when s >= t - position, so tiles before firstTile see none. "
        "Item i is\n"
        "  // head kvHead * G + i / perHead, query tile firstTile + i % "
        "perHead.\n"
        "  const long long firstQuery = t0 - position > 0 ? t0 - position : "
        "0;\n"
     << "  const int firstTile = (int)(firstQuery / " << rows << ");\n"
     << "  const int queryTiles = (int)((S + " << rows << " - 1) / " << rows
     << ");\n"
     << "  const int perHead = queryTiles > firstTile ? queryTiles - firstTile "
        ": 0;\n"
     << "  const int items = G * perHead;\n";
}

void emitQueryPhase(raw_ostream &os, AttentionGradPhase phase) {
  const bool stats = phase == AttentionGradPhase::Stats;
  os << R"BODY(  // This thread holds query rows w0 + g and w0 + 8 + g.
  const long long w0 = s0 + warp * 16;
  const long long rowLast[2] = {lastVisible(w0 + g), lastVisible(w0 + 8 + g)};
  const long long rowsVisible =
      rowLast[0] < rowLast[1] ? rowLast[0] : rowLast[1];
  const long long warpLast =
      w0 >= S ? -1 : lastVisible(w0 + 15 < S ? w0 + 15 : S - 1);
  const long long tileLast = lastVisible(s0 + queries - 1);
  const int keyTiles = tileLast < 0 ? 0 : (int)(tileLast / KT) + 1;
)BODY";
  if (stats)
    os << R"BODY(  float m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
  float t[2] = {0.0f, 0.0f};
)BODY";
  else
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
  os << R"BODY(  if (keyTiles > 0)
    loadKeys(0, 0, tileLast + 1);
  for (int n = 0; n < keyTiles; ++n) {
    const int stage = n & 1;
    const long long t0 = (long long)n * KT;
    llamaCpAsyncWait<0>();
    // Tile n has landed for every thread, and every warp is done with tile
    // n - 1, whose stage takes tile n + 1.
    __syncthreads();
    if (n + 1 < keyTiles)
      loadKeys(stage ^ 1, t0 + KT, tileLast + 1 - t0 - KT);
    if (t0 > warpLast)
      continue;
    // n-tile j holds keys t0 + 8 j + [0, 8); element e of it is row e / 2,
    // key t0 + 8 j + 2 t4 + e % 2.
    float sc[NS][4] = {}, dp[NS][4] = {};
    products(sc, dp, stage);
    const bool masked = t0 + KT - 1 > rowsVisible;
)BODY";
  if (stats)
    os << R"BODY(    llamaAttentionStatsTile(sc, dp, scale2, masked, t0, t4, rowLast, m, l, t);
  }
  llamaCpAsyncWait<0>();
  float *const st[2] = {w0 + g < S ? statsOf(h, w0 + g) : nullptr,
                        w0 + 8 + g < S ? statsOf(h, w0 + 8 + g) : nullptr};
  llamaStoreAttentionStats(l, t, m, st, t4);
)BODY";
  else
    os << R"BODY(#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool hidden =
            masked && t0 + 8 * j + 2 * t4 + e % 2 > rowLast[e / 2];
        const float p =
            hidden ? 0.0f : exp2f(sc[j][e] * scale2 - lse[e / 2]);
        sc[j][e] = p * (dp[j][e] - pdp[e / 2]) * scale;
      }
    // dQ += dS K over the tile's keys.
    addKeyProducts(acc, sc, stage);
  }
  llamaCpAsyncWait<0>();
  storeRows(acc, dq, b * S + w0, b * S + S, QF, (long long)h * D);
)BODY";
}

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
  if (phase == AttentionGradPhase::KeyGrads) {
    emitKeyGrads(os, plan);
  } else {
    emitQueryBlock(os);
    emitQueryPhase(os, phase);
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
