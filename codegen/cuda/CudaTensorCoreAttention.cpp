//===- CudaTensorCoreAttention.cpp - Flash attention on mma.sync ---------===//
//
// Prefill and training attention for 16-bit models (bf16 or f16 queries,
// keys, values and caches; head size a multiple of 16, at most 128): the
// flash-attention-2 schedule on the sm_80 tensor-core instructions. A block
// of 8 warps owns 128 consecutive queries of one head, 16 per warp, and
// walks the visible key rows in tiles of 64, double-buffered in shared
// memory: cp.async brings tile n + 1 while tile n is multiplied. Each warp
// keeps its rotated queries as mma A fragments, computes S = Q K^T with
// mma.m16n8k16 (K's rows are the "col" B operand as stored), takes the
// online softmax on the accumulators (in base 2, so that each probability
// is one FFMA and one ex2), where each thread holds two query rows, and
// feeds P back as A fragments into O += P V, with V's fragments from
// ldmatrix.trans. Scores, softmax and O stay in f32. Only the tiles that
// cross a row's causal limit are masked.
//
// With caches, a launch before this one wrote the call's rotated keys and
// its values to them (CudaAttentionCacheWrite.cpp), so every key row is
// read as stored. Without caches, fused_rope_attention's keys are rotated
// here, in shared memory once they land: a thread rotates the same 4 pairs
// of rows r0, r0 + ROW_STEP, ... in every tile, so it steps from row to row
// and tile to tile by angle addition (a product with a constant rotation):
// a few FMAs per pair instead of a sincosf.
//
// Causal blocks differ in work by up to S / 128 times, so the grid runs
// them heaviest first (the last queries at block y = 0): the light ones
// fill the last wave instead of leaving SMs idle behind a heavy one.
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
  emitSignature(os, plan.op, symbol, kAttentionThreads);
  emitAttentionCommon(os, plan);
  os << "  typedef TQ ST; // the staged and multiplied type\n"
     << "  constexpr int BQ = " << kAttentionQueryRows
     << ", BKV = " << kAttentionKeyRows << ", THREADS = " << kAttentionThreads
     << ";\n";
  // Rows are padded by 16 bytes, so that ldmatrix's 8 row addresses hit
  // distinct banks.
  os << R"BODY(
  constexpr int DP = D + 8, NK = D / 16, NO = D / 8, NS = BKV / 8;
  // A tile is CHUNKS 16-byte chunks; RoPE item i of a tile is 4 pairs of
  // row i / (D / 8) (ADJACENT: one 16-byte run; else 4 elements of each half
  // of the head), so a thread's items keep their pairs, ROW_STEP rows apart.
  constexpr int CHUNKS = BKV * D / 8, ROW_STEP = THREADS / (D / 8);
  static_assert(THREADS % (D / 2) == 0 && BQ == 8 * 16, "8 warps of 16 rows");
  // Key row t < newBase is read as stored (from the caches, or the key
  // operand of plain attention); else it is the call's new key row
  // t - newBase, rotated here.
  constexpr bool ROTATE_KEYS = ROPE && !CACHE;
  const long long newBase = ROTATE_KEYS ? 0 : L;
  // Two stages of key and value tiles; the queries are staged through the
  // two key tiles before the first is loaded.
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  typedef ST Tile[BKV][DP];
  Tile *kt = reinterpret_cast<Tile *>(sharedRaw), *vt = kt + 2;
  ST(*qs)[DP] = reinterpret_cast<ST(*)[DP]>(sharedRaw);
  // RoPE pair pr's frequency, as llamaRopeCosSin computes it, and (only
  // when keys are rotated here) the rotations by ROW_STEP and by BKV
  // positions at that frequency.
  __shared__ float freq[D / 2];
  __shared__ float2 stepRotation[D / 2], tileRotation[D / 2];
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / GROUP;
  const int s0 = (gridDim.y - 1 - blockIdx.y) * BQ; // heaviest first
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;
  const TC *ko = CACHE ? (const TC *)kc : (const TC *)k; // the old rows
  const TV *vo = CACHE ? (const TV *)vc : v;

  // RoPE pair pr is elements (d1, d2).
  auto firstOf = [](int pr) { return ADJACENT ? 2 * pr : pr; };
  auto secondOf = [](int pr) { return ADJACENT ? 2 * pr + 1 : pr + D / 2; };
  for (int i = tid; i < D / 2; i += THREADS) {
    freq[i] = 1.0f / powf(THETA, (float)(2 * i) / (float)D);
    if constexpr (ROTATE_KEYS) {
      float sn, cs;
      sincosf((float)ROW_STEP * freq[i], &sn, &cs);
      stepRotation[i] = make_float2(cs, sn);
      sincosf((float)BKV * freq[i], &sn, &cs);
      tileRotation[i] = make_float2(cs, sn);
    }
  }
  __syncthreads();
  // Rotates (x1, x2) by the angle whose cosine and sine are (cs, sn).
  auto rotate = [](float &x1, float &x2, float cs, float sn) {
    const float r1 = x1 * cs - x2 * sn, r2 = x1 * sn + x2 * cs;
    x1 = r1;
    x2 = r2;
  };
  // Rotates (x1, x2), pair pr, to position p, in the scalar kernel's order.
  auto rotatePair = [&](float &x1, float &x2, int pr, long long p) {
    if constexpr (ROPE) {
      float sn, cs;
      sincosf((float)p * freq[pr], &sn, &cs);
      rotate(x1, x2, cs, sn);
    }
  };

  // The block's queries, rotated, staged through the key tiles into A
  // fragments.
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
    qs[r][d1] = llamaFromF<ST>(x1);
    qs[r][d2] = llamaFromF<ST>(x2);
  }
  __syncthreads();
  unsigned qa[NK][4];
  llamaLoadFragmentsA(qa, qs, warp * 16, lane);

  __syncthreads(); // every warp holds its queries: the key tiles are free

  // Causal: query s sees rows t <= position + s, within the L rows; a
  // query past S sees none.
  auto lastVisible = [&](long long s) {
    const long long last = (long long)position + s;
    return s >= S ? -1LL : last < L - 1 ? last : L - 1;
  };
  const long long tileLast =
      lastVisible((s0 + BQ < S ? s0 + BQ : (long long)S) - 1);
  const int tiles = tileLast < 0 ? 0 : (int)(tileLast / BKV) + 1;
  // This thread holds query rows w0 + g and w0 + 8 + g; tiles past the
  // warp's last visible row skip the arithmetic, and tiles within both
  // rows' limits skip the mask.
  const int w0 = s0 + warp * 16;
  const long long rowLast[2] = {lastVisible(w0 + g), lastVisible(w0 + 8 + g)};
  const long long rowsVisible = rowLast[0] < rowLast[1] ? rowLast[0]
                                                        : rowLast[1];
  const long long warpLast =
      w0 >= S ? -1 : lastVisible(w0 + 15 < S ? w0 + 15 : (long long)S - 1);

  // Tile n to stage `stage`, as stored: 16 bytes a chunk, zeros past the
  // last visible row. Keys and values share the row offset, old or new.
  auto loadTile = [&](int n, int stage) {
    constexpr int PER_THREAD = (CHUNKS + THREADS - 1) / THREADS;
#pragma unroll
    for (int it = 0; it < PER_THREAD; ++it) {
      const int i = tid + it * THREADS, r = i / (D / 8), c = i % (D / 8);
      if (CHUNKS % THREADS != 0 && i >= CHUNKS)
        break;
      const long long t = (long long)n * BKV + r;
      const bool valid = t <= tileLast, old = t < newBase;
      const long long row =
          (old ? ((long long)b * L + t) : ((long long)b * S + (t - newBase))) *
              KVF +
          kvHead * D + 8 * c;
      llamaCpAsync16(llamaSmemAddress(&kt[stage][r][8 * c]),
                     valid ? (const void *)((old ? ko : k) + row)
                           : (const void *)k,
                     valid ? 16 : 0);
      llamaCpAsync16(llamaSmemAddress(&vt[stage][r][8 * c]),
                     valid ? (const void *)((old ? vo : v) + row)
                           : (const void *)v,
                     valid ? 16 : 0);
    }
    llamaCpAsyncCommit();
  };
  // This thread's RoPE items are pairs 4 c + [0, 4) of rows r0, r0 +
  // ROW_STEP, ... of each tile. rowCos and rowSin hold the cosines and
  // sines of those pairs' angles at row r0 of the current tile: one sincosf
  // each for the first tile, then a product with tileRotation per tile,
  // and with stepRotation per row. Products of unit complex numbers in f32
  // drift by about an ulp each, some 1e-5 after thousands of rows: far
  // below the 16-bit keys' rounding.
  const int itemC = tid % (D / 8), itemR0 = tid / (D / 8);
  const int off0 = ADJACENT ? 8 * itemC : 4 * itemC;
  const int off1 = ADJACENT ? 8 * itemC + 4 : 4 * itemC + D / 2;
  float rowCos[4], rowSin[4];
