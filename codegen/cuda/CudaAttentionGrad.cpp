//===- CudaAttentionGrad.cpp - The backward of causal GQA attention -------===//
//
// attention_grad recomputes the probabilities instead of storing them, in
// three launches. 16-bit data with a head size mma.sync tiles takes the
// tensor-core kernels of CudaTensorCoreAttentionGrad.cpp, f32 with a head
// size of 8 to 128 in steps of 8 their 3xTF32 counterpart
// (CudaTf32AttentionGrad.cpp); this file plans the op, routes it, and holds
// the SIMT kernels for everything else (heads off those sizes), described
// here.
//
// The SIMT kernel recomputes each (query, key) pair's score in three
// launches, the phases the tensor-core kernels have too, each giving one
// warp a whole row (its lanes split the head dimension):
//   1. stats, a warp per query: the softmax's max and sum and
//      pdp = sum_j p_j dp_j, with dp_j = dout · v_j, online over the
//      visible keys;
//   2. dkv, a warp per key j: dK_j = sum ds q and dV_j = sum p dout over
//      the queries of its group of heads that see it, with
//      ds = p (dp - pdp) * scale;
//   3. dq, a warp per query: dQ = sum_j ds_j k_j.
// Every output is summed by one warp in a fixed order (the CPU target's),
// so every step gives the same bits. Phase 1's three floats per (query,
// head) wait for phases 2 and 3 in the first 12 bytes of that query head's
// own dQ slice, which phase 3 then overwrites: no scratch sized by the
// dynamic sequence length.
//
// A warp a row gives a 7B-shaped step (4 x 512 tokens, 32 heads) 65,536
// warps a phase. One block per (batch row, KV head) looping over all three,
// as before, gave it 128 blocks of 8 warps: an H100 had one block an SM,
// too few warps to hide a row's loads and warp sums (29.5 ms a layer).
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionGradPlan.h"
#include "codegen/cuda/CudaEmitter.h"

#include <cmath>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

