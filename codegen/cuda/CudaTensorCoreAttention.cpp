//===- CudaTensorCoreAttention.cpp - Flash attention on mma.sync ---------===//
//
// Prefill and training attention for 16-bit models (bf16 or f16 queries,
// keys, values and caches; head size a multiple of 16, at most 128): the
// flash-attention-2 schedule on the sm_80 tensor-core instructions. A block
// of 4 warps owns 64 consecutive queries of one head, 16 per warp, and walks
// the visible key rows in tiles of 64 staged in shared memory in the 16-bit
// type. Each warp keeps its rotated queries as mma A fragments, computes
// S = Q K^T with mma.m16n8k16 (K's rows are the "col" B operand as stored),
// takes the online softmax on the accumulators, where each thread holds two
// query rows, and feeds P back as A fragments into O += P V, with V's
// fragments from ldmatrix.trans. Scores, softmax and O stay in f32.
//
// Which key rows are old (from the cache or the key operand) and which are
// the call's new ones, rotated here, is the scalar kernel's rule
// (CudaFlashAttention.cpp), as is the cache write by each group's first
// head. RoPE's angles come from a per-block table of the frequencies, so a
// rotated pair costs one sincosf. Key tiles arrive in 8-byte loads that are
// all issued before the rotation, value tiles by cp.async.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

bool AttentionPlan::tensorCores() const {
  if (query != Elem::BF16 && query != Elem::F16)
    return false;
  if (key != query || value != query || (cache && cacheElem != query))
    return false;
  return batchConstant && headDim % 16 == 0 && headDim <= 128;
}

