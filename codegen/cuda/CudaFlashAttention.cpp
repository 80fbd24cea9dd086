//===- CudaFlashAttention.cpp - Prefill attention on SIMT cores ----------===//
//
// Flash attention on the SIMT cores, for what the tensor-core kernels
// (CudaTensorCoreAttention.cpp, CudaTf32Attention.cpp) do not take: mixed
// element types, and head sizes that are not multiples of 8 (f32) or 16
// (16-bit) or are above 128.
//
// Online softmax, causal, GQA, in one launch: a block owns
// 64 consecutive queries of one head, 4 threads per query, and walks the
// visible key rows in tiles of 32 staged in shared memory as f32. Query
// head h reads KV head h / GROUP; the GROUP heads of a KV head are adjacent
// blocks, so their K/V tiles come from L2.
//
// With caches, a launch before this one wrote the call's rotated keys and
// its values to them (CudaAttentionCacheWrite.cpp), and every row is read
// from the caches. Without, fused_rope_attention rotates the keys it loads.
// Blocks run heaviest (last queries) first, as in the tensor-core kernel.
//
// Thread `part` of a query owns elements (g * 4 + part) * VQ + [0, VQ) of
// the head, so the 4 threads of a query read adjacent 16-byte chunks of a
// shared key row: no bank conflicts, and the 32 queries of a warp's 8
// groups broadcast.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

