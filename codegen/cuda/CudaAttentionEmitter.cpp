//===- CudaAttentionEmitter.cpp - Attention: plan, shared text, geometry --===//
//
// Query head h reads KV head h / GROUP, so grouped-query attention never
// materializes repeated keys. Decode (one new token, with caches) takes the
// flash-decoding kernel, everything else (prefill, training, the unfused op)
// a flash-attention kernel: on the tensor cores for 16-bit models, on them
// in 3xTF32 for f32 ones, else the scalar one.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"
#include "codegen/cuda/CudaEmitter.h"
#include "mlir/IR/Diagnostics.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {

FailureOr<AttentionPlan> planAttention(Operation *op) {
  AttentionPlan plan;
  plan.op = op;
  Value query, key, value, position, out;
  Value keyRowsOf;
  if (auto fused = dyn_cast<FusedRoPEAttentionOp>(op)) {
    query = fused.getQuery();
    key = fused.getKey();
    value = fused.getValue();
    position = fused.getPosition();
    out = fused.getResults()[0];
    plan.heads = fused.getNumHeads();
    plan.kvHeads = fused.getNumKvHeads();
    plan.headDim = fused.getHeadDim();
    if (fused.getScale())
      plan.scale = fused.getScale()->convertToDouble();
    plan.rope = true;
    plan.style = fused.getStyle();
    plan.theta = fused.getTheta().convertToDouble();
    plan.cache = fused.getKeyCache() != nullptr;
    keyRowsOf = plan.cache ? fused.getKeyCache() : key;
  } else {
    auto attention = cast<AttentionOp>(op);
    query = attention.getQuery();
    key = attention.getKey();
    value = attention.getValue();
    position = attention.getPosition();
    out = attention.getResult();
    plan.heads = attention.getNumHeads();
    plan.kvHeads = attention.getNumKvHeads();
    if (attention.getScale())
      plan.scale = attention.getScale()->convertToDouble();
    keyRowsOf = key;
  }
  FailureOr<Elem> q = elemOf(op, query), k = elemOf(op, key),
                  v = elemOf(op, value), o = elemOf(op, out),
                  c = elemOf(op, keyRowsOf);
  RankedTensorType queryType = tensorType(query);
  FailureOr<std::string> batch = dimExpr(op, queryType, 0);
  FailureOr<std::string> seq = dimExpr(op, queryType, 1);
  FailureOr<int64_t> features = staticDim(op, queryType, 2);
  FailureOr<std::string> keyRows = dimExpr(op, tensorType(keyRowsOf), 1);
  if (failed(q) || failed(k) || failed(v) || failed(o) || failed(c) ||
      failed(batch) || failed(seq) || failed(features) || failed(keyRows))
    return failure();
  if (!plan.headDim)
    plan.headDim = *features / plan.heads;
  // RoPE rotates pairs, and the kernels stage and store heads in pairs.
  if (plan.headDim % 2 != 0)
    return op->emitOpError() << "has head dimension " << plan.headDim
                             << "; the CUDA target needs an even one";
  plan.query = *q;
  plan.key = *k;
  plan.value = *v;
  plan.out = *o;
  plan.cacheElem = *c;
  plan.batch = *batch;
  plan.seq = *seq;
  plan.keyRows = *keyRows;
  plan.position = positionExpr(position);
  auto constantOf = [](RankedTensorType type, unsigned dim) {
    int64_t size = type.getDimSize(dim);
    return ShapedType::isDynamic(size) ? std::optional<int64_t>()
                                       : std::optional<int64_t>(size);
  };
  plan.batchConstant = constantOf(queryType, 0);
  plan.seqConstant = constantOf(queryType, 1);
  plan.keyRowsConstant = constantOf(tensorType(keyRowsOf), 1);
  return plan;
}