#pragma unroll
  for (int u = 0; u < 4; ++u) {
    rowCos[u] = 1.0f;
    rowSin[u] = 0.0f;
    if (ROTATE_KEYS)
      sincosf((float)(position + itemR0) * freq[4 * itemC + u],
              &rowSin[u], &rowCos[u]);
  }
  // Rotates this thread's new key rows of landed tile n in place.
  auto rotateTile = [&](int n, int stage) {
    const long long t0 = (long long)n * BKV;
    if (itemR0 >= BKV) // head size 16 leaves half the threads no row
      return;
    float cs[4], sn[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      cs[u] = rowCos[u];
      sn[u] = rowSin[u];
    }
#pragma unroll
    for (int j = 0; j < (BKV + ROW_STEP - 1) / ROW_STEP; ++j) {
      const int r = itemR0 + j * ROW_STEP;
      const long long t = t0 + r;
      if (t <= tileLast && t >= newBase) {
        ST e[8];
        memcpy(e, &kt[stage][r][off0], 8);
        memcpy(e + 4, &kt[stage][r][off1], 8);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          ST &e1 = ADJACENT ? e[2 * u] : e[u];
          ST &e2 = ADJACENT ? e[2 * u + 1] : e[u + 4];
          float x1 = llamaToF(e1), x2 = llamaToF(e2);
          rotate(x1, x2, cs[u], sn[u]);
          e1 = llamaFromF<ST>(x1);
          e2 = llamaFromF<ST>(x2);
        }
        memcpy(&kt[stage][r][off0], e, 8);
        memcpy(&kt[stage][r][off1], e + 4, 8);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 step = stepRotation[4 * itemC + u];
        rotate(cs[u], sn[u], step.x, step.y);
      }
    }
  };

  // Scores are kept in base 2: x * log2(e) * scale, so exp(score - max) is
  // exp2(x - max2).
  const float scoreScale = scoreOf(1.0f) * 1.4426950408889634f;
  float o[NO][4], m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