void emitTensorCoreAttention(raw_ostream &os, const AttentionPlan &plan,
                             StringRef symbol) {
  emitSignature(os, plan.op, symbol, 128);
  emitAttentionCommon(os, plan);
  os << "  typedef TQ ST; // the staged and multiplied type\n";
  os << R"BODY(  constexpr int BQ = 64, BKV = 64, THREADS = 128;
  // Rows padded by 16 bytes: ldmatrix's 8 row addresses hit distinct banks.
  constexpr int DP = D + 8, NK = D / 16, NO = D / 8, NS = BKV / 8;
  constexpr int ITEMS = BKV * D / 8 / THREADS;
  const long long newBase = CACHE ? position : ROPE ? 0 : L;
  __shared__ __align__(16) ST kt[BKV][DP];
  __shared__ __align__(16) ST vt[BKV][DP];
  __shared__ float freq[D / 2];
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / GROUP;
  const int s0 = blockIdx.y * BQ;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;
  const TC *ko = CACHE ? (const TC *)kc : (const TC *)k; // the old rows
  const TV *vo = CACHE ? (const TV *)vc : v;

  // RoPE pair pr is elements (d1, d2); its frequency as llamaRopeCosSin
  // computes it.
  auto firstOf = [](int pr) { return ADJACENT ? 2 * pr : pr; };
  auto secondOf = [](int pr) { return ADJACENT ? 2 * pr + 1 : pr + D / 2; };
  for (int i = tid; i < D / 2; i += THREADS)
    freq[i] = 1.0f / powf(THETA, (float)(2 * i) / (float)D);
  __syncthreads();
  // Rotates (x1, x2), pair pr, to position p, in the scalar kernel's order.
  auto rotatePair = [&](float &x1, float &x2, int pr, long long p) {
    if constexpr (ROPE) {
      float sn, cs;
      sincosf((float)p * freq[pr], &sn, &cs);
      const float r1 = x1 * cs - x2 * sn, r2 = x1 * sn + x2 * cs;
      x1 = r1;
      x2 = r2;
    }
  };
  auto pack = [](float lo, float hi) {
    const ST l = llamaFromF<ST>(lo), u = llamaFromF<ST>(hi);
    unsigned short lb, ub;
    memcpy(&lb, &l, 2);
    memcpy(&ub, &u, 2);
    return (unsigned)lb | ((unsigned)ub << 16);
  };

  // The block's queries, rotated, staged through kt into A fragments.
  for (int i = tid; i < BQ * (D / 2); i += THREADS) {
    const int r = i / (D / 2), pr = i % (D / 2);
    const int d1 = firstOf(pr), d2 = secondOf(pr), s = s0 + r;
    float x1 = 0.0f, x2 = 0.0f;
    if (s < S) {
      const long long row = ((long long)b * S + s) * QF + h * D;
      x1 = llamaToF(q[row + d1]);
      x2 = llamaToF(q[row + d2]);
      rotatePair(x1, x2, pr, (long long)position + s);
    }
    kt[r][d1] = llamaFromF<ST>(x1);
    kt[r][d2] = llamaFromF<ST>(x2);
  }
  __syncthreads();
  unsigned qa[NK][4];
#pragma unroll
  for (int kk = 0; kk < NK; ++kk)
    llamaLdmatrixX4(qa[kk], llamaSmemAddress(&kt[warp * 16 + lane % 16]
                                                [kk * 16 + (lane / 16) * 8]));

  // The first head of each group writes its tokens' new rows to the cache.
  if constexpr (CACHE) {
    if (h % GROUP == 0)
      for (int i = tid; i < BQ * (D / 2); i += THREADS) {
        const int r = i / (D / 2), pr = i % (D / 2), t = s0 + r;
        const int d1 = firstOf(pr), d2 = secondOf(pr);
        const long long p = (long long)position + t;
        if (t >= S || p < 0 || p >= L)
          continue;
        const long long src = ((long long)b * S + t) * KVF + kvHead * D;
        const long long dst = ((long long)b * L + p) * KVF + kvHead * D;
        float x1 = llamaToF(k[src + d1]), x2 = llamaToF(k[src + d2]);
        rotatePair(x1, x2, pr, p);
        kc[dst + d1] = llamaFromF<TC>(x1);
        kc[dst + d2] = llamaFromF<TC>(x2);
        vc[dst + d1] = v[src + d1];
        vc[dst + d2] = v[src + d2];
      }
  }

  // Causal: query s sees rows t <= position + s, within the L rows; a
  // query past S sees none.
  auto lastVisible = [&](long long s) {
    const long long last = (long long)position + s;
    return s >= S ? -1LL : last < L - 1 ? last : L - 1;
  };
  const long long tileLast =
      lastVisible((s0 + BQ < S ? s0 + BQ : (long long)S) - 1);
  // This thread holds query rows w0 + g and w0 + 8 + g; tiles past the
  // warp's last visible row skip the arithmetic.
  const int w0 = s0 + warp * 16;
  const long long rowLast[2] = {lastVisible(w0 + g), lastVisible(w0 + 8 + g)};
  const long long warpLast =
      w0 >= S ? -1 : lastVisible(w0 + 15 < S ? w0 + 15 : (long long)S - 1);

  float o[NO][4], m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      o[n][e] = 0.0f;

  for (long long t0 = 0; t0 <= tileLast; t0 += BKV) {
    __syncthreads(); // the previous tile (or the queries) is consumed
    // Item i is 8 elements of key row t0 + i / (D / 8): 4 RoPE pairs, in two
    // 8-byte halves (ADJACENT: one 16-byte run; else 4 elements of each
    // half of the head). All of a thread's loads are issued before any is
    // used, so their latencies overlap.
    struct Item {
      int r, c, off0, off1;
      long long t;
    };
    auto itemOf = [&](int it) {
      Item x;
      const int i = tid + it * THREADS;
      x.r = i / (D / 8);
      x.c = i % (D / 8);
      x.t = t0 + x.r;
      x.off0 = ADJACENT ? 8 * x.c : 4 * x.c;
      x.off1 = ADJACENT ? 8 * x.c + 4 : 4 * x.c + D / 2;
      return x;
    };
    uint2 raw[ITEMS][2];
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
      const Item x = itemOf(it);
      const bool valid = x.t <= tileLast, old = x.t < newBase;
      // Keys and values share the row offset, old or new.
      const long long row =
          (old ? ((long long)b * L + x.t)
               : ((long long)b * S + (x.t - newBase))) * KVF +
          kvHead * D;
      raw[it][0] = raw[it][1] = make_uint2(0u, 0u);
      if (valid) {
        const ST *key = (old ? ko : k) + row;
        raw[it][0] = *(const uint2 *)(key + x.off0);
        raw[it][1] = *(const uint2 *)(key + x.off1);
      }
      // Values are copied as stored: 16 bytes straight to shared memory,
      // zeros past the last row.
      const ST *value = (old ? vo : v) + row + 8 * x.c;
      llamaCpAsync16(llamaSmemAddress(&vt[x.r][8 * x.c]),
                     valid ? (const void *)value : (const void *)v,
                     valid ? 16 : 0);
    }
    llamaCpAsyncCommit();
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
      const Item x = itemOf(it);
      ST e[8];
      memcpy(e, &raw[it][0], 8);
      memcpy(e + 4, &raw[it][1], 8);
      if (ROPE && x.t <= tileLast && x.t >= newBase) {
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          ST &e1 = ADJACENT ? e[2 * u] : e[u];
          ST &e2 = ADJACENT ? e[2 * u + 1] : e[u + 4];
          float x1 = llamaToF(e1), x2 = llamaToF(e2);
          rotatePair(x1, x2, 4 * x.c + u,
                     (long long)position + (x.t - newBase));
          e1 = llamaFromF<ST>(x1);
          e2 = llamaFromF<ST>(x2);
        }
      }
      memcpy(&kt[x.r][x.off0], e, 8);
      memcpy(&kt[x.r][x.off1], e + 4, 8);
    }
    llamaCpAsyncWait<0>();
    __syncthreads();
    if (t0 > warpLast)
      continue;

    // S = Q K^T: n-tile j holds keys t0 + 8 j + [0, 8).
    float sc[NS][4];
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        sc[j][e] = 0.0f;
#pragma unroll
    for (int jj = 0; jj < NS / 2; ++jj)
