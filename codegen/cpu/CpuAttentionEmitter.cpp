//===- CpuAttentionEmitter.cpp - Attention, with or without fused RoPE ----===//
//
// One work item is one (batch, query token, head): it scores the visible key
// rows, softmaxes in f32 and sums the value rows, in llama2.c's order of
// operations. Query head h reads KV head h / (H / KVH) directly, so GQA never
// materializes repeated keys. The fused kernel first writes the rotated keys
// and the values of all new tokens into the caches (in place), then attends,
// so a token sees the tokens before it in the same call.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuEmitterUtil.h"

#include <cmath>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cpu {
namespace {

/// What the attention loop is specialized on.
struct AttentionSpec {
  int64_t heads = 0, kvHeads = 0, headDim = 0;
  std::optional<double> scale;
  Elem query = Elem::F32, key = Elem::F32, value = Elem::F32, out = Elem::F32;
  /// Rows of keys and values per batch entry, and the pointers to them.
  std::string keyRows, keys, values;
  /// Set when the query still needs RoPE (with the `cs` table in scope).
  std::optional<RopeStyle> rotateQuery;
};

/// Prints H, KVH, D, QF, KVF and the launch values batch, seq, position.
LogicalResult emitShape(raw_ostream &os, Operation *op, Value query,
                        Value position, int64_t heads, int64_t kvHeads) {
  RankedTensorType type = tensorType(query);
  FailureOr<std::string> batch = dimExpr(op, type, 0);
  FailureOr<std::string> seq = dimExpr(op, type, 1);
  FailureOr<int64_t> features = staticDim(op, type, 2);
  if (failed(batch) || failed(seq) || failed(features))
    return failure();
  int64_t headDim = *features / heads;
  os << "  constexpr int64_t H = " << heads << ", KVH = " << kvHeads
     << ", D = " << headDim << ";\n"
     << "  constexpr int64_t QF = H * D, KVF = KVH * D, GROUP = H / KVH;\n"
     << "  const int64_t batch = " << *batch << ", seq = " << *seq << ";\n"
     << "  const int32_t position = " << positionExpr(position) << ";\n";
  return success();
}

void emitAttend(raw_ostream &os, const AttentionSpec &spec) {
  StringRef q = cType(spec.query), k = cType(spec.key), v = cType(spec.value);
  os << "  const int64_t L = " << spec.keyRows << ";\n"
     << "  auto body = [&](int64_t item) {\n"
     << "    const int64_t h = item % H, bs = item / H;\n"
     << "    const int64_t s = bs % seq, b = bs / seq;\n"
     << "    int64_t last = (int64_t)position + s; // causal: rows <= p + s\n"
     << "    if (last > L - 1)\n"
     << "      last = L - 1;\n"
     << "    " << cType(spec.out) << " *__restrict o = out + bs * QF + h * D;\n"
     << "    if (last < 0) {\n"
     << "      for (int64_t i = 0; i < D; ++i)\n"
     << "        o[i] = " << store(spec.out, "0.0f") << ";\n"
     << "      return;\n"
     << "    }\n"
     << "    const " << q << " *qs = q + bs * QF + h * D;\n"
     << "    float qh[D];\n";
  if (spec.rotateQuery)
    emitRotateHead(os, "    ", spec.headDim, *spec.rotateQuery, spec.query,
                   "qs", Elem::F32, "qh", "(cs + s * D)");
  else
    os << "    for (int64_t i = 0; i < D; ++i)\n"
       << "      qh[i] = " << load(spec.query, "qs[i]") << ";\n";
  os << "    const " << k << " *kb = " << spec.keys
     << " + b * L * KVF + (h / GROUP) * D;\n"
     << "    const " << v << " *vb = " << spec.values
     << " + b * L * KVF + (h / GROUP) * D;\n"
     << "    float *__restrict att = llamaScratch(2, last + 1);\n"
     << "    for (int64_t t = 0; t <= last; ++t) {\n"
     << "      float score = llamaDot" << helperSuffix(spec.key)
     << "(kb + t * KVF, qh, D);\n";
  // The default scale divides by sqrtf(d) as llama2.c does; sqrt is
  // correctly rounded, so the literal is the value it computes.
  if (spec.scale)
    os << "      score *= " << floatLiteral(*spec.scale) << ";\n";
  else
    os << "      score /= "
       << floatLiteral(std::sqrt(static_cast<float>(spec.headDim))) << ";\n";
  // Softmax as llama2.c: subtract the max, exponentiate, divide by the sum.
  os << "      att[t] = score;\n"
     << "    }\n"
     << "    float maxScore = -INFINITY;\n"
     << "#pragma omp simd reduction(max : maxScore)\n"
     << "    for (int64_t t = 0; t <= last; ++t)\n"
     << "      maxScore = att[t] > maxScore ? att[t] : maxScore;\n"
     << "    float sum = 0.0f;\n"
     << "#pragma omp simd reduction(+ : sum)\n"
     << "    for (int64_t t = 0; t <= last; ++t) {\n"
     << "      const float e = llamaExp(att[t] - maxScore);\n"
     << "      att[t] = e;\n"
     << "      sum += e;\n"
     << "    }\n"
     << "#pragma omp simd\n"
     << "    for (int64_t t = 0; t <= last; ++t)\n"
     << "      att[t] /= sum;\n"
     << "    float acc[D] = {};\n"
     << "    for (int64_t t = 0; t <= last; ++t) {\n"
     << "      const float a = att[t];\n"
     << "      const " << v << " *vr = vb + t * KVF;\n"
     << "#pragma omp simd\n"
     << "      for (int64_t i = 0; i < D; ++i)\n"
     << "        acc[i] += a * " << load(spec.value, "vr[i]") << ";\n"
     << "    }\n"
     << "    for (int64_t i = 0; i < D; ++i)\n"
     << "      o[i] = " << store(spec.out, "acc[i]") << ";\n"
     << "  };\n"
     << "  const int64_t visible = (int64_t)position + seq < L ? "
        "(int64_t)position + seq : L;\n"
     // A score costs about an exponential besides its 2 D multiply-adds.
     << "  llamaParallelFor(ctx, batch * seq * H, batch * seq * H * visible * "
        "(D * 2 + 16), body);\n";
}

} // namespace

