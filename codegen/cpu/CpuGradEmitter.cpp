//===- CpuGradEmitter.cpp - Kernels of the backward ops -------------------===//
//
// The backward ops of llama-autodiff as plain loops, computed in f32 and
// rounded to the element type once. Reductions over rows (weight, gain and
// table gradients, the K/V gradients of attention) are split so that each
// thread owns whole output rows: no atomics, and the same sums in the same
// order whatever the thread count.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuGradEmitter.h"
#include "codegen/cpu/CpuEmitterUtil.h"

#include <cmath>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cpu {

/// Elements per work item of an elementwise loop (as the forward kernels).
static constexpr int64_t gradChunkElements = 16384;

/// Prints, inside a row loop over `r`, RMSNorm's backward scalars of row r
/// of `in`: `rinv` (1/rms, also kept in `inv[r]` for the gain's column sums)
/// and `scale` = rinv² mean(g dy x), where the upstream gradient of column
/// `c` is `dyAt`. dx is then rinv (g dy - x scale).
static void emitRMSNormBackwardScale(raw_ostream &os, Elem elem, Elem gain,
                                     StringRef features, StringRef dyAt,
                                     double epsilon) {
  std::string f = features.str();
  os << "    float ss = 0.0f, dot = 0.0f;\n"
     << "#pragma omp simd reduction(+ : ss, dot)\n"
     << "    for (int64_t c = 0; c < " << f << "; ++c) {\n"
     << "      const float v = " << load(elem, "in[r * " + f + " + c]")
     << ";\n"
     << "      ss += v * v;\n"
     << "      dot += " << load(gain, "gain[c]") << " * " << dyAt << " * v;\n"
     << "    }\n"
     << "    ss /= (float)" << f << ";\n"
     << "    ss += " << floatLiteral(epsilon) << ";\n"
     << "    const float rinv = 1.0f / sqrtf(ss);\n"
     << "    inv[r] = rinv;\n"
     << "    const float scale = rinv * rinv * dot / (float)" << f << ";\n";
}

/// Activation rows per work item of dx = sum_i dy_i · W_i: each weight row
/// is read once per block instead of once per activation row.
static constexpr int64_t gradRowBlock = 64;
/// Weight rows per work item of dW = dyᵀ · x: each activation row is read
/// once per block of weight rows.
static constexpr int64_t gradWeightBlock = 64;
/// Reduction steps per pass of the f32 tiles (llamaOuterTile): the operand
/// streamed along the reduction stays in L2 while every tile passes over it.
static constexpr int64_t gradReductionBlock = 256;

/// One matmul's part of dx, for the blocked loops below: W (`[width, K]` of
/// `weightElem`) at `weight` and its upstream gradient at `dy`.
struct DxTerm {
  std::string weight;
  std::string dy;
  int64_t width;
};

/// Prints, inside a lambda over row blocks `b`, `r0`/`r1` (the block's rows)
/// and `acc` (rows r0..r1 of `accBase`, K floats each) holding
/// sum_i dy_i[r] · W_i. Every element sums its terms in order of i and of
/// the weight row, whatever the blocking.
static void emitBlockedDx(raw_ostream &os, Elem elem, Elem weightElem,
                          StringRef accBase, ArrayRef<DxTerm> terms) {
  os << "    const int64_t r0 = b * " << gradRowBlock << ";\n"
     << "    const int64_t r1 = r0 + " << gradRowBlock
     << " < rows ? r0 + " << gradRowBlock << " : rows;\n"
     << "    float *__restrict acc = " << accBase << " + r0 * K;\n"
     << "    for (int64_t c = 0; c < (r1 - r0) * K; ++c)\n"
     << "      acc[c] = 0.0f;\n";
  bool tiled = elem == Elem::F32 && weightElem == Elem::F32;
  for (const DxTerm &term : terms) {
    std::string width = std::to_string(term.width);
    os << "    {\n"
       << "      const " << cType(weightElem) << " *__restrict w = "
       << term.weight << ";\n"
       << "      const " << cType(elem) << " *__restrict dy = " << term.dy
       << ";\n";
    if (tiled) {
      os << "      for (int64_t j0 = 0; j0 < " << width
         << "; j0 += " << gradReductionBlock << ") {\n"
         << "        const int64_t jn = " << width << " - j0 < "
         << gradReductionBlock << " ? " << width << " - j0 : "
         << gradReductionBlock << ";\n"
         << "        for (int64_t r = r0; r < r1; r += 4)\n"
         << "          for (int64_t c = 0; c < K; c += 16)\n"
         << "            llamaOuterTile(dy + r * " << width << " + j0, " << width
         << ", 1, r1 - r < 4 ? r1 - r : 4, w + j0 * K + c, K,\n"
         << "                           K - c < 16 ? K - c : 16, jn, acc + (r - "
            "r0) * K + c, K);\n"
         << "      }\n"
         << "    }\n";
      continue;
    }
    os << "      for (int64_t j = 0; j < " << width << "; ++j)\n"
       << "        for (int64_t r = r0; r < r1; ++r) {\n"
       << "          const float a = " << load(elem, "dy[r * " + width + " + j]")
       << ";\n"
       << "          float *__restrict out = acc + (r - r0) * K;\n"
       << "#pragma omp simd\n"
       << "          for (int64_t c = 0; c < K; ++c)\n"
       << "            out[c] += a * " << load(weightElem, "w[j * K + c]")
       << ";\n"
       << "        }\n"
       << "    }\n";
  }
}