#pragma unroll
      for (int kk = 0; kk < NK; ++kk) {
        // Matrices (keys 16 jj + 0-7, k lo), (same keys, k hi), then keys
        // 16 jj + 8-15: the B fragments of n-tiles 2 jj and 2 jj + 1.
        unsigned kb[4];
        llamaLdmatrixX4(kb, llamaSmemAddress(
                                &kt[jj * 16 + (lane / 16) * 8 + lane % 8]
                                   [kk * 16 + ((lane / 8) % 2) * 8]));
        const unsigned b0[2] = {kb[0], kb[1]}, b1[2] = {kb[2], kb[3]};
        llamaMma16816<ST>(sc[2 * jj], qa[kk], b0);
        llamaMma16816<ST>(sc[2 * jj + 1], qa[kk], b1);
      }

    // Online softmax: element e of n-tile j is row e / 2, key
    // t0 + 8 j + 2 t4 + e % 2; a row's 4 threads are adjacent lanes.
    float mt[2] = {m[0], m[1]};
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const long long t = t0 + 8 * j + 2 * t4 + e % 2;
        sc[j][e] = t <= rowLast[e / 2] ? scoreOf(sc[j][e]) : -LLAMA_INF;
        mt[e / 2] = fmaxf(mt[e / 2], sc[j][e]);
      }
    float correction[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffffu, mt[r], 1));
      mt[r] = fmaxf(mt[r], __shfl_xor_sync(0xffffffffu, mt[r], 2));
      correction[r] = mt[r] == -LLAMA_INF ? 1.0f : expf(m[r] - mt[r]);
      m[r] = mt[r];
      l[r] *= correction[r];
    }
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        o[n][e] *= correction[e / 2];
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p =
            m[e / 2] == -LLAMA_INF ? 0.0f : expf(sc[j][e] - m[e / 2]);
        l[e / 2] += p;
        sc[j][e] = p;
      }

    // O += P V: the accumulators of n-tiles 2 kk and 2 kk + 1 are the A
    // fragment of keys 16 kk + [0, 16).
#pragma unroll
    for (int kk = 0; kk < BKV / 16; ++kk) {
      const unsigned pa[4] = {pack(sc[2 * kk][0], sc[2 * kk][1]),
                              pack(sc[2 * kk][2], sc[2 * kk][3]),
                              pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                              pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int nn = 0; nn < NO / 2; ++nn) {
        // Matrices (keys lo, d 16 nn + 0-7), (keys hi, same d), then
        // d + 8, each transposed: the B fragments of n-tiles 2 nn, 2 nn + 1.
        unsigned vb[4];
        llamaLdmatrixX4Trans(vb, llamaSmemAddress(
                                     &vt[kk * 16 + ((lane / 8) % 2) * 8 +
                                         lane % 8][nn * 16 + (lane / 16) * 8]));
        const unsigned b0[2] = {vb[0], vb[1]}, b1[2] = {vb[2], vb[3]};
        llamaMma16816<ST>(o[2 * nn], pa, b0);
        llamaMma16816<ST>(o[2 * nn + 1], pa, b1);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int s = s0 + warp * 16 + g + 8 * r;
    if (s >= S)
      continue;
    const long long row = ((long long)b * S + s) * QF + h * D;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        out[row + 8 * n + 2 * t4 + e] =
            llamaFromF<TO>(o[n][2 * r + e] * inv);
  }
}
)BODY";
}

} // namespace llamac::codegen::cuda