LogicalResult emitAttention(AttentionOp op, StringRef symbol,
                            raw_ostream &os) {
  FailureOr<Elem> q = elemOf(op, op.getQuery()), k = elemOf(op, op.getKey()),
                  out = elemOf(op, op.getResult());
  FailureOr<std::string> keyRows = dimExpr(op, tensorType(op.getKey()), 1);
  if (failed(q) || failed(k) || failed(out) || failed(keyRows))
    return failure();
  AttentionSpec spec;
  spec.heads = op.getNumHeads();
  spec.kvHeads = op.getNumKvHeads();
  spec.headDim = tensorType(op.getQuery()).getDimSize(2) / spec.heads;
  if (op.getScale())
    spec.scale = op.getScale()->convertToDouble();
  spec.query = *q;
  spec.key = spec.value = *k;
  spec.out = *out;
  spec.keyRows = *keyRows;
  spec.keys = "k";
  spec.values = "v";

  emitSignature(os, op, symbol);
  if (failed(emitShape(os, op, op.getQuery(), op.getPosition(), spec.heads,
                       spec.kvHeads)))
    return failure();
  emitBuffer(os, "q", 0, cType(*q), true);
  emitBuffer(os, "k", 1, cType(*k), true);
  emitBuffer(os, "v", 2, cType(*k), true);
  emitBuffer(os, "out", 3, cType(*out), false);
  emitAttend(os, spec);
  os << "}\n";
  return success();
}