/// Prints a parallel loop writing dw = dyᵀ · src (`[width, K]`), where
/// `srcAt` reads element c of activation row r as f32, and `srcF32`, when
/// not empty, is src itself as a `const float *` (which allows the f32
/// tiles). Each weight element sums the activation rows in order.
static void emitBlockedDw(raw_ostream &os, Elem elem, Elem weightElem,
                          StringRef dy, StringRef dw, int64_t width,
                          StringRef srcAt, StringRef srcF32) {
  std::string n = std::to_string(width);
  os << "  {\n"
     << "    const " << cType(elem) << " *__restrict dy = " << dy << ";\n"
     << "    " << cType(weightElem) << " *__restrict dw = " << dw << ";\n"
     << "    auto dwBlock = [&](int64_t b) {\n"
     << "      const int64_t j0 = b * " << gradWeightBlock << ";\n"
     << "      const int64_t j1 = j0 + " << gradWeightBlock << " < " << n
     << " ? j0 + " << gradWeightBlock << " : " << n << ";\n"
     << "      float *__restrict acc = llamaScratch(3, " << gradWeightBlock
     << " * K);\n"
     << "      for (int64_t c = 0; c < (j1 - j0) * K; ++c)\n"
     << "        acc[c] = 0.0f;\n";
  if (elem == Elem::F32 && !srcF32.empty()) {
    os << "      const float *__restrict src = " << srcF32 << ";\n"
       << "      for (int64_t q0 = 0; q0 < rows; q0 += " << gradReductionBlock
       << ") {\n"
       << "        const int64_t qn = rows - q0 < " << gradReductionBlock
       << " ? rows - q0 : " << gradReductionBlock << ";\n"
       << "        for (int64_t j = j0; j < j1; j += 4)\n"
       << "          for (int64_t c = 0; c < K; c += 16)\n"
       << "            llamaOuterTile(dy + q0 * " << n << " + j, 1, " << n
       << ", j1 - j < 4 ? j1 - j : 4, src + q0 * K + c, K,\n"
       << "                           K - c < 16 ? K - c : 16, qn, acc + (j - "
          "j0) * K + c, K);\n"
       << "      }\n";
  } else {
    os << "      for (int64_t r = 0; r < rows; ++r)\n"
       << "        for (int64_t j = j0; j < j1; ++j) {\n"
       << "          const float a = " << load(elem, "dy[r * " + n + " + j]")
       << ";\n"
       << "          float *__restrict out = acc + (j - j0) * K;\n"
       << "#pragma omp simd\n"
       << "          for (int64_t c = 0; c < K; ++c)\n"
       << "            out[c] += a * " << srcAt << ";\n"
       << "        }\n";
  }
  os << "      for (int64_t c = 0; c < (j1 - j0) * K; ++c)\n"
     << "        dw[j0 * K + c] = " << store(weightElem, "acc[c]") << ";\n"
     << "    };\n"
     << "    llamaParallelFor(ctx, (" << n << " + " << gradWeightBlock - 1
     << ") / " << gradWeightBlock << ", rows * " << n << " * K, dwBlock);\n"
     << "  }\n";
}

