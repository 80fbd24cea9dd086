//===- CudaFlashDecoding.cpp - Decode attention, split over the sequence --===//
//
// One new token per batch row reads the whole KV cache: memory bound, and
// with few KV heads (8 for Llama-2-70B) one block per head would leave most
// SMs idle. So the cached rows are split across SPLITS blocks per (batch,
// KV head); each block serves the head's whole GQA group, so every K/V row
// is read once for its GROUP query heads. A row is spread over LANES lanes
// with 16-byte loads; a warp covers 32 / LANES rows per step, each lane
// keeping an online softmax per query head. Warps merge by shuffles and in
// shared memory; blocks write (max, sum, output) partials to a global
// scratch and the last block to finish (an atomic counter per (batch, KV
// head), reset for the next launch) merges them: one launch per op.
//
// RoPE and the cache write are fused: every block rotates the group's
// queries; the block whose split holds the new row rotates the new key and
// writes it and the value into the caches before reading its rows.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

void emitFlashDecoding(raw_ostream &os, const AttentionPlan &plan,
                       StringRef symbol) {
  DecodeShape shape = decodeShape(plan);
  int64_t groups = *plan.batchConstant * plan.kvHeads;
  int64_t group = plan.heads / plan.kvHeads;
  // The split partials and the arrival counters of this kernel. Launches
  // of one kernel run in stream order, so they can share them.
  os << "\n__device__ float " << symbol << "_partials["
     << groups * shape.splits * group * (plan.headDim + 2) << "];\n"
     << "__device__ unsigned " << symbol << "_arrivals[" << groups
     << "] = {0};\n";
  emitSignature(os, plan.op, symbol, 128);
  emitAttentionCommon(os, plan);
  os << "  constexpr int CAP = " << *plan.keyRowsConstant
     << ", SPLITS = " << shape.splits << ", LANES = " << shape.lanes
     << ", EPL = " << shape.elemsPerLane << ";\n"
     << "  float *partials = " << symbol << "_partials;\n"
     << "  unsigned *arrivals = " << symbol << "_arrivals;\n";
  os << R"BODY(  constexpr int THREADS = 128, WARPS = 4, SUBS = 32 / LANES;
  (void)S;
  (void)L;
  __shared__ __align__(16) float qs[GROUP][D];
  __shared__ float part[WARPS][GROUP][D + 2]; // output, then max and sum
  __shared__ bool isLast;
  const int split = blockIdx.x, kvHead = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  // Visible rows: the cache up to the new token, within the capacity.
  const int last = position < CAP - 1 ? position : CAP - 1;
  const int rows = last + 1;
  int perSplit = (rows + SPLITS - 1) / SPLITS;
  perSplit = perSplit < WARPS * SUBS ? WARPS * SUBS : perSplit;
  const int t0 = split * perSplit;
  const int t1 = t0 + perSplit < rows ? t0 + perSplit : rows;
  const bool owner = position >= 0 && position < CAP && t0 <= position &&
                     position < t1;

  // RoPE: pair (a, c) of a head rotates by position * theta^(-2i/D).
  for (int i = tid; i < GROUP * (D / 2); i += THREADS) {
    const int j = i / (D / 2), pair = i % (D / 2);
    const int a = ADJACENT ? 2 * pair : pair;
    const int c = ADJACENT ? 2 * pair + 1 : pair + D / 2;
    const float2 cossin = llamaRopeCosSin(position, pair, D, THETA);
    const float cs = cossin.x, sn = cossin.y;
    const TQ *src = q + (long long)b * QF + (kvHead * GROUP + j) * D;
    const float v0 = llamaToF(src[a]), v1 = llamaToF(src[c]);
    qs[j][a] = v0 * cs - v1 * sn;
    qs[j][c] = v0 * sn + v1 * cs;
  }
  if (owner) {
    const long long row = ((long long)b * CAP + position) * KVF + kvHead * D;
    const long long src = (long long)b * KVF + kvHead * D;
    for (int pair = tid; pair < D / 2; pair += THREADS) {
      const int a = ADJACENT ? 2 * pair : pair;
      const int c = ADJACENT ? 2 * pair + 1 : pair + D / 2;
      const float2 cossin = llamaRopeCosSin(position, pair, D, THETA);
      const float cs = cossin.x, sn = cossin.y;
      const float v0 = llamaToF(k[src + a]), v1 = llamaToF(k[src + c]);
      kc[row + a] = llamaFromF<TC>(v0 * cs - v1 * sn);
      kc[row + c] = llamaFromF<TC>(v0 * sn + v1 * cs);
    }
    for (int i = tid; i < D; i += THREADS)
      vc[row + i] = llamaFromF<TC>(llamaToF(v[src + i]));
  }
  __syncthreads(); // rotated queries and the new row are visible

  // Lane (sub, li) reads elements [li * EPL, (li + 1) * EPL) of row sub of
  // each step; queries kvHead * GROUP + j share the row.
  const int sub = lane / LANES, li = lane % LANES;
  float qr[GROUP][EPL], o[GROUP][EPL], m[GROUP], l[GROUP];
#pragma unroll
  for (int j = 0; j < GROUP; ++j) {
    m[j] = -LLAMA_INF;
    l[j] = 0.0f;
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      qr[j][e] = qs[j][li * EPL + e];
      o[j][e] = 0.0f;
    }
  }
  const long long cacheBase = (long long)b * CAP * KVF + kvHead * D + li * EPL;
  for (int base = t0 + warp * SUBS; base < t1; base += WARPS * SUBS) {
    const int t = base + sub;
    const bool valid = t < t1;
    float kr[EPL], vr[EPL];
    if (valid) {
      llamaLoad(kc + cacheBase + (long long)t * KVF, kr);
      llamaLoad(vc + cacheBase + (long long)t * KVF, vr);
    } else {
#pragma unroll
      for (int e = 0; e < EPL; ++e)
        kr[e] = vr[e] = 0.0f;
    }
#pragma unroll
    for (int j = 0; j < GROUP; ++j) {
      float dot = 0.0f;
#pragma unroll
      for (int e = 0; e < EPL; ++e)
        dot += qr[j][e] * kr[e];
      const float s = scoreOf(llamaWarpSum<LANES>(dot));
      if (valid) {
        const float mNew = fmaxf(m[j], s);
        const float correction = expf(m[j] - mNew);
        const float p = expf(s - mNew);
        l[j] = l[j] * correction + p;
#pragma unroll
        for (int e = 0; e < EPL; ++e)
          o[j][e] = o[j][e] * correction + p * vr[e];
        m[j] = mNew;
      }
    }
  }

  // Merge the warp's rows (lanes li, li + LANES, ...), then the warps.