void emitAttentionCommon(raw_ostream &os, const AttentionPlan &plan) {
  os << "  typedef " << cudaType(plan.query) << " TQ;\n"
     << "  typedef " << cudaType(plan.key) << " TK;\n"
     << "  typedef " << cudaType(plan.value) << " TV;\n"
     << "  typedef " << cudaType(plan.out) << " TO;\n"
     << "  typedef " << cudaType(plan.cacheElem) << " TC;\n"
     << "  constexpr int H = " << plan.heads << ", KVH = " << plan.kvHeads
     << ", D = " << plan.headDim << ";\n"
     << "  // Query head h reads KV head h / GROUP.\n"
     << "  constexpr int GROUP = " << plan.heads / plan.kvHeads
     << ", QF = " << plan.heads * plan.headDim
     << ", KVF = " << plan.kvHeads * plan.headDim << ";\n"
     << "  constexpr bool ROPE = " << (plan.rope ? "true" : "false")
     << ", CACHE = " << (plan.cache ? "true" : "false") << ", ADJACENT = "
     << (plan.style == llama::RopeStyle::Adjacent ? "true" : "false") << ";\n"
     << "  constexpr float THETA = " << floatLiteral(plan.theta) << ";\n"
     << "  const long long B = " << plan.batch << ", S = " << plan.seq
     << ", L = " << plan.keyRows << ";\n"
     << "  const int position = " << plan.position << ";\n"
     << "  (void)B;\n";
  emitBuffer(os, "q", 0, "TQ", true);
  emitBuffer(os, "k", 1, "TK", true);
  emitBuffer(os, "v", 2, "TV", true);
  if (plan.cache) {
    emitBuffer(os, "out", 5, "TO", false);
    // The caches are read and written through the result pointers (the
    // same memory as the operands, updated in place), never through the
    // read-only path, since this kernel writes the new rows.
    os << "  TC *kc = (TC *)args.buffers[6];\n"
       << "  TC *vc = (TC *)args.buffers[7];\n";
  } else {
    emitBuffer(os, "out", 3, "TO", false);
    os << "  TC *kc = nullptr, *vc = nullptr;\n"
       << "  (void)kc;\n"
       << "  (void)vc;\n";
  }
  // The default scale divides by sqrtf(d) as llama2.c does; sqrt is
  // correctly rounded, so the literal is the value it computes.
  if (plan.scale)
    os << "  auto scoreOf = [](float dot) { return dot * "
       << floatLiteral(*plan.scale) << "; };\n";
  else
    os << "  auto scoreOf = [](float dot) { return dot / "
       << floatLiteral(std::sqrt(static_cast<float>(plan.headDim))) << "; };\n";
}

DecodeShape decodeShape(const AttentionPlan &plan) {
  DecodeShape shape;
  int64_t d = plan.headDim;
  // Lanes per key row: each loads at least 16 bytes when the row allows.
  int64_t minElems = std::max<int64_t>(16 / elemBytes(plan.cacheElem), 1);
  shape.lanes = 1;
  for (int64_t l = 32; l >= 1; l /= 2)
    if (d % l == 0 && d / l >= minElems) {
      shape.lanes = l;
      break;
    }
  shape.elemsPerLane = d / shape.lanes;
  // Rows in flight a lane group: at one row at a time an SM had a few KiB
  // of loads in flight, too few to cover HBM's latency at long contexts.
  // A lane holds each row's key and value elements beside its GROUP
  // queries' and output accumulators, so larger groups and heads take
  // fewer: within 160 floats, 7B takes 4 rows (127 registers on sm_90a)
  // and 70B's groups of 8 take 2 (211).
  constexpr int64_t kLaneFloats = 160;
  int64_t group = plan.heads / plan.kvHeads;
  shape.unroll = 4;
  while (shape.unroll > 1 &&
         2 * (shape.unroll + group) * shape.elemsPerLane > kLaneFloats)
    shape.unroll /= 2;
  // Enough blocks for about two waves of a 132-SM GPU at the longest
  // context, but no split shorter than one step of the block; at run time
  // only the splits the visible rows need do anything.
  int64_t groups = *plan.batchConstant * plan.kvHeads;
  int64_t wanted = (264 + groups - 1) / groups;
  int64_t useful =
      (*plan.keyRowsConstant + shape.stepRows() - 1) / shape.stepRows();
  shape.splits = std::clamp<int64_t>(std::min(wanted, useful), 1, 64);
  return shape;
}

namespace {
/// With caches, phase 0 writes the call's new rows to them.
bool isCacheWrite(const AttentionPlan &plan, unsigned phase) {
  return plan.writesCacheFirst() && phase == 0;
}

/// The plan without its diagnostics, for questions asked before the kernel
/// is emitted (how many phases, their names): emitAttentionKernel reports
/// an unsupported op once.
FailureOr<AttentionPlan> planAttentionQuietly(Operation *op) {
  ScopedDiagnosticHandler quiet(op->getContext(),
                                [](Diagnostic &) { return success(); });
  return planAttention(op);
}
} // namespace

unsigned attentionPhases(Operation *op) {
  FailureOr<AttentionPlan> plan = planAttentionQuietly(op);
  return succeeded(plan) && plan->writesCacheFirst() ? 2 : 1;
}

std::string attentionPhaseName(Operation *op, unsigned phase) {
  FailureOr<AttentionPlan> plan = planAttentionQuietly(op);
  if (failed(plan) || !plan->writesCacheFirst())
    return std::to_string(phase);
  return isCacheWrite(*plan, phase) ? "cache_write" : "flash";
}

