//===- CudaTf32AttentionGrad.cpp - f32 attention backward in 3xTF32 -------===//
//
// The backward of causal GQA attention for f32 data (head size 8 to 128 in
// steps of 8) on the tensor cores. The phases are the 16-bit kernels'
// (CudaTensorCoreAttentionGrad.cpp): probabilities recomputed tile by tile,
// statistics in base 2 kept in the first 8 bytes of each query head's dQ
// slice, and every output summed by one thread in a fixed order (no
// atomics: every step gives the same bits). The products are
// mma.sync.m16n8k8 in tf32 with each f32 operand split into two tf32
// values, three products a block (3xTF32, as the f32 GEMMs: about 22 bits
// of each operand, so the gradients stay at f32's accuracy).
//
//   1. stats: a block owns 64 queries of a head (16 a warp) and walks the
//      visible keys in tiles of 16: S = Q K^T and dP = dO V^T, and online
//      the log-sum-exp and pdp = sum_j p_j dp_j.
//   2. dkv: a block owns 64 keys of a KV head and walks the query tiles of
//      its group's heads that see them: S^T = K Q^T and dP^T = V dO^T,
//      whose accumulators P^T and dS^T are the A operands of dV += P^T dO
//      and dK += dS^T Q as they stand (llamaTf32PackedProducts).
//   3. dq: phase 1's blocks, dS from S and dP, and dQ += dS K.
//
// Why the shapes differ from the 16-bit kernels': an f32 tile is twice the
// bytes, and a split operand twice the registers of a 16-bit fragment.
// The block's own rows (queries and output gradients, or keys and values)
// stay in shared memory and are split at each use rather than held as
// fragments, and the walked tiles are 16 rows: 64 own rows and two stages
// of two walked tiles take 99 KiB at head size 128, all that sm_86 and
// sm_89 give a block, and an H100 runs two blocks an SM.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionGradPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {
namespace {

/// Rows a block owns (16 a warp), rows of a walked tile, and threads.
constexpr int kBlockRows = 64;
constexpr int kTileRows = 16;
constexpr int kThreads = 128;

/// f32 rows of D + 4 floats (llamaTf32RowProducts: conflict-free fragment
/// loads): the block's two own tiles and two stages of two walked ones.
constexpr unsigned sharedBytes(int64_t headDim) {
  return (2 * kBlockRows + 4 * kTileRows) * (headDim + 4) * 4;
}
static_assert(sharedBytes(128) <= 99 * 1024,
              "every sm_80+ GPU gives a block the tiles at head size 128");

void emitPreamble(raw_ostream &os) {
  os << "  typedef T ST;\n"
     << "  constexpr int BR = " << kBlockRows << ", KT = " << kTileRows
     << ", THREADS = " << kThreads
     << ", DP = D + 4, NO = D / 8, NS = KT / 8;\n";
  os << R"BODY(  constexpr float scale2 = scale * 1.4426950408889634f;
  typedef float Row[DP];
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  // The block's own two tiles of BR rows, then the walked tiles: stage s
  // holds keys and values (or queries and output gradients) at
  // walked + KT (2 s) and walked + KT (2 s + 1).
  Row *const own = reinterpret_cast<Row *>(sharedRaw);
  Row *const walked = own + 2 * BR;
  auto firstOf = [&](int stage) { return walked + KT * (2 * stage); };
  auto secondOf = [&](int stage) { return walked + KT * (2 * stage + 1); };
)BODY";
  emitAttentionGradTileHelpers(os);
}

/// Phases 1 and 3: the block's queries and output gradients in shared
/// memory, and what emitQueryPhase needs of this kernel.
void emitQueryBlock(raw_ostream &os) {
  os << R"BODY(  const int h = blockIdx.x, kvHead = h / G;
  const long long s0 = (long long)blockIdx.y * BR;
  if (s0 >= S)
    return;
  Row *const qs = own, *const dos = own + BR;
  const long long queries = S - s0 < BR ? S - s0 : BR;
  loadRows(qs, BR, q, b * S + s0, queries, QF, (long long)h * D);
  loadRows(dos, BR, dout, b * S + s0, queries, QF, (long long)h * D);
  llamaCpAsyncCommit();
  auto loadKeys = [&](int stage, long long t0, long long valid) {
    loadRows(firstOf(stage), KT, k, b * L + t0, valid, KF,
             (long long)kvHead * D);
    loadRows(secondOf(stage), KT, v, b * L + t0, valid, KF,
             (long long)kvHead * D);
    llamaCpAsyncCommit();
  };
  auto products = [&](float(&sc)[NS][4], float(&dp)[NS][4], int stage) {
    llamaTf32RowProducts<NS, D>(sc, qs, warp * 16, firstOf(stage), 0, lane);
    llamaTf32RowProducts<NS, D>(dp, dos, warp * 16, secondOf(stage), 0, lane);
  };
  auto addKeyProducts = [&](float(&acc)[NO][4], const float(&ds)[NS][4],
                            int stage) {
    llamaTf32PackedProducts(acc, ds, firstOf(stage), 0, lane);
  };
)BODY";
}

