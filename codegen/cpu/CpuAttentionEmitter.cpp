//===- CpuAttentionEmitter.cpp - Attention, with or without fused RoPE ----===//
//
// One work item is one (batch, query token, head): it scores the visible key
// rows, softmaxes in f32 and sums the value rows, in llama2.c's order of
// operations. Query head h reads KV head h / (H / KVH) directly, so GQA never
// materializes repeated keys. The fused kernel first writes the rotated keys
// and the values of all new tokens into the caches (in place), then attends,
// so a token sees the tokens before it in the same call. Head dim 8 with f32
// keys and values (the small llama2.c models) has its own path, vectorized
// across heads: see emitAttendD8.
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

/// Prints `score = score * scale` (or the division llama2.c does).
std::string scaled(const AttentionSpec &spec, StringRef score) {
  // The default scale divides by sqrtf(d) as llama2.c does; sqrt is
  // correctly rounded, so the literal is the value it computes.
  if (spec.scale)
    return (score + " * " + floatLiteral(*spec.scale)).str();
  return (score + " / " +
          floatLiteral(std::sqrt(static_cast<float>(spec.headDim))))
      .str();
}

/// Softmax of `count` scores at `a`, in place, as llama2.c: subtract the
/// max, exponentiate, divide by the sum.
void emitSoftmax(raw_ostream &os, StringRef indent, StringRef a,
                 StringRef count) {
  os << indent << "float maxScore = -INFINITY;\n"
     << "#pragma omp simd reduction(max : maxScore)\n"
     << indent << "for (int64_t t = 0; t < " << count << "; ++t)\n"
     << indent << "  maxScore = " << a << "[t] > maxScore ? " << a
     << "[t] : maxScore;\n"
     << indent << "float sum = 0.0f;\n"
     << "#pragma omp simd reduction(+ : sum)\n"
     << indent << "for (int64_t t = 0; t < " << count << "; ++t) {\n"
     << indent << "  const float e = llamaExp(" << a << "[t] - maxScore);\n"
     << indent << "  " << a << "[t] = e;\n"
     << indent << "  sum += e;\n"
     << indent << "}\n"
     << "#pragma omp simd\n"
     << indent << "for (int64_t t = 0; t < " << count << "; ++t)\n"
     << indent << "  " << a << "[t] /= sum;\n";
}