LogicalResult emitFusedRoPEAttention(FusedRoPEAttentionOp op,
                                     StringRef symbol, raw_ostream &os) {
  FailureOr<Elem> q = elemOf(op, op.getQuery()), k = elemOf(op, op.getKey()),
                  out = elemOf(op, op.getResults()[0]);
  if (failed(q) || failed(k) || failed(out))
    return failure();
  AttentionSpec spec;
  spec.heads = op.getNumHeads();
  spec.kvHeads = op.getNumKvHeads();
  spec.headDim = op.getHeadDim();
  if (op.getScale())
    spec.scale = op.getScale()->convertToDouble();
  spec.query = *q;
  spec.value = *k;
  spec.out = *out;
  spec.rotateQuery = op.getStyle();
  bool hasCache = op.getKeyCache() != nullptr;
  StringRef t = cType(*k);

  emitSignature(os, op, symbol);
  if (failed(emitShape(os, op, op.getQuery(), op.getPosition(), spec.heads,
                       spec.kvHeads)))
    return failure();
  emitBuffer(os, "q", 0, cType(*q), true);
  emitBuffer(os, "k", 1, t, true);
  emitBuffer(os, "v", 2, t, true);
  emitRoPETable(os, spec.headDim, op.getTheta().convertToDouble());

  if (hasCache) {
    FailureOr<int64_t> capacity =
        staticDim(op, tensorType(op.getKeyCache()), 1);
    if (failed(capacity))
      return failure();
    emitBuffer(os, "out", 5, cType(*out), false);
    os << "  constexpr int64_t CAP = " << *capacity << ";\n";
    // The updated caches are the cache operands (in place); copy only if
    // the caller passed distinct buffers.
    for (auto [name, in, res] : {std::make_tuple("kc", 3, 6),
                                 std::make_tuple("vc", 4, 7)}) {
      os << "  " << t << " *__restrict " << name << " = (" << t
         << " *)buffers[" << res << "];\n"
         << "  if (buffers[" << res << "] != buffers[" << in << "])\n"
         << "    memcpy(" << name << ", buffers[" << in
         << "], batch * CAP * KVF * sizeof(*" << name << "));\n";
    }
    os << "  for (int64_t bs = 0; bs < batch * seq; ++bs) {\n"
       << "    const int64_t s = bs % seq, b = bs / seq;\n"
       << "    const int64_t p = (int64_t)position + s;\n"
       << "    if (p < 0 || p >= CAP)\n"
       << "      continue; // past the capacity: dropped, never out of bounds\n"
       << "    for (int64_t g = 0; g < KVH; ++g) {\n"
       << "      const " << t << " *src = k + bs * KVF + g * D;\n"
       << "      " << t << " *dst = kc + (b * CAP + p) * KVF + g * D;\n";
    emitRotateHead(os, "      ", spec.headDim, op.getStyle(), *k, "src", *k,
                   "dst", "(cs + s * D)");
    os << "    }\n"
       << "    memcpy(vc + (b * CAP + p) * KVF, v + bs * KVF, KVF * "
          "sizeof(*vc));\n"
       << "  }\n";
    spec.key = *k;
    spec.keyRows = "CAP";
    spec.keys = "kc";
    spec.values = "vc";
  } else {
    emitBuffer(os, "out", 3, cType(*out), false);
    // Training: the rotated keys of this call, kept in f32.
    os << "  float *__restrict kr = llamaScratch(1, batch * seq * KVF);\n"
       << "  for (int64_t bs = 0; bs < batch * seq; ++bs)\n"
       << "    for (int64_t g = 0; g < KVH; ++g) {\n"
       << "      const " << t << " *src = k + bs * KVF + g * D;\n"
       << "      float *dst = kr + bs * KVF + g * D;\n"
       << "      const int64_t s = bs % seq;\n";
    emitRotateHead(os, "      ", spec.headDim, op.getStyle(), *k, "src",
                   Elem::F32, "dst", "(cs + s * D)");
    os << "    }\n";
    spec.key = Elem::F32;
    spec.keyRows = "seq";
    spec.keys = "kr";
    spec.values = "v";
  }
  emitAttend(os, spec);
  os << "}\n";
  return success();
}

} // namespace llamac::codegen::cpu