void emitKeyGrads(raw_ostream &os) {
  os << R"BODY(  const int kvHead = blockIdx.x;
  const long long t0 = (long long)blockIdx.y * BR;
  if (t0 >= L)
    return;
  Row *const ks = own, *const vs = own + BR;
  const long long keys = L - t0 < BR ? L - t0 : BR;
  loadRows(ks, BR, k, b * L + t0, keys, KF, (long long)kvHead * D);
  loadRows(vs, BR, v, b * L + t0, keys, KF, (long long)kvHead * D);
  llamaCpAsyncCommit();

)BODY";
  emitQueryTileItems(os, "KT");
  os << R"BODY(  auto loadQueries = [&](int item, int stage) {
    const int h = kvHead * G + item / perHead;
    const long long s0 = (long long)(firstTile + item % perHead) * KT;
    const long long rows = S - s0 < KT ? S - s0 : KT;
    loadRows(firstOf(stage), KT, q, b * S + s0, rows, QF, (long long)h * D);
    loadRows(secondOf(stage), KT, dout, b * S + s0, rows, QF,
             (long long)h * D);
    llamaCpAsyncCommit();
  };

  // This thread's key rows are kr and kr + 8; the warp's are w0 + [0, 16).
  const long long w0 = t0 + warp * 16, kr = w0 + g;
  float dkAcc[NO][4] = {}, dvAcc[NO][4] = {};
  if (items > 0)
    loadQueries(0, 0);
  for (int item = 0; item < items; ++item) {
    const int stage = item & 1;
    const int h = kvHead * G + item / perHead;
    const long long s0 = (long long)(firstTile + item % perHead) * KT;
    llamaCpAsyncWait<0>();
    // The item's tiles (and the block's own rows) are in place for every
    // thread, and every warp is done with the previous item's stage.
    __syncthreads();
    if (item + 1 < items)
      loadQueries(item + 1, stage ^ 1);
    // Skip a warp past the keys, or one whose every key comes after the
    // tile's last query.
    if (w0 >= L || w0 > position + s0 + KT - 1)
      continue;
    // n-tile j holds queries s0 + 8 j + [0, 8); element e of it is key
    // kr + 8 (e / 2), query s0 + 8 j + 2 t4 + e % 2. Their statistics load
    // while the products run.
    float lse[NS][2], pdp[NS][2];
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const long long s = s0 + 8 * j + 2 * t4 + c;
        const float *st = s < S ? statsOf(h, s) : nullptr;
        lse[j][c] = st ? st[0] : LLAMA_INF;
        pdp[j][c] = st ? st[1] : 0.0f;
      }
    const bool masked =
        w0 + 15 > position + s0 || s0 + KT - 1 >= S || w0 + 15 >= L;
    float sc[NS][4] = {}, dp[NS][4] = {};
    llamaTf32RowProducts<NS, D>(sc, ks, warp * 16, firstOf(stage), 0, lane);
    llamaTf32RowProducts<NS, D>(dp, vs, warp * 16, secondOf(stage), 0, lane);
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = e % 2;
        const long long key = kr + 8 * (e / 2), s = s0 + 8 * j + 2 * t4 + c;
        const bool hidden =
            masked && (s >= S || key >= L || key > position + s);
        const float p =
            hidden ? 0.0f : exp2f(sc[j][e] * scale2 - lse[j][c]);
        sc[j][e] = p;
        dp[j][e] = p * (dp[j][e] - pdp[j][c]) * scale;
      }
    // dV += P^T dO and dK += dS^T Q over the tile's 16 queries.
    llamaTf32PackedProducts(dvAcc, sc, secondOf(stage), 0, lane);
    llamaTf32PackedProducts(dkAcc, dp, firstOf(stage), 0, lane);
  }
  llamaCpAsyncWait<0>();
  storeRows(dkAcc, dk, b * L + w0, b * L + L, KF, (long long)kvHead * D);
  storeRows(dvAcc, dv, b * L + w0, b * L + L, KF, (long long)kvHead * D);
)BODY";
}

} // namespace

void emitTf32AttentionGrad(raw_ostream &os, const AttentionGradPlan &plan,
                           AttentionGradPhase phase, StringRef symbol) {
  emitSignature(os, plan.op, symbol, kThreads);
  emitAttentionGradCommon(os, plan);
  emitPreamble(os);
  if (phase == AttentionGradPhase::KeyGrads) {
    emitKeyGrads(os);
  } else {
    emitQueryBlock(os);
    emitQueryPhase(os, phase);
  }
  os << "}\n";
}

artifact::LaunchGeometry
tf32AttentionGradGeometry(const AttentionGradPlan &plan,
                          AttentionGradPhase phase) {
  artifact::LaunchGeometry g =
      attentionGradRowGrid(plan, phase, kBlockRows, kThreads);
  g.sharedBytes = sharedBytes(plan.headDim);
  return g;
}

} // namespace llamac::codegen::cuda