/// Head dim 8 with f32 keys and values, heads in blocks of 8: one work item
/// is one query token with all its heads, and the scores are stored [t][h],
/// so that scores, softmax and the weighted sum are vectorized across heads
/// (a head of 8 is one AVX register, too short to loop along) and each key
/// and value row is read once for every head that shares it.
void emitAttendD8(raw_ostream &os, const AttentionSpec &spec) {
  os << "  const int64_t L = " << spec.keyRows << ";\n"
     << "  auto body = [&](int64_t bs) {\n"
     << "    const int64_t s = bs % seq, b = bs / seq;\n"
     << "    int64_t last = (int64_t)position + s; // causal: rows <= p + s\n"
     << "    if (last > L - 1)\n"
     << "      last = L - 1;\n"
     << "    " << cType(spec.out) << " *__restrict o = out + bs * QF;\n"
     << "    if (last < 0) {\n"
     << "      for (int64_t i = 0; i < QF; ++i)\n"
     << "        o[i] = " << store(spec.out, "0.0f") << ";\n"
     << "      return;\n"
     << "    }\n"
     << "    const int64_t rows = last + 1;\n"
     << "    const " << cType(spec.query) << " *qs = q + bs * QF;\n"
     << "    float qh[QF];\n"
     << "    for (int64_t h = 0; h < H; ++h) {\n";
  if (spec.rotateQuery)
    emitRotateHead(os, "      ", spec.headDim, *spec.rotateQuery, spec.query,
                   "(qs + h * D)", Elem::F32, "(qh + h * D)", "(cs + s * D)");
  else
    os << "      for (int64_t i = 0; i < D; ++i)\n"
       << "        qh[h * D + i] = " << load(spec.query, "qs[h * D + i]")
       << ";\n";
  os << "    }\n"
     << "    const float *kb = " << spec.keys << " + b * L * KVF;\n"
     << "    const float *vb = " << spec.values
     << " + b * L * KVF;\n"
     // f32 results are accumulated in place: g++ keeps the accumulators in
     // registers only when they are stored straight to the output.
     << "    " << (spec.out == Elem::F32 ? "float *acc = o;" : "float acc[QF];")
     << "\n"
     // The softmax of every head at once: its loops run across heads, so a
     // key row is whole vectors and no row count leaves a remainder.
     << "    float maxScore[H], sum[H];\n"
     << "    for (int64_t h = 0; h < H; ++h) {\n"
     << "      maxScore[h] = -INFINITY;\n"
     << "      sum[h] = 0.0f;\n"
     << "    }\n"
     << "    float *__restrict att = llamaScratch(2, rows * H); // [t][h]\n"
     << "    for (int64_t t = 0; t < rows; ++t) {\n"
     << "      for (int64_t hb = 0; hb < H; hb += 8)\n"
     << "        llamaScoresD8F32<(GROUP < 8 ? GROUP : 8)>(kb + t * KVF + hb / "
        "GROUP * D, qh + hb * D, att + t * H + hb);\n"
     << "#pragma omp simd\n"
     << "      for (int64_t h = 0; h < H; ++h) {\n"
     << "        const float score = " << scaled(spec, "att[t * H + h]")
     << ";\n"
     << "        att[t * H + h] = score;\n"
     << "        maxScore[h] = score > maxScore[h] ? score : maxScore[h];\n"
     << "      }\n"
     << "    }\n"
     << "    for (int64_t t = 0; t < rows; ++t)\n"
     << "#pragma omp simd\n"
     << "      for (int64_t h = 0; h < H; ++h) {\n"
     << "        const float e = llamaExp(att[t * H + h] - maxScore[h]);\n"
     << "        att[t * H + h] = e;\n"
     << "        sum[h] += e;\n"
     << "      }\n"
     << "    for (int64_t hb = 0; hb < H; hb += 8)\n"
     << "      llamaAttendD8F32<(GROUP < 8 ? GROUP : 8)>(vb + hb / GROUP * D, "
        "KVF, att + hb, H, sum + hb, rows, acc + hb * D);\n";
  if (spec.out != Elem::F32)
    os << "    for (int64_t i = 0; i < QF; ++i)\n"
       << "      o[i] = " << store(spec.out, "acc[i]") << ";\n";
  os << "  };\n"
     << "  const int64_t visible = (int64_t)position + seq < L ? "
        "(int64_t)position + seq : L;\n"
     << "  llamaParallelFor(ctx, batch * seq, batch * seq * H * visible * "
        "(D * 2 + 16), body);\n";
}

void emitAttend(raw_ostream &os, const AttentionSpec &spec) {
  int64_t group = spec.heads / spec.kvHeads;
  if (spec.headDim == 8 && spec.key == Elem::F32 && spec.value == Elem::F32 &&
      spec.heads % 8 == 0 && (8 % group == 0 || group % 8 == 0))
    return emitAttendD8(os, spec);
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
  os << "      att[t] = " << scaled(spec, "score") << ";\n"
     << "    }\n";
  emitSoftmax(os, "    ", "att", "last + 1");
  os << "    float acc[D] = {};\n"
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

LogicalResult emitAttention(AttentionOp op, StringRef symbol, raw_ostream &os) {
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

LogicalResult emitFusedRoPEAttention(FusedRoPEAttentionOp op, StringRef symbol,
                                     raw_ostream &os) {
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
    for (auto [name, in, res] :
         {std::make_tuple("kc", 3, 6), std::make_tuple("vc", 4, 7)}) {
      os << "  " << t << " *__restrict " << name << " = (" << t << " *)buffers["
         << res << "];\n"
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