/// One phase of the SIMT kernel. Its grid is (heads, groups of kWarps
/// rows, batch), with KV heads and key rows for dkv; a warp walks its rows
/// with a stride of the grid's, so any row count is covered.
LogicalResult emitScalarAttentionGrad(raw_ostream &os,
                                      const AttentionGradPlan &plan,
                                      AttentionGradPhase phase,
                                      StringRef symbol) {
  int64_t sliceBytes = plan.headDim * elemBytes(plan.elem);
  if (sliceBytes < 12 || sliceBytes % 4 != 0)
    return plan.op->emitOpError()
           << "head size " << plan.headDim
           << " is too small for the CUDA kernel, which keeps three f32 "
              "softmax statistics in each query head's gradient slice";
  emitSignature(os, plan.op, symbol, kThreads);
  emitAttentionGradCommon(os, plan);
  os << "  constexpr int EPL = (D + 31) / 32, WARPS = " << kWarps << ";\n";
  os << R"BODY(  const long long b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // This warp's first row of the phase and the stride to its next.
  const long long firstRow = (long long)blockIdx.y * WARPS + warp;
  const long long rowStride = (long long)gridDim.y * WARPS;
  // Lane `lane` holds dimensions lane + 32 e of a row; the others read 0.
  auto load = [&](const T *row, float (&out)[EPL]) {
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      const int d = lane + 32 * e;
      out[e] = d < D ? llamaToF(row[d]) : 0.0f;
    }
  };
  auto dot = [&](const float (&a)[EPL], const float (&c)[EPL]) {
    float sum = 0.0f;
#pragma unroll
    for (int e = 0; e < EPL; ++e)
      sum += a[e] * c[e];
    return sum;
  };
  auto queryRow = [&](const T *base, int h, long long s) {
    return base + (b * S + s) * QF + h * D;
  };
  auto keyRow = [&](const T *base, int g, long long j) {
    return base + (b * L + j) * KF + g * D;
  };
  // (max, sum, pdp) of query s of head h, in its dQ slice until phase dq.
  auto stats = [&](int h, long long s) {
    return (float *)(dq + (b * S + s) * QF + h * D);
  };
  auto lastKey = [&](long long s) {
    const long long last = position + s;
    return last < L - 1 ? last : L - 1;
  };
  float qv[EPL], ov[EPL], kv[EPL], vv[EPL];
  auto loadQuery = [&](int h, long long s) {
    load(queryRow(q, h, s), qv);
    load(queryRow(dout, h, s), ov);
  };
  auto loadKey = [&](int g, long long j) {
    load(keyRow(k, g, j), kv);
    load(keyRow(v, g, j), vv);
  };
  // q k * scale and dp = dout v of the loaded rows, in every lane.
  auto scoreAndDp = [&](float &score, float &dp) {
    score = llamaWarpSum(dot(qv, kv)) * scale;
    dp = llamaWarpSum(dot(ov, vv));
  };
)BODY";
  switch (phase) {
  case AttentionGradPhase::Stats:
    // Queries see position + s + 1 keys: the grid's first warps take the
    // last queries, so that the heaviest rows start first.
    os << R"BODY(  // The softmax statistics of head h's queries.
  const int h = blockIdx.x, g = h / G;
  for (long long i = firstRow; i < S; i += rowStride) {
    const long long s = S - 1 - i;
    loadQuery(h, s);
    float m = -LLAMA_INF, l = 0.0f, t = 0.0f;
    const long long last = lastKey(s);
    for (long long j = 0; j <= last; ++j) {
      loadKey(g, j);
      float score, dp;
      scoreAndDp(score, dp);
      if (score > m) {
        const float c = expf(m - score);
        l *= c;
        t *= c;
        m = score;
      }
      const float e = expf(score - m);
      l += e;
      t += e * dp;
    }
    if (lane == 0) {
      float *st = stats(h, s);
      st[0] = m;
      st[1] = l;
      st[2] = t / l;
    }
  }
}
)BODY";
    break;
  case AttentionGradPhase::KeyGrads:
    // Key j is seen by the queries from j - position on: the first keys,
    // the grid's first warps, are the heaviest.
    os << R"BODY(  // dK and dV of KV head g's keys, over the queries that see each, head
  // by head and in query order (the CPU target's order).
  const int g = blockIdx.x;
  for (long long j = firstRow; j < L; j += rowStride) {
    loadKey(g, j);
    float dkAcc[EPL] = {}, dvAcc[EPL] = {};
    const long long first = j - position > 0 ? j - position : 0;
    for (int hh = 0; hh < G; ++hh) {
      const int h = g * G + hh;
      for (long long s = first; s < S; ++s) {
        loadQuery(h, s);
        const float *st = stats(h, s);
        float score, dp;
        scoreAndDp(score, dp);
        const float p = expf(score - st[0]) / st[1];
        const float ds = p * (dp - st[2]) * scale;
#pragma unroll
        for (int e = 0; e < EPL; ++e) {
          dkAcc[e] += ds * qv[e];
          dvAcc[e] += p * ov[e];
        }
      }
    }
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      const int d = lane + 32 * e;
      if (d < D) {
        dk[(b * L + j) * KF + g * D + d] = llamaFromF<T>(dkAcc[e]);
        dv[(b * L + j) * KF + g * D + d] = llamaFromF<T>(dvAcc[e]);
      }
    }
  }
}
)BODY";
    break;
  case AttentionGradPhase::QueryGrads:
    os << R"BODY(  // dQ of head h's queries, the last first. Every lane reads the
  // statistics before its first warp sum, so before any lane of the warp
  // overwrites them.
  const int h = blockIdx.x, g = h / G;
  for (long long i = firstRow; i < S; i += rowStride) {
    const long long s = S - 1 - i;
    loadQuery(h, s);
    const float *st = stats(h, s);
    const float m = st[0], l = st[1], pdp = st[2];
    float dqAcc[EPL] = {};
    const long long last = lastKey(s);
    for (long long j = 0; j <= last; ++j) {
      loadKey(g, j);
      float score, dp;
      scoreAndDp(score, dp);
      const float p = expf(score - m) / l;
      const float ds = p * (dp - pdp) * scale;
#pragma unroll
      for (int e = 0; e < EPL; ++e)
        dqAcc[e] += ds * kv[e];
    }
    T *out = dq + (b * S + s) * QF + h * D;
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      const int d = lane + 32 * e;
      if (d < D)
        out[d] = llamaFromF<T>(dqAcc[e]);
    }
  }
}
)BODY";
    break;
  }
  return success();
}

} // namespace