LogicalResult emitEmbeddingGrad(EmbeddingGradOp op, StringRef symbol,
                                raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getResult());
  FailureOr<int64_t> vocab = staticDim(op, tensorType(op.getResult()), 0);
  FailureOr<int64_t> dim = staticDim(op, tensorType(op.getResult()), 1);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(op.getDy()));
  if (failed(elem) || failed(vocab) || failed(dim) || failed(rows))
    return failure();
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t V = " << *vocab << ", F = " << *dim << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "tokens", 0, "int32_t", true);
  emitBuffer(os, "dy", 1, cType(*elem), true);
  emitBuffer(os, "out", 2, cType(*elem), false);
  // Each thread owns a range of columns, so the scatter-add needs no
  // atomics and sums the rows of one token in row order.
  os << "  float *__restrict acc = llamaScratch(0, V * F);\n"
     << "  memset(acc, 0, V * F * sizeof(float));\n"
     << "  for (int64_t r = 0; r < rows; ++r) {\n"
     << "    const int32_t token = tokens[r];\n"
     << "    if (token < 0 || token >= V)\n"
     << "      continue;\n"
     << "#pragma omp simd\n"
     << "    for (int64_t i = 0; i < F; ++i)\n"
     << "      acc[(int64_t)token * F + i] += " << load(*elem, "dy[r * F + i]")
     << ";\n"
     << "  }\n"
     << "#pragma omp simd\n"
     << "  for (int64_t i = 0; i < V * F; ++i)\n"
     << "    out[i] = " << store(*elem, "acc[i]") << ";\n"
     << "}\n";
  return success();
}

LogicalResult emitRMSNormGrad(RMSNormGradOp op, StringRef symbol,
                              raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getInput()),
                  gain = elemOf(op, op.getGain());
  FailureOr<int64_t> features = staticDim(op, tensorType(op.getInput()), 2);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(op.getInput()));
  if (failed(elem) || failed(gain) || failed(features) || failed(rows))
    return failure();
  std::string t = cType(*elem), tg = cType(*gain);
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t F = " << *features << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "in", 0, t, true);
  emitBuffer(os, "gain", 1, tg, true);
  emitBuffer(os, "dy", 2, t, true);
  emitBuffer(os, "dx", 3, t, false);
  emitBuffer(os, "dgain", 4, tg, false);
  // dx[i] = r (g[i] dy[i] - x[i] r² mean(g dy x)), r = 1/rms(x); the
  // per-row r is kept for the gain's column sums.
  os << "  float *__restrict inv = llamaScratch(0, rows);\n"
     << "  auto body = [&](int64_t r) {\n";
  emitRMSNormBackwardScale(os, *elem, *gain, "F",
                           load(*elem, "dy[r * F + c]"),
                           op.getEpsilon().convertToDouble());
  os << "#pragma omp simd\n"
     << "    for (int64_t c = 0; c < F; ++c)\n"
     << "      dx[r * F + c] = "
     << store(*elem, "rinv * (" + load(*gain, "gain[c]") + " * " +
                         load(*elem, "dy[r * F + c]") + " - " +
                         load(*elem, "in[r * F + c]") + " * scale)")
     << ";\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, rows, rows * F, body);\n"
     << "  float *__restrict acc = llamaScratch(1, F);\n"
     << "  memset(acc, 0, F * sizeof(float));\n"
     << "  for (int64_t r = 0; r < rows; ++r) {\n"
     << "#pragma omp simd\n"
     << "    for (int64_t i = 0; i < F; ++i)\n"
     << "      acc[i] += " << load(*elem, "dy[r * F + i]") << " * "
     << load(*elem, "in[r * F + i]") << " * inv[r];\n"
     << "  }\n"
     << "  for (int64_t i = 0; i < F; ++i)\n"
     << "    dgain[i] = " << store(*gain, "acc[i]") << ";\n"
     << "}\n";
  return success();
}

