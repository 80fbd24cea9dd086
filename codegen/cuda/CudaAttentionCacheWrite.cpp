//===- CudaAttentionCacheWrite.cpp - A call's new K/V rows into the caches ===//
//
// fused_rope_attention with caches and more than one new token (prefill,
// chunked prefill) runs as two launches. This first one rotates the call's
// new keys and writes them, and the values, to the caches at rows
// position + t; the attention kernel launched after it reads every visible
// row from the caches, as stored.
//
// Why not inside the attention kernel: its blocks cannot wait for each
// other's cache writes, so each block of queries rotated the new key rows
// it read itself, S / 128 times per row over all blocks, and paid a
// block-wide barrier per key tile for it. Here each row is rotated once,
// with the same llamaRopeCosSin the scalar kernels and the rope op use.
//
// One block per new token row (batch * seq blocks); its threads walk the
// row's RoPE pairs across the KV heads, then its values. Rows outside the
// capacity are dropped, as kv_cache_write drops them.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

void emitAttentionCacheWrite(raw_ostream &os, const AttentionPlan &plan,
                             StringRef symbol) {
  emitSignature(os, plan.op, symbol, kAttentionCacheWriteThreads);
  emitAttentionCommon(os, plan);
  os << "  constexpr int THREADS = " << kAttentionCacheWriteThreads << ";\n";
  os << R"BODY(  static_assert(CACHE, "the new rows go to the caches");
  (void)q;
  (void)out;
  (void)scoreOf;
  const long long r = blockIdx.x; // b * S + t
  if (r >= B * S)
    return;
  const long long b = r / S, t = r % S, p = (long long)position + t;
  if (p < 0 || p >= L)
    return;
  const long long src = r * KVF, dst = (b * L + p) * KVF;
  // Pair i is pair i % (D / 2) of KV head i / (D / 2).
  for (int i = threadIdx.x; i < KVF / 2; i += THREADS) {
    const int pr = i % (D / 2);
    const long long d1 = (long long)(i / (D / 2)) * D + (ADJACENT ? 2 * pr : pr);
    const long long d2 = d1 + (ADJACENT ? 1 : D / 2);
    float x1 = llamaToF(k[src + d1]), x2 = llamaToF(k[src + d2]);
    if constexpr (ROPE) {
      const float2 cs = llamaRopeCosSin((int)p, pr, D, THETA);
      const float r1 = x1 * cs.x - x2 * cs.y, r2 = x1 * cs.y + x2 * cs.x;
      x1 = r1;
      x2 = r2;
    }
    kc[dst + d1] = llamaFromF<TC>(x1);
    kc[dst + d2] = llamaFromF<TC>(x2);
  }
  for (int i = threadIdx.x; i < KVF; i += THREADS)
    vc[dst + i] = llamaFromF<TC>(llamaToF(v[src + i]));
}
)BODY";
}

} // namespace llamac::codegen::cuda