#pragma unroll
  for (int j = 0; j < GROUP; ++j) {
    float mw = m[j];
#pragma unroll
    for (int off = LANES; off < 32; off *= 2)
      mw = fmaxf(mw, __shfl_xor_sync(0xffffffffu, mw, off));
    const float correction = m[j] == -LLAMA_INF ? 0.0f : expf(m[j] - mw);
    float lw = l[j] * correction;
#pragma unroll
    for (int off = LANES; off < 32; off *= 2)
      lw += __shfl_xor_sync(0xffffffffu, lw, off);
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      float val = o[j][e] * correction;
#pragma unroll
      for (int off = LANES; off < 32; off *= 2)
        val += __shfl_xor_sync(0xffffffffu, val, off);
      o[j][e] = val;
    }
    if (sub == 0) {
#pragma unroll
      for (int e = 0; e < EPL; ++e)
        part[warp][j][li * EPL + e] = o[j][e];
      if (li == 0) {
        part[warp][j][D] = mw;
        part[warp][j][D + 1] = lw;
      }
    }
  }
  __syncthreads();

  // This split's partial: [B][KVH][SPLITS][GROUP][D + 2].
  const long long groupBase = ((long long)b * KVH + kvHead) * SPLITS;
  float *mine = partials + (groupBase + split) * GROUP * (D + 2);
  for (int i = tid; i < GROUP * D; i += THREADS) {
    const int j = i / D, d = i % D;
    float mb = -LLAMA_INF;
#pragma unroll
    for (int w = 0; w < WARPS; ++w)
      mb = fmaxf(mb, part[w][j][D]);
    float lb = 0.0f, ob = 0.0f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) {
      const float mw = part[w][j][D];
      const float c = mw == -LLAMA_INF ? 0.0f : expf(mw - mb);
      lb += part[w][j][D + 1] * c;
      ob += part[w][j][d] * c;
    }
    __stcg(mine + j * (D + 2) + d, ob);
    if (d == 0) {
      __stcg(mine + j * (D + 2) + D, mb);
      __stcg(mine + j * (D + 2) + D + 1, lb);
    }
  }
  __threadfence(); // partials before the arrival
  __syncthreads();
  if (tid == 0)
    isLast = atomicAdd(&arrivals[b * KVH + kvHead], 1u) == SPLITS - 1;
  __syncthreads();
  if (!isLast)
    return;
  __threadfence(); // every other split's partials are visible

  const float *all = partials + groupBase * GROUP * (D + 2);
  for (int i = tid; i < GROUP * D; i += THREADS) {
    const int j = i / D, d = i % D;
    float mt = -LLAMA_INF;
    for (int s = 0; s < SPLITS; ++s)
      mt = fmaxf(mt, __ldcg(all + (s * GROUP + j) * (D + 2) + D));
    float lt = 0.0f, ot = 0.0f;
    for (int s = 0; s < SPLITS; ++s) {
      const float *p = all + (s * GROUP + j) * (D + 2);
      const float ms = __ldcg(p + D);
      const float c = ms == -LLAMA_INF ? 0.0f : expf(ms - mt);
      lt += __ldcg(p + D + 1) * c;
      ot += __ldcg(p + d) * c;
    }
    out[(long long)b * QF + (kvHead * GROUP + j) * D + d] =
        llamaFromF<TO>(lt > 0.0f ? ot / lt : 0.0f);
  }
  if (tid == 0)
    arrivals[b * KVH + kvHead] = 0; // ready for the next launch
}
)BODY";
}

} // namespace llamac::codegen::cuda