LogicalResult emitMatmulGrad(MatmulGradOp op, StringRef symbol,
                             raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getInput()),
                  welem = elemOf(op, op.getWeight());
  FailureOr<int64_t> k = staticDim(op, tensorType(op.getWeight()), 1);
  FailureOr<int64_t> n = staticDim(op, tensorType(op.getWeight()), 0);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(op.getInput()));
  if (failed(elem) || failed(welem) || failed(k) || failed(n) || failed(rows))
    return failure();
  std::string t = cType(*elem), tw = cType(*welem);
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t K = " << *k << ", N = " << *n << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "x", 0, t, true);
  emitBuffer(os, "dx", 3, t, false);
  // dx = dy · W (W is buffer 1, dy buffer 2) and dW = dyᵀ · x (buffer 4), each blocked so that the operand it
  // streams stays in cache.
  os << "  float *__restrict dxAcc = llamaScratch(2, rows * K);\n"
     << "  auto dxBlock = [&](int64_t b) {\n";
  emitBlockedDx(os, *elem, *welem, "dxAcc",
                {{"(const " + tw + " *)buffers[1]",
                  "(const " + t + " *)buffers[2]", *n}});
  os << "    for (int64_t c = 0; c < (r1 - r0) * K; ++c)\n"
     << "      dx[r0 * K + c] = " << store(*elem, "acc[c]") << ";\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, (rows + " << gradRowBlock - 1 << ") / "
     << gradRowBlock << ", rows * N * K, dxBlock);\n";
  emitBlockedDw(os, *elem, *welem, "(const " + t + " *)buffers[2]",
                "(" + tw + " *)buffers[4]", *n, load(*elem, "x[r * K + c]"),
                *elem == Elem::F32 ? "(const float *)x" : "");
  os << "}\n";
  return success();
}

LogicalResult emitFusedRMSNormMatmulGrad(FusedRMSNormMatmulGradOp op,
                                         StringRef symbol, raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getInput()),
                  gain = elemOf(op, op.getGain());
  FailureOr<int64_t> k = staticDim(op, tensorType(op.getInput()), 2);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(op.getInput()));
  if (failed(elem) || failed(gain) || failed(k) || failed(rows))
    return failure();
  unsigned n = op.getWeights().size();
  SmallVector<int64_t> widths;
  for (Value weight : op.getWeights()) {
    FailureOr<int64_t> width = staticDim(op, tensorType(weight), 0);
    if (failed(width))
      return failure();
    widths.push_back(*width);
  }
  std::string t = cType(*elem), tg = cType(*gain);
  bool residual = op.getResidual() != nullptr;
  // Buffers: input, gain, weights, dys, [residual], dinput, dgain, dweights.
  unsigned dinputIndex = 2 + 2 * n + (residual ? 1 : 0);
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t K = " << *k << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "in", 0, t, true);
  emitBuffer(os, "gain", 1, tg, true);
  if (residual)
    emitBuffer(os, "res", 2 + 2 * n, t, true);
  emitBuffer(os, "dx", dinputIndex, t, false);
  emitBuffer(os, "dgain", dinputIndex + 1, tg, false);
  // Per row: dn = sum_i dy_i · W_i, then the norm's backward, and the norm's
  // output (recomputed, rounded as the forward stored it) for the weight
  // gradients. dn and the per-row 1/rms are kept for the gain's column sums.
  os << "  float *__restrict dn = llamaScratch(0, rows * K);\n"
     << "  float *__restrict normed = llamaScratch(1, rows * K);\n"
     << "  float *__restrict inv = llamaScratch(2, rows);\n"
     << "  auto rowBlock = [&](int64_t b) {\n";
  SmallVector<DxTerm> terms;
  for (unsigned i = 0; i < n; ++i)
    terms.push_back({"(const " + t + " *)buffers[" + std::to_string(2 + i) + "]",
                     "(const " + t + " *)buffers[" +
                         std::to_string(2 + n + i) + "]",
                     widths[i]});
  emitBlockedDx(os, *elem, *elem, "dn", terms);
  os << "    for (int64_t r = r0; r < r1; ++r) {\n"
     << "    float *__restrict acc = dn + r * K;\n";
  emitRMSNormBackwardScale(os, *elem, *gain, "K", "acc[c]",
                           op.getEpsilon().convertToDouble());
  os << "#pragma omp simd\n"
     << "    for (int64_t c = 0; c < K; ++c) {\n"
     << "      const float v = " << load(*elem, "in[r * K + c]") << ";\n"
     << "      const float g = " << load(*gain, "gain[c]") << ";\n"
     << "      dx[r * K + c] = "
     << store(*elem, "rinv * (g * acc[c] - v * scale)" +
                         std::string(residual ? " + " +
                                                    load(*elem, "res[r * K + c]")
                                              : ""))
     << ";\n"
     << "      normed[r * K + c] = "
     << load(*elem, store(*elem, "v * rinv * g")) << ";\n"
     << "    }\n"
     << "    }\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, (rows + " << gradRowBlock - 1 << ") / "
     << gradRowBlock << ", rows * K, rowBlock);\n"
     << "  float *__restrict gacc = llamaScratch(3, K);\n"
     << "  memset(gacc, 0, K * sizeof(float));\n"
     << "  for (int64_t r = 0; r < rows; ++r) {\n"
     << "#pragma omp simd\n"
     << "    for (int64_t c = 0; c < K; ++c)\n"
     << "      gacc[c] += dn[r * K + c] * " << load(*elem, "in[r * K + c]")
     << " * inv[r];\n"
     << "  }\n"
     << "  for (int64_t c = 0; c < K; ++c)\n"
     << "    dgain[c] = " << store(*gain, "gacc[c]") << ";\n";
  // dW_i = dy_iᵀ · normed.
  for (unsigned i = 0; i < n; ++i)
    emitBlockedDw(os, *elem, *elem,
                  "(const " + t + " *)buffers[" + std::to_string(2 + n + i) +
                      "]",
                  "(" + t + " *)buffers[" + std::to_string(dinputIndex + 2 + i) +
                      "]",
                  widths[i], "normed[r * K + c]", "normed");
  os << "}\n";
  return success();
}

