//===- CudaFlashDecoding.cpp - Decode attention, split over the sequence --===//
//
// One new token per batch row reads the whole KV cache: memory bound, and
// with few KV heads (8 for Llama-2-70B) one block per head would leave most
// SMs idle. So the cached rows are split across up to SPLITS blocks per
// (batch, KV head); each block serves the head's whole GQA group, so every
// K/V row is read once for its GROUP query heads. A row is spread over
// LANES lanes with 16-byte loads; a warp covers 32 / LANES rows at a time
// in each of UNROLL loads a lane keeps in flight, and each lane keeps an
// online softmax per query head, rescaled once per UNROLL rows. Warps merge
// by shuffles and in shared memory.
//
// The visible rows decide how many splits run: each reads whole steps of
// the block (4 warps x UNROLL x 32 / LANES rows), so a short context runs
// one block per (batch, KV head), which writes the output itself, and the
// splits past the rows exit at once. Where several run, they write (max,
// sum, output) partials to a global scratch and the last to finish (an
// atomic counter per (batch, KV head), reset for the next launch) merges
// them: one launch per op either way.
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
     << ", EPL = " << shape.elemsPerLane << ", UNROLL = " << shape.unroll
     << ";\n"
     << "  float *partials = " << symbol << "_partials;\n"
     << "  unsigned *arrivals = " << symbol << "_arrivals;\n";
  os << R"BODY(  constexpr int THREADS = 128, WARPS = 4, SUBS = 32 / LANES;
  constexpr int STEP = WARPS * SUBS * UNROLL; // rows a block reads at a time
  (void)S;
  (void)L;
  __shared__ __align__(16) float qs[GROUP][D];
  __shared__ float part[WARPS][GROUP][D + 2]; // output, then max and sum
  __shared__ bool isLast;
  const int split = blockIdx.x, kvHead = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  // Visible rows: the cache up to the new token, within the capacity. The
  // splits that run take whole steps each; the rest have nothing to read.
  const int last = position < CAP - 1 ? position : CAP - 1;
  const int rows = last + 1 > 0 ? last + 1 : 0;
  const int perSplit =
      ((rows + SPLITS - 1) / SPLITS + STEP - 1) / STEP * STEP;
  const int active = rows > 0 ? (rows + perSplit - 1) / perSplit : 1;
  if (split >= active)
    return;
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

  // Lane (sub, li) reads elements [li * EPL, (li + 1) * EPL) of rows
  // base + u * SUBS + sub, u < UNROLL, of each of its warp's steps; queries
  // kvHead * GROUP + j share the rows.
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
  for (int base = t0 + warp * SUBS * UNROLL; base < t1; base += STEP) {
    // Every load of the step before any product: UNROLL rows in flight.
    // A row is read once a call, so its lines go first from L2 (evict
    // first), before the weights the next GEMV prefetches meanwhile.
    float kr[UNROLL][EPL], vr[UNROLL][EPL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) {
      const int t = base + u * SUBS + sub;
      if (t < t1) {
        llamaLoad<LlamaPath::EvictFirst>(kc + cacheBase + (long long)t * KVF,
                                         kr[u]);
        llamaLoad<LlamaPath::EvictFirst>(vc + cacheBase + (long long)t * KVF,
                                         vr[u]);
      } else {
#pragma unroll
        for (int e = 0; e < EPL; ++e)
          kr[u][e] = vr[u][e] = 0.0f;
      }
    }
    // The lane group's first row is its earliest: if it is past the split,
    // so are the others, and the group only joins the shuffles.
    const bool any = base + sub < t1;
#pragma unroll
    for (int j = 0; j < GROUP; ++j) {
      float s[UNROLL], mNew = m[j];
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < EPL; ++e)
          dot += qr[j][e] * kr[u][e];
        dot = llamaWarpSum<LANES>(dot); // every lane: a warp collective
        s[u] = base + u * SUBS + sub < t1 ? scoreOf(dot) : -LLAMA_INF;
        mNew = fmaxf(mNew, s[u]);
      }
      if (any) {
        const float correction = expf(m[j] - mNew);
        float p[UNROLL];
        l[j] *= correction;
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
          p[u] = expf(s[u] - mNew);
          l[j] += p[u];
        }
#pragma unroll
        for (int e = 0; e < EPL; ++e) {
          float acc = o[j][e] * correction;
#pragma unroll
          for (int u = 0; u < UNROLL; ++u)
            acc += p[u] * vr[u][e];
          o[j][e] = acc;
        }
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

  // The block's (max, sum, output) of query j's element d, over its warps.
  auto blockPartial = [&](int j, int d, float &mb, float &lb, float &ob) {
    mb = -LLAMA_INF;
#pragma unroll
    for (int w = 0; w < WARPS; ++w)
      mb = fmaxf(mb, part[w][j][D]);
    lb = 0.0f;
    ob = 0.0f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) {
      const float mw = part[w][j][D];
      const float c = mw == -LLAMA_INF ? 0.0f : expf(mw - mb);
      lb += part[w][j][D + 1] * c;
      ob += part[w][j][d] * c;
    }
  };
  const long long outBase = (long long)b * QF + kvHead * GROUP * D;
  if (active == 1) {
    // The only split: no partials, no arrival, no second pass.
    for (int i = tid; i < GROUP * D; i += THREADS) {
      float mb, lb, ob;
      blockPartial(i / D, i % D, mb, lb, ob);
      out[outBase + i] = llamaFromF<TO>(lb > 0.0f ? ob / lb : 0.0f);
    }
    return;
  }

  // This split's partial: [B][KVH][SPLITS][GROUP][D + 2].
  const long long groupBase = ((long long)b * KVH + kvHead) * SPLITS;
  float *mine = partials + (groupBase + split) * GROUP * (D + 2);
  for (int i = tid; i < GROUP * D; i += THREADS) {
    const int j = i / D, d = i % D;
    float mb, lb, ob;
    blockPartial(j, d, mb, lb, ob);
    __stcg(mine + j * (D + 2) + d, ob);
    if (d == 0) {
      __stcg(mine + j * (D + 2) + D, mb);
      __stcg(mine + j * (D + 2) + D + 1, lb);
    }
  }
  __threadfence(); // partials before the arrival
  __syncthreads();
  if (tid == 0)
    isLast = atomicAdd(&arrivals[b * KVH + kvHead], 1u) == active - 1;
  __syncthreads();
  if (!isLast)
    return;
  __threadfence(); // every other split's partials are visible

  const float *all = partials + groupBase * GROUP * (D + 2);
  for (int i = tid; i < GROUP * D; i += THREADS) {
    const int j = i / D, d = i % D;
    float mt = -LLAMA_INF;
    for (int s = 0; s < active; ++s)
      mt = fmaxf(mt, __ldcg(all + (s * GROUP + j) * (D + 2) + D));
    float lt = 0.0f, ot = 0.0f;
    for (int s = 0; s < active; ++s) {
      const float *p = all + (s * GROUP + j) * (D + 2);
      const float ms = __ldcg(p + D);
      const float c = ms == -LLAMA_INF ? 0.0f : expf(ms - mt);
      lt += __ldcg(p + D + 1) * c;
      ot += __ldcg(p + d) * c;
    }
    out[outBase + i] = llamaFromF<TO>(lt > 0.0f ? ot / lt : 0.0f);
  }
  if (tid == 0)
    arrivals[b * KVH + kvHead] = 0; // ready for the next launch
}
)BODY";
}

} // namespace llamac::codegen::cuda
