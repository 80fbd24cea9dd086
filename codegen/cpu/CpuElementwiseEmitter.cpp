//===- CpuElementwiseEmitter.cpp - Row-wise and elementwise kernels -------===//
//
// embedding, rmsnorm, silu, mul, add and cross_entropy: memory-bound loops
// over rows or elements, computed in f32 with llama2.c's order of operations
// and rounded to the element type once.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuEmitterUtil.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cpu {

/// Elements per work item of an elementwise loop, so that threads get
/// contiguous chunks and tiny tensors one chunk.
static constexpr int64_t chunkElements = 16384;

LogicalResult emitEmbedding(EmbeddingOp op, StringRef symbol, raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getTable());
  FailureOr<int64_t> vocab = staticDim(op, tensorType(op.getTable()), 0);
  FailureOr<int64_t> dim = staticDim(op, tensorType(op.getTable()), 1);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(op.getResult()));
  if (failed(elem) || failed(vocab) || failed(dim) || failed(rows))
    return failure();
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t V = " << *vocab << ", F = " << *dim << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "table", 0, cType(*elem), true);
  emitBuffer(os, "tokens", 1, "int32_t", true);
  emitBuffer(os, "out", 2, cType(*elem), false);
  // A kernel cannot report errors: a token outside the vocabulary reads as
  // a row of zeros instead of memory outside the table.
  os << "  for (int64_t r = 0; r < rows; ++r) {\n"
     << "    const int32_t token = tokens[r];\n"
     << "    if (token >= 0 && token < V)\n"
     << "      memcpy(out + r * F, table + (int64_t)token * F, F * "
        "sizeof(*out));\n"
     << "    else\n"
     << "      memset(out + r * F, 0, F * sizeof(*out));\n"
     << "  }\n"
     << "}\n";
  return success();
}

LogicalResult emitRMSNorm(RMSNormOp op, StringRef symbol, raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getInput()),
                  gain = elemOf(op, op.getGain());
  FailureOr<int64_t> features = staticDim(op, tensorType(op.getInput()), 2);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(op.getInput()));
  if (failed(elem) || failed(gain) || failed(features) || failed(rows))
    return failure();
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t F = " << *features << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "in", 0, cType(*elem), true);
  emitBuffer(os, "gain", 1, cType(*gain), true);
  emitBuffer(os, "out", 2, cType(*elem), false);
  os << "  auto body = [&](int64_t r) {\n"
     << "    const " << cType(*elem) << " *x = in + r * F;\n"
     << "    float ss = 0.0f;\n"
     << "#pragma omp simd reduction(+ : ss)\n"
     << "    for (int64_t i = 0; i < F; ++i) {\n"
     << "      const float v = " << load(*elem, "x[i]") << ";\n"
     << "      ss += v * v;\n"
     << "    }\n"
     << "    ss /= (float)F;\n"
     << "    ss += " << floatLiteral(op.getEpsilon().convertToDouble()) << ";\n"
     << "    ss = 1.0f / sqrtf(ss);\n"
     << "#pragma omp simd\n"
     << "    for (int64_t i = 0; i < F; ++i)\n"
     << "      out[r * F + i] = "
     << store(*elem,
              load(*gain, "gain[i]") + " * (ss * " + load(*elem, "x[i]") + ")")
     << ";\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, rows, rows * F, body);\n"
     << "}\n";
  return success();
}

LogicalResult emitElementwise(Operation *op, StringRef symbol,
                              raw_ostream &os) {
  Value result = op->getResult(0);
  FailureOr<Elem> elem = elemOf(op, result);
  RankedTensorType type = tensorType(result);
  std::string count = "(int64_t)1";
  for (unsigned d = 0; d < type.getRank(); ++d) {
    FailureOr<std::string> dim = dimExpr(op, type, d);
    if (failed(dim))
      return failure();
    count += " * " + *dim;
  }
  if (failed(elem))
    return failure();
  std::string value;
  if (isa<SiLUOp>(op))
    value = "val * (1.0f / (1.0f + llamaExp(-val)))";
  else if (isa<MulOp>(op))
    value = load(*elem, "a[i]") + " * " + load(*elem, "b[i]");
  else
    value = load(*elem, "a[i]") + " + " + load(*elem, "b[i]");

  emitSignature(os, op, symbol);
  os << "  const int64_t count = " << count << ";\n";
  emitBuffer(os, "a", 0, cType(*elem), true);
  unsigned outIndex = 1;
  if (!isa<SiLUOp>(op))
    emitBuffer(os, "b", outIndex++, cType(*elem), true);
  emitBuffer(os, "out", outIndex, cType(*elem), false);
  emitElementwiseLoopBegin(os, chunkElements);
  if (isa<SiLUOp>(op))
    os << "      const float val = " << load(*elem, "a[i]") << ";\n";
  os << "      out[i] = " << store(*elem, value) << ";\n";
  emitElementwiseLoopEnd(os, chunkElements);
  os << "}\n";
  return success();
}

LogicalResult emitCrossEntropy(CrossEntropyOp op, StringRef symbol,
                               raw_ostream &os) {
  FailureOr<Elem> elem = emitCrossEntropyPrologue(op, op.getLogits(), symbol,
                                                  /*gradient=*/false, os);
  if (failed(elem))
    return failure();
  // Each row's -log softmax(logits)[target] = logsumexp - logit[target];
  // masked rows (weight 0) are skipped. A target outside the vocabulary
  // with a nonzero weight makes the loss NaN rather than read out of bounds.
  os << "  float *__restrict loss = llamaScratch(0, rows);\n"
     << "  auto body = [&](int64_t r) {\n"
     << "    const int32_t target = targets[r];\n"
     << "    if (weights[r] == 0.0f) {\n"
     << "      loss[r] = 0.0f;\n"
     << "      return;\n"
     << "    }\n"
     << "    if (target < 0 || target >= V) {\n"
     << "      loss[r] = NAN;\n"
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
     << "    loss[r] = maxLogit + logf(sum) - " << load(*elem, "x[target]")
     << ";\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, rows, rows * V, body);\n"
     // The weighted mean accumulates in double: a long f32 sum of rows
     // would lose bits.
     << "  double total = 0.0, weight = 0.0;\n"
     << "  for (int64_t r = 0; r < rows; ++r)\n"
     << "    if (weights[r] != 0.0f) {\n"
     << "      total += (double)weights[r] * loss[r];\n"
     << "      weight += weights[r];\n"
     << "    }\n"
     << "  out[0] = weight == 0.0 ? 0.0f : (float)(total / weight);\n"
     << "}\n";
  return success();
}

} // namespace llamac::codegen::cpu