LogicalResult emitRoPEGrad(RoPEGradOp op, StringRef symbol, raw_ostream &os) {
  // A rotation's gradient is the rotation by the opposite angles.
  return emitRotation(op, op.getDy(), op.getPosition(), op.getHeadDim(),
                      op.getTheta().convertToDouble(), op.getStyle(),
                      /*inverse=*/true, symbol, os);
}

LogicalResult emitAttentionGrad(AttentionGradOp op, StringRef symbol,
                                raw_ostream &os) {
  RankedTensorType qType = tensorType(op.getQuery());
  RankedTensorType kType = tensorType(op.getKey());
  FailureOr<Elem> elem = elemOf(op, op.getQuery());
  FailureOr<std::string> batch = dimExpr(op, qType, 0);
  FailureOr<std::string> seq = dimExpr(op, qType, 1);
  FailureOr<std::string> keys = dimExpr(op, kType, 1);
  FailureOr<int64_t> qFeatures = staticDim(op, qType, 2);
  FailureOr<int64_t> kvFeatures = staticDim(op, kType, 2);
  if (failed(elem) || failed(batch) || failed(seq) || failed(keys) ||
      failed(qFeatures) || failed(kvFeatures))
    return failure();
  int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
  int64_t d = *qFeatures / heads;
  double scale = op.getScale() ? op.getScale()->convertToDouble()
                               : 1.0 / std::sqrt(static_cast<double>(d));
  std::string t = cType(*elem);
  auto ld = [&](StringRef expr) { return load(*elem, expr); };
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t D = " << d << ", H = " << heads
     << ", KVH = " << kvHeads << ", G = H / KVH;\n"
     << "  constexpr int64_t QF = H * D, KF = KVH * D;\n"
     << "  constexpr float scale = " << floatLiteral(scale) << ";\n"
     << "  const int64_t batch = " << *batch << ", seq = " << *seq
     << ", L = " << *keys << ";\n"
     << "  const int32_t position = " << positionExpr(op.getPosition())
     << ";\n";
  emitBuffer(os, "q", 0, t, true);
  emitBuffer(os, "k", 1, t, true);
  emitBuffer(os, "v", 2, t, true);
  emitBuffer(os, "dout", 3, t, true);
  emitBuffer(os, "dq", 4, t, false);
  emitBuffer(os, "dk", 5, t, false);
  emitBuffer(os, "dv", 6, t, false);
  // One work item per (batch row, KV head): it owns the dK and dV of that
  // head, summed over its group of query heads in f32 scratch, and the dQ
  // of the group. The probabilities are recomputed, never stored.
  os << "  auto body = [&](int64_t item) {\n"
     << "    const int64_t b = item / KVH, g = item % KVH;\n"
     << "    float *__restrict scratch = llamaScratch(2, 2 * L * D + 2 * L);\n"
     << "    float *__restrict accK = scratch, *__restrict accV = scratch + L "
        "* D;\n"
     << "    float *__restrict p = scratch + 2 * L * D, *__restrict dp = p + "
        "L;\n"
     << "    for (int64_t i = 0; i < 2 * L * D; ++i)\n"
     << "      scratch[i] = 0.0f;\n"
     << "    for (int64_t h = g * G; h < (g + 1) * G; ++h) {\n"
     << "      for (int64_t s = 0; s < seq; ++s) {\n"
     << "        const " << t << " *qs = q + (b * seq + s) * QF + h * D;\n"
     << "        const " << t << " *dos = dout + (b * seq + s) * QF + h * D;\n"
     << "        int64_t last = (int64_t)position + s;\n"
     << "        if (last > L - 1)\n"
     << "          last = L - 1;\n"
     << "        float maxScore = -INFINITY;\n"
     << "        for (int64_t j = 0; j <= last; ++j) {\n"
     << "          const " << t << " *kj = k + (b * L + j) * KF + g * D;\n"
     << "          const " << t << " *vj = v + (b * L + j) * KF + g * D;\n"
     << "          float dot = 0.0f, dov = 0.0f;\n"
     << "#pragma omp simd reduction(+ : dot, dov)\n"
     << "          for (int64_t i = 0; i < D; ++i) {\n"
     << "            dot += " << ld("qs[i]") << " * " << ld("kj[i]") << ";\n"
     << "            dov += " << ld("dos[i]") << " * " << ld("vj[i]") << ";\n"
     << "          }\n"
     << "          p[j] = dot * scale;\n"
     << "          dp[j] = dov;\n"
     << "          maxScore = p[j] > maxScore ? p[j] : maxScore;\n"
     << "        }\n"
     << "        float sum = 0.0f;\n"
     << "        for (int64_t j = 0; j <= last; ++j) {\n"
     << "          p[j] = llamaExp(p[j] - maxScore);\n"
     << "          sum += p[j];\n"
     << "        }\n"
     << "        float pdp = 0.0f;\n"
     << "        for (int64_t j = 0; j <= last; ++j) {\n"
     << "          p[j] /= sum;\n"
     << "          pdp += p[j] * dp[j];\n"
     << "        }\n"
     << "        float accQ[D];\n"
     << "        for (int64_t i = 0; i < D; ++i)\n"
     << "          accQ[i] = 0.0f;\n"
     << "        for (int64_t j = 0; j <= last; ++j) {\n"
     << "          const " << t << " *kj = k + (b * L + j) * KF + g * D;\n"
     << "          const float ds = p[j] * (dp[j] - pdp) * scale;\n"
     << "#pragma omp simd\n"
     << "          for (int64_t i = 0; i < D; ++i) {\n"
     << "            accQ[i] += ds * " << ld("kj[i]") << ";\n"
     << "            accK[j * D + i] += ds * " << ld("qs[i]") << ";\n"
     << "            accV[j * D + i] += p[j] * " << ld("dos[i]") << ";\n"
     << "          }\n"
     << "        }\n"
     << "        " << t << " *dqs = dq + (b * seq + s) * QF + h * D;\n"
     << "        for (int64_t i = 0; i < D; ++i)\n"
     << "          dqs[i] = " << store(*elem, "accQ[i]") << ";\n"
     << "      }\n"
     << "    }\n"
     << "    for (int64_t j = 0; j < L; ++j)\n"
     << "      for (int64_t i = 0; i < D; ++i) {\n"
     << "        dk[(b * L + j) * KF + g * D + i] = "
     << store(*elem, "accK[j * D + i]") << ";\n"
     << "        dv[(b * L + j) * KF + g * D + i] = "
     << store(*elem, "accV[j * D + i]") << ";\n"
     << "      }\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, batch * KVH, batch * H * seq * L * D * 4, "
        "body);\n"
     << "}\n";
  return success();
}