LogicalResult emitFlashAttention(raw_ostream &os, const AttentionPlan &plan,
                                 StringRef symbol) {
  if (!plan.batchConstant)
    return plan.op->emitOpError() << "needs a static batch on the CUDA target";
  // K and V tiles of BKV rows in f32 within 32 KiB of shared memory. The
  // softmax walks a tile in groups of 8 rows, so BKV is a multiple of 8: a
  // tile of 25 rows (head size 160) had its last group read 7 rows past it.
  if (plan.headDim > 512)
    return plan.op->emitOpError() << "has head dimension " << plan.headDim
                                  << "; the CUDA target supports up to 512";
  int64_t bkv = plan.headDim <= 128 ? 32 : 4096 / plan.headDim / 8 * 8;
  emitSignature(os, plan.op, symbol, 256);
  emitAttentionCommon(os, plan);
  os << "  constexpr int BQ = 64, BKV = " << bkv
     << ", TPQ = 4, VQ = " << (plan.headDim % 16 == 0 ? 4 : 1) << ";\n";
  os << R"BODY(  static_assert(BKV % 8 == 0, "the softmax takes a tile's rows 8 at a time");
  // A head of D = 4 n + 2 elements leaves the last group's parts 2 and 3
  // without an element (RAGGED): they hold zeros and skip every access.
  constexpr int THREADS = 256, NG = (D + TPQ * VQ - 1) / (TPQ * VQ);
  constexpr bool RAGGED = D % (TPQ * VQ) != 0;
  // Key row t < newBase is read as stored (the caches, or the key operand
  // of plain attention), else it is the call's key row t - newBase, rotated
  // at position + t - newBase.
  const long long newBase = ROPE && !CACHE ? 0 : L;
  __shared__ __align__(16) float kt[BKV][D];
  __shared__ __align__(16) float vt[BKV][D];
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / GROUP;
  const int s0 = (gridDim.y - 1 - blockIdx.y) * BQ; // heaviest first
  const int tid = threadIdx.x, qi = tid / TPQ, part = tid % TPQ;
  const int s = s0 + qi;
  const bool active = s < S;
  const TC *ko = CACHE ? (const TC *)kc : (const TC *)k; // the old rows
  const TV *vo = CACHE ? (const TV *)vc : v;
  (void)ko;
  (void)vo;
  auto elem = [&](int g, int c) { return (g * TPQ + part) * VQ + c; };
  auto owns = [&](int g, int c) { return !RAGGED || elem(g, c) < D; };
  // Element d's RoPE partner, and whether d is the pair's first.
  auto partner = [](int d) {
    return ADJACENT ? d ^ 1 : d < D / 2 ? d + D / 2 : d - D / 2;
  };
  auto isFirst = [](int d) { return ADJACENT ? d % 2 == 0 : d < D / 2; };
  auto pairOf = [](int d) { return ADJACENT ? d / 2 : d % (D / 2); };
  // x rotated as element d of a head at position p, with partner y.
  auto rotate = [&](float x, float y, int d, int p) {
    if constexpr (!ROPE)
      return x;
    const float2 cs = llamaRopeCosSin(p, pairOf(d), D, THETA);
    return isFirst(d) ? x * cs.x - y * cs.y : y * cs.y + x * cs.x;
  };

  // This thread's slice of its query, rotated.
  float qr[NG][VQ], o[NG][VQ];
  {
    const long long row = ((long long)b * S + (active ? s : 0)) * QF + h * D;
#pragma unroll
    for (int g = 0; g < NG; ++g)
#pragma unroll
      for (int c = 0; c < VQ; ++c) {
        const int d = elem(g, c);
        qr[g][c] = active && owns(g, c)
                       ? rotate(llamaToF(q[row + d]),
                                llamaToF(q[row + partner(d)]), d, position + s)
                       : 0.0f;
        o[g][c] = 0.0f;
      }
  }

  // Causal: query s sees rows t <= position + s, within the L rows.
  const int sEnd = s0 + BQ < S ? s0 + BQ : (int)S;
  long long tileLast = (long long)position + sEnd - 1;
  tileLast = tileLast < L - 1 ? tileLast : L - 1;
  long long myLast = (long long)position + s;
  myLast = !active ? -1 : myLast < L - 1 ? myLast : L - 1;
  float m = -LLAMA_INF, l = 0.0f;
  for (long long t0 = 0; t0 <= tileLast; t0 += BKV) {
    __syncthreads(); // the previous tile is consumed
    for (int i = tid; i < BKV * D; i += THREADS) {
      const int r = i / D, d = i % D;
      const long long t = t0 + r;
      float kv = 0.0f, vv = 0.0f;
      if (t <= tileLast) {
        if (t < newBase) {
          const long long row = ((long long)b * L + t) * KVF + kvHead * D;
          kv = llamaToF(ko[row + d]);
          vv = llamaToF(vo[row + d]);
        } else {
          const long long j = t - newBase;
          const long long row = ((long long)b * S + j) * KVF + kvHead * D;
          kv = rotate(llamaToF(k[row + d]), llamaToF(k[row + partner(d)]), d,
                      (int)(position + j));
          vv = llamaToF(v[row + d]);
        }
      }
      kt[r][d] = kv;
      vt[r][d] = vv;
    }
    __syncthreads();

    // Rows in groups of 8, each one online-softmax step: the unrolled body
    // stays small (NVRTC time) at the cost of a rescale per 8 rows.
#pragma unroll 1
    for (int rb = 0; rb < BKV; rb += 8) {
      float sc[8];
      float mt = m;
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        float dot = 0.0f;
#pragma unroll
        for (int g = 0; g < NG; ++g)
#pragma unroll
          for (int c = 0; c < VQ; ++c)
            if (owns(g, c))
              dot += qr[g][c] * kt[rb + r][elem(g, c)];
        dot = llamaWarpSum<TPQ>(dot);
        sc[r] = t0 + rb + r <= myLast ? scoreOf(dot) : -LLAMA_INF;
        mt = fmaxf(mt, sc[r]);
      }
      if (mt == -LLAMA_INF) // the same for the TPQ threads of a query
        continue;
      const float correction = expf(m - mt);
      l *= correction;
#pragma unroll
      for (int g = 0; g < NG; ++g)
#pragma unroll
        for (int c = 0; c < VQ; ++c)
          o[g][c] *= correction;
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        const float p = expf(sc[r] - mt);
        l += p;
#pragma unroll
        for (int g = 0; g < NG; ++g)
#pragma unroll
          for (int c = 0; c < VQ; ++c)
            if (owns(g, c))
              o[g][c] += p * vt[rb + r][elem(g, c)];
      }
      m = mt;
    }
  }

  if (active) {
    const long long row = ((long long)b * S + s) * QF + h * D;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int g = 0; g < NG; ++g)
#pragma unroll
      for (int c = 0; c < VQ; ++c)
        if (owns(g, c))
          out[row + elem(g, c)] = llamaFromF<TO>(o[g][c] * inv);
  }
}
)BODY";
  return success();
}

} // namespace llamac::codegen::cuda