LogicalResult emitAttentionKernel(Operation *op, unsigned phase,
                                  StringRef symbol, raw_ostream &os) {
  FailureOr<AttentionPlan> plan = planAttention(op);
  if (failed(plan))
    return failure();
  if (plan->kvHeads <= 0 || plan->heads % plan->kvHeads != 0)
    return op->emitOpError() << "needs num_heads to be a multiple of "
                                "num_kv_heads";
  if (plan->decode()) {
    emitFlashDecoding(os, *plan, symbol);
    return success();
  }
  if (isCacheWrite(*plan, phase)) {
    emitAttentionCacheWrite(os, *plan, symbol);
    return success();
  }
  if (plan->tensorCores()) {
    emitTensorCoreAttention(os, *plan, symbol);
    return success();
  }
  if (plan->tf32()) {
    emitTf32Attention(os, *plan, symbol);
    return success();
  }
  return emitFlashAttention(os, *plan, symbol);
}

FailureOr<artifact::LaunchGeometry> attentionGeometry(Operation *op,
                                                      unsigned phase) {
  FailureOr<AttentionPlan> plan = planAttention(op);
  if (failed(plan))
    return failure();
  if (plan->decode()) {
    DecodeShape shape = decodeShape(*plan);
    return fixedGrid(shape.splits, plan->kvHeads, *plan->batchConstant, 128);
  }
  if (!plan->batchConstant) {
    return op->emitOpError() << "needs a static batch on the CUDA target";
  }
  int64_t batch = *plan->batchConstant;
  Rows rows;
  if (plan->seqConstant)
    rows.constant = batch * *plan->seqConstant;
  // The cache write: one block per new token row.
  if (isCacheWrite(*plan, phase)) {
    artifact::LaunchGeometry g =
        fixedGrid(1, 1, 1, kAttentionCacheWriteThreads);
    setRowGrid(g, 0, rows, 1);
    return g;
  }
  // Blocks of BQ queries of one head: grid (H, ceil(S / BQ), B), with BQ
  // 128 on the 16-bit tensor-core kernel and 64 in the 3xTF32 and scalar
  // kernels. The runtime's rule divides batch * seq, so the row step is
  // BQ * B.
  int64_t queryRows = 64, threads = 256;
  unsigned sharedBytes = 0;
  if (plan->tensorCores()) {
    queryRows = kAttentionQueryRows;
    threads = kAttentionThreads;
    sharedBytes = tensorCoreAttentionSharedBytes(plan->headDim);
  } else if (plan->tf32()) {
    queryRows = kTf32AttentionQueryRows;
    threads = kTf32AttentionThreads;
    sharedBytes = tf32AttentionSharedBytes(plan->headDim);
  }
  artifact::LaunchGeometry g =
      fixedGrid(plan->heads, 1, static_cast<uint32_t>(batch),
                static_cast<uint32_t>(threads));
  setRowGrid(g, 1, rows, static_cast<uint32_t>(queryRows * batch));
  g.sharedBytes = sharedBytes;
  return g;
}

namespace {
/// The attention launch that runs the sm_90a variant, if `phase` is one.
FailureOr<AttentionPlan> wgmmaPlan(Operation *op, unsigned phase) {
  FailureOr<AttentionPlan> plan = planAttention(op);
  if (failed(plan) || plan->decode() || isCacheWrite(*plan, phase) ||
      !plan->wgmma())
    return failure();
  return plan;
}
} // namespace

std::optional<artifact::LaunchGeometry> attentionWgmmaGeometry(Operation *op,
                                                               unsigned phase) {
  FailureOr<AttentionPlan> plan = wgmmaPlan(op, phase);
  if (failed(plan))
    return std::nullopt;
  FailureOr<artifact::LaunchGeometry> g = attentionGeometry(op, phase);
  if (failed(g))
    return std::nullopt;
  // The same blocks of 128 queries, with a loader warpgroup.
  g->block[0] = kWgmmaAttentionThreads;
  g->sharedBytes = wgmmaAttentionSharedBytes(plan->headDim);
  return *g;
}

std::vector<artifact::TensorMapSpec> attentionTensorMaps(Operation *op,
                                                         unsigned phase) {
  FailureOr<AttentionPlan> plan = wgmmaPlan(op, phase);
  if (failed(plan))
    return {};
  // Keys, then values: the caches (the results that alias them, buffers 6
  // and 7) or plain attention's operands (1 and 2), as rows of KVH * D;
  // boxes of one KV head's 64-element column group (128-byte rows) by a
  // tile's rows.
  const uint32_t keys = plan->cache ? 6 : 1, values = plan->cache ? 7 : 2;
  const uint32_t rows = kWgmmaAttentionKeyRows;
  return {{keys, 64, rows, 128}, {values, 64, rows, 128}};
}

} // namespace llamac::codegen::cuda