/// silu_grad and swiglu_grad: one pass over the elements.
LogicalResult emitSiLUGrads(Operation *op, StringRef symbol, raw_ostream &os) {
  Value first = op->getOperand(0);
  FailureOr<Elem> elem = elemOf(op, first);
  RankedTensorType type = tensorType(first);
  std::string count = "(int64_t)1";
  for (unsigned d = 0; d < type.getRank(); ++d) {
    FailureOr<std::string> dim = dimExpr(op, type, d);
    if (failed(dim))
      return failure();
    count += " * " + *dim;
  }
  if (failed(elem))
    return failure();
  bool swiglu = isa<SwiGLUGradOp>(op);
  std::string t = cType(*elem);
  emitSignature(os, op, symbol);
  os << "  const int64_t count = " << count << ";\n";
  for (auto [index, buffer] : llvm::enumerate(siluGradBuffers(swiglu)))
    emitBuffer(os, buffer.name, index, t, buffer.input);
  emitElementwiseLoopBegin(os, gradChunkElements);
  emitSiLUGradElement(
      os, "      ", swiglu, [&](StringRef e) { return load(*elem, e); },
      [&](StringRef e) { return store(*elem, e); }, "llamaExp");
  emitElementwiseLoopEnd(os, gradChunkElements);
  os << "}\n";
  return success();
}