#pragma unroll
  for (int n = 0; n < NO; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      o[n][e] = 0.0f;

  if (tiles > 0)
    loadTile(0, 0);
  for (int n = 0; n < tiles; ++n) {
    const int stage = n & 1;
    const long long t0 = (long long)n * BKV;
    llamaCpAsyncWait<0>();
    // Tile n has landed for every thread, and every warp is done with
    // tile n - 1, whose stage takes tile n + 1.
    __syncthreads();
    if (n + 1 < tiles)
      loadTile(n + 1, stage ^ 1);
    if (ROTATE_KEYS) {
      rotateTile(n, stage);
      __syncthreads();
    }
    if (ROTATE_KEYS) {
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 step = tileRotation[4 * itemC + u];
        rotate(rowCos[u], rowSin[u], step.x, step.y);
      }
    }
    if (t0 > warpLast)
      continue;

    // S = Q K^T: n-tile j holds keys t0 + 8 j + [0, 8).
    float sc[NS][4] = {};
    llamaMmaRows(sc, qa, kt[stage], 0, lane);

    // Online softmax: element e of n-tile j is row e / 2, key
    // t0 + 8 j + 2 t4 + e % 2; a row's 4 threads are adjacent lanes.
    const bool masked = t0 + BKV - 1 > rowsVisible;
    float base[2], correction[2];
    llamaOnlineMax(sc, scoreScale, masked, t0, t4, rowLast, m, base,
                   correction);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] *= correction[r];
#pragma unroll
      for (int n = 0; n < NO; ++n) {
        o[n][2 * r] *= correction[r];
        o[n][2 * r + 1] *= correction[r];
      }
    }
#pragma unroll
    for (int j = 0; j < NS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(sc[j][e] - base[e / 2]);
        l[e / 2] += p;
        sc[j][e] = p;
      }

    // O += P V: the accumulators of n-tiles 2 kk and 2 kk + 1 are the A
    // fragment of keys 16 kk + [0, 16).
#pragma unroll
    for (int kk = 0; kk < BKV / 16; ++kk)
      llamaMmaPackedRows(o, sc[2 * kk], sc[2 * kk + 1], vt[stage], 16 * kk,
                         lane);
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
