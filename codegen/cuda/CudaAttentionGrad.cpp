//===- CudaAttentionGrad.cpp - The backward of causal GQA attention -------===//
//
// attention_grad recomputes the probabilities instead of storing them.
// 16-bit data with a head size mma.sync tiles takes the three tensor-core
// kernels of CudaTensorCoreAttentionGrad.cpp; this file plans the op,
// routes it, and holds the SIMT kernel for everything else (f32, small or
// odd heads), described here.
//
// One block serves one (batch row, KV head): it owns the dK and dV of that
// head, summed over its group of query heads, and the dQ of the group, so
// no element is summed by two blocks and every step gives the same bits.
// Each warp takes whole queries or keys, its lanes splitting the head
// dimension, in three sweeps separated by barriers:
//   1. per query: the softmax's max and sum and pdp = sum_j p_j dp_j, with
//      dp_j = dout · v_j, online over the visible keys;
//   2. per key j: dK_j = sum ds q and dV_j = sum p dout over the queries
//      that see it, with ds = p (dp - pdp) * scale;
//   3. per query: dQ = sum_j ds_j k_j.
// Sweep 1's three floats per (query, head) wait for sweeps 2 and 3 in the
// first 12 bytes of that query head's own dQ slice, which sweep 3 then
// overwrites: no scratch sized by the dynamic sequence length.
//
// The parallelism is batch * KV heads blocks, the CPU target's.
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

/// The SIMT kernel.
LogicalResult emitScalarAttentionGrad(raw_ostream &os,
                                      const AttentionGradPlan &plan,
                                      StringRef symbol) {
  int64_t sliceBytes = plan.headDim * elemBytes(plan.elem);
  if (sliceBytes < 12 || sliceBytes % 4 != 0)
    return plan.op->emitOpError()
           << "head size " << plan.headDim
           << " is too small for the CUDA kernel, which keeps three f32 "
              "softmax statistics in each query head's gradient slice";
  emitSignature(os, plan.op, symbol, kThreads);
  emitAttentionGradCommon(os, plan);
  os << "  constexpr int EPL = (D + 31) / 32, WARPS = " << kThreads / 32
     << ";\n";
  os << R"BODY(  const long long b = blockIdx.x / KVH;
  const int g = blockIdx.x % KVH;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
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
  auto keyRow = [&](const T *base, long long j) {
    return base + (b * L + j) * KF + g * D;
  };
  // (max, sum, pdp) of query s of head h, in its dQ slice until sweep 3.
  auto stats = [&](int h, long long s) {
    return (float *)(dq + (b * S + s) * QF + h * D);
  };
  auto lastKey = [&](long long s) {
    const long long last = position + s;
    return last < L - 1 ? last : L - 1;
  };
  float qv[EPL], ov[EPL], kv[EPL], vv[EPL];
  // Item `item` of the group's queries: its head, position, q and dout.
  auto loadQuery = [&](long long item, int &h, long long &s) {
    h = g * G + (int)(item / S);
    s = item % S;
    load(queryRow(q, h, s), qv);
    load(queryRow(dout, h, s), ov);
  };
  auto loadKey = [&](long long j) {
    load(keyRow(k, j), kv);
    load(keyRow(v, j), vv);
  };
  // q k * scale and dp = dout v of the loaded rows, in every lane.
  auto scoreAndDp = [&](float &score, float &dp) {
    score = llamaWarpSum(dot(qv, kv)) * scale;
    dp = llamaWarpSum(dot(ov, vv));
  };

  // Sweep 1: the softmax statistics of every query of the group.
  for (long long item = warp; item < G * S; item += WARPS) {
    int h;
    long long s;
    loadQuery(item, h, s);
    float m = -LLAMA_INF, l = 0.0f, t = 0.0f;
    const long long last = lastKey(s);
    for (long long j = 0; j <= last; ++j) {
      loadKey(j);
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
  __syncthreads();

  // Sweep 2: dK and dV of each key, over the queries that see it, head by
  // head and in query order (the CPU target's order).
  for (long long j = warp; j < L; j += WARPS) {
    loadKey(j);
    float dkAcc[EPL] = {}, dvAcc[EPL] = {};
    const long long first = j - position > 0 ? j - position : 0;
    for (int hh = 0; hh < G; ++hh) {
      const int h = g * G + hh;
      for (long long s = first; s < S; ++s) {
        load(queryRow(q, h, s), qv);
        load(queryRow(dout, h, s), ov);
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
  __syncthreads();

  // Sweep 3: dQ. Every lane reads the statistics before its first warp
  // sum, so before any lane of the warp overwrites them.
  for (long long item = warp; item < G * S; item += WARPS) {
    int h;
    long long s;
    loadQuery(item, h, s);
    const float *st = stats(h, s);
    const float m = st[0], l = st[1], pdp = st[2];
    float dqAcc[EPL] = {};
    const long long last = lastKey(s);
    for (long long j = 0; j <= last; ++j) {
      loadKey(j);
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

unsigned attentionGradPhases(AttentionGradOp op) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  return succeeded(plan) && plan->tensorCores() ? kAttentionGradPhases : 1;
}

std::string attentionGradPhaseName(unsigned phase) {
  static const char *const names[kAttentionGradPhases] = {"stats", "dkv", "dq"};
  return phase < kAttentionGradPhases ? names[phase] : std::to_string(phase);
}

LogicalResult emitAttentionGradKernel(AttentionGradOp op, unsigned phase,
                                      StringRef symbol, raw_ostream &os) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  if (failed(plan))
    return failure();
  if (!plan->tensorCores())
    return emitScalarAttentionGrad(os, *plan, symbol);
  emitTensorCoreAttentionGrad(os, *plan, AttentionGradPhase(phase), symbol);
  return success();
}

FailureOr<artifact::LaunchGeometry> attentionGradGeometry(AttentionGradOp op,
                                                          unsigned phase) {
  FailureOr<AttentionGradPlan> plan = planAttentionGrad(op);
  if (failed(plan))
    return failure();
  if (plan->tensorCores())
    return tensorCoreAttentionGradGeometry(*plan, AttentionGradPhase(phase));
  return fixedGrid(plan->batch * plan->kvHeads, 1, 1, kThreads);
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