LogicalResult emitCrossEntropyGrad(CrossEntropyGradOp op, StringRef symbol,
                                   raw_ostream &os) {
  FailureOr<Elem> elem = emitCrossEntropyPrologue(op, op.getLogits(), symbol,
                                                  /*gradient=*/true, os);
  if (failed(elem))
    return failure();
  // The same weight sum as the forward kernel (in double, skipping zeros),
  // so that the gradient is of exactly the loss it computes.
  os << "  double weight = 0.0;\n"
     << "  for (int64_t r = 0; r < rows; ++r)\n"
     << "    if (weights[r] != 0.0f)\n"
     << "      weight += weights[r];\n"
     << "  auto body = [&](int64_t r) {\n"
     << "    const int32_t target = targets[r];\n"
     << "    const float w = weights[r];\n"
     << "    if (w == 0.0f || weight == 0.0) {\n"
     << "      for (int64_t i = 0; i < V; ++i)\n"
     << "        out[r * V + i] = " << store(*elem, "0.0f") << ";\n"
     << "      return;\n"
     << "    }\n"
     << "    if (target < 0 || target >= V) {\n"
     << "      for (int64_t i = 0; i < V; ++i)\n"
     << "        out[r * V + i] = " << store(*elem, "NAN") << ";\n"
     << "      return;\n"
     << "    }\n"
     << "    const " << cType(*elem) << " *x = logits + r * V;\n"
     << "    float maxLogit = -INFINITY;\n"
     << "    for (int64_t i = 0; i < V; ++i) {\n"
     << "      const float v = " << load(*elem, "x[i]") << ";\n"
     << "      maxLogit = v > maxLogit ? v : maxLogit;\n"
     << "    }\n"
     << "    float sum = 0.0f;\n"
     << "    for (int64_t i = 0; i < V; ++i)\n"
     << "      sum += llamaExp(" << load(*elem, "x[i]") << " - maxLogit);\n"
     << "    const float scaled = (float)(w / weight), c = scaled / sum;\n"
     << "    for (int64_t i = 0; i < V; ++i)\n"
     << "      out[r * V + i] = "
     << store(*elem, "c * llamaExp(" + load(*elem, "x[i]") +
                         " - maxLogit) - (i == target ? scaled : 0.0f)")
     << ";\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, rows, rows * V, body);\n"
     << "}\n";
  return success();
}

} // namespace llamac::codegen::cpu