FailureOr<AttentionGradPlan> planAttentionGrad(AttentionGradOp op) {
  RankedTensorType qType = tensorType(op.getQuery());
  RankedTensorType kType = tensorType(op.getKey());
  FailureOr<int64_t> batch = staticDim(op, qType, 0);
  FailureOr<int64_t> qFeatures = staticDim(op, qType, 2);
  FailureOr<Elem> elem = elemOf(op, op.getQuery());
  FailureOr<std::string> seq = dimExpr(op, qType, 1);
  FailureOr<std::string> keys = dimExpr(op, kType, 1);
  if (failed(batch) || failed(qFeatures) || failed(elem) || failed(seq) ||
      failed(keys))
    return failure();
  AttentionGradPlan plan;
  plan.op = op;
  plan.batch = *batch;
  plan.heads = op.getNumHeads();
  plan.kvHeads = op.getNumKvHeads();
  plan.headDim = *qFeatures / plan.heads;
  plan.scale = op.getScale() ? op.getScale()->convertToDouble()
                             : 1.0 / std::sqrt(double(plan.headDim));
  plan.elem = *elem;
  plan.seq = *seq;
  plan.keys = *keys;
  plan.position = positionExpr(op.getPosition());
  if (!qType.isDynamicDim(1))
    plan.seqConstant = qType.getDimSize(1);
  if (!kType.isDynamicDim(1))
    plan.keysConstant = kType.getDimSize(1);
  return plan;
}

artifact::LaunchGeometry attentionGradRowGrid(const AttentionGradPlan &plan,
                                              AttentionGradPhase phase,
                                              int64_t blockRows,
                                              unsigned threads) {
  const bool keys = phase == AttentionGradPhase::KeyGrads;
  artifact::LaunchGeometry g =
      fixedGrid(keys ? plan.kvHeads : plan.heads, 1,
                static_cast<uint32_t>(plan.batch), threads);
  Rows rows;
  std::optional<int64_t> perBatch = keys ? plan.keysConstant : plan.seqConstant;
  if (perBatch)
    rows.constant = plan.batch * *perBatch;
  setRowGrid(g, 1, rows, static_cast<uint32_t>(blockRows * plan.batch));
  return g;
}

void emitAttentionGradCommon(raw_ostream &os, const AttentionGradPlan &plan) {
  os << "  constexpr int D = " << plan.headDim << ", H = " << plan.heads
     << ", KVH = " << plan.kvHeads << ", G = H / KVH;\n"
     << "  constexpr long long QF = H * D, KF = KVH * D;\n"
     << "  constexpr float scale = " << floatLiteral(plan.scale) << ";\n"
     << "  const long long S = " << plan.seq << ", L = " << plan.keys << ";\n"
     << "  const long long position = " << plan.position << ";\n"
     << "  using T = " << cudaType(plan.elem) << ";\n";
  emitBuffer(os, "q", 0, "T", true);
  emitBuffer(os, "k", 1, "T", true);
  emitBuffer(os, "v", 2, "T", true);
  emitBuffer(os, "dout", 3, "T", true);
  emitBuffer(os, "dq", 4, "T", false);
  emitBuffer(os, "dk", 5, "T", false);
  emitBuffer(os, "dv", 6, "T", false);
}

unsigned attentionGradPhases(AttentionGradOp) { return kAttentionGradPhases; }

std::string attentionGradPhaseName(unsigned phase) {
  static const char *const names[kAttentionGradPhases] = {"stats", "dkv", "dq"};
  return phase < kAttentionGradPhases ? names[phase] : std::to_string(phase);
}

LogicalResult emitAttentionGradKernel(AttentionGradOp op, unsigned phase,
                                      StringRef symbol, raw_ostream &os) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  if (failed(plan))
    return failure();
  if (plan->tensorCores())
    emitTensorCoreAttentionGrad(os, *plan, AttentionGradPhase(phase), symbol);
  else if (plan->tf32())
    emitTf32AttentionGrad(os, *plan, AttentionGradPhase(phase), symbol);
  else
    return emitScalarAttentionGrad(os, *plan, AttentionGradPhase(phase),
                                   symbol);
  return success();
}

FailureOr<artifact::LaunchGeometry> attentionGradGeometry(AttentionGradOp op,
                                                          unsigned phase) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  if (failed(plan))
    return failure();
  if (plan->tensorCores())
    return tensorCoreAttentionGradGeometry(*plan, AttentionGradPhase(phase));
  if (plan->tf32())
    return tf32AttentionGradGeometry(*plan, AttentionGradPhase(phase));
  // A warp a row: kWarps rows a block.
  return attentionGradRowGrid(*plan, AttentionGradPhase(phase), kWarps,
                              kThreads);
}

std::optional<artifact::LaunchGeometry>
attentionGradWgmmaGeometry(AttentionGradOp op, unsigned phase) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  if (failed(plan))
    return std::nullopt;
  return wgmmaAttentionGradGeometry(*plan, AttentionGradPhase(phase));
}

std::vector<artifact::TensorMapSpec> attentionGradTensorMaps(AttentionGradOp op,
                                                             unsigned phase) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  if (failed(plan))
    return {};
  return wgmmaAttentionGradTensorMaps(*plan, AttentionGradPhase(phase));
}

} // namespace llamac::codegen::cuda
