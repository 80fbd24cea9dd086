//===- LlamaOps.cpp - Verifiers of the llama dialect ----------------------===//
//
// Each verifier names the operand and the dimension at fault, so that a user
// reading an error from the frontend or from hand-written IR knows what to fix.
// Dynamic dimensions are compatible with anything; they are checked at run
// time.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "ir/LlamaVerifier.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>

using namespace mlir;
using namespace llamac::llama;

#define GET_OP_CLASSES
#include "ir/LlamaOps.cpp.inc"

namespace llamac::llama::detail {

bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string dimText(int64_t d) {
  return ShapedType::isDynamic(d) ? "?" : std::to_string(d);
}

RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Checks that `value` is rank `rank`; `what` names it in the diagnostic.
LogicalResult checkRank(Operation *op, Value value, int64_t rank,
                        StringRef what) {
  int64_t actual = tensorOf(value).getRank();
  if (actual == rank)
    return success();
  return op->emitOpError() << "expects " << what << " of rank " << rank
                           << ", got rank " << actual;
}

/// Checks dimension `dim` of `a` and `b` agree.
LogicalResult checkDim(Operation *op, Value a, int64_t dimA, StringRef whatA,
                       Value b, int64_t dimB, StringRef whatB) {
  int64_t x = tensorOf(a).getDimSize(dimA), y = tensorOf(b).getDimSize(dimB);
  if (compatible(x, y))
    return success();
  return op->emitOpError() << whatA << " (" << dimText(x) << ") must equal "
                           << whatB << " (" << dimText(y) << ")";
}

LogicalResult checkSameElementType(Operation *op, Value a, StringRef whatA,
                                   Value b, StringRef whatB) {
  Type x = tensorOf(a).getElementType(), y = tensorOf(b).getElementType();
  if (x == y)
    return success();
  return op->emitOpError() << whatA << " element type " << x
                           << " differs from " << whatB << " element type "
                           << y;
}

/// Checks that `result` is `[batch, seq, features]` of `like`'s element type,
/// with batch and sequence taken from the activation `like`.
LogicalResult checkActivationResult(Operation *op, Value result, Value like,
                                    int64_t features) {
  if (failed(checkRank(op, result, 3, "result")) ||
      failed(checkDim(op, result, 0, "result batch", like, 0, "input batch")) ||
      failed(
          checkDim(op, result, 1, "result sequence", like, 1, "input sequence")))
    return failure();
  int64_t n = tensorOf(result).getDimSize(2);
  if (!compatible(n, features))
    return op->emitOpError() << "result feature dimension (" << dimText(n)
                             << ") must be " << dimText(features);
  return checkSameElementType(op, result, "result", like, "input");
}

LogicalResult checkPositive(Operation *op, int64_t value, StringRef name) {
  if (value > 0)
    return success();
  return op->emitOpError() << name << " must be positive, got " << value;
}

/// Shared by llama.rope and llama.fused_rope_attention.
LogicalResult checkRoPEParams(Operation *op, int64_t headDim, double theta) {
  if (failed(checkPositive(op, headDim, "head_dim")))
    return failure();
  if (headDim % 2 != 0)
    return op->emitOpError()
           << "head_dim must be even so that RoPE can rotate pairs, got "
           << headDim;
  if (!(theta > 0))
    return op->emitOpError() << "theta must be positive, got " << theta;
  return success();
}

/// Shared by llama.attention and llama.fused_rope_attention: the head
/// counts, the GQA divisibility rule, and the head dims of Q, K and V.
LogicalResult checkAttentionShapes(Operation *op, Value query, Value key,
                                   Value value, int64_t numHeads,
                                   int64_t numKvHeads,
                                   std::optional<int64_t> headDim) {
  if (failed(checkRank(op, query, 3, "query")) ||
      failed(checkRank(op, key, 3, "key")) ||
      failed(checkRank(op, value, 3, "value")) ||
      failed(checkPositive(op, numHeads, "num_heads")) ||
      failed(checkPositive(op, numKvHeads, "num_kv_heads")))
    return failure();
  if (numHeads % numKvHeads != 0)
    return op->emitOpError()
           << "num_heads (" << numHeads
           << ") must be a multiple of num_kv_heads (" << numKvHeads
           << ") so that each KV head serves a whole group of query heads";
  if (tensorOf(key) != tensorOf(value))
    return op->emitOpError() << "key type " << key.getType()
                             << " differs from value type " << value.getType();
  if (failed(checkSameElementType(op, query, "query", key, "key")) ||
      failed(checkDim(op, query, 0, "query batch", key, 0, "key batch")))
    return failure();
  int64_t qFeatures = tensorOf(query).getDimSize(2);
  int64_t kvFeatures = tensorOf(key).getDimSize(2);
  if (ShapedType::isDynamic(qFeatures) || ShapedType::isDynamic(kvFeatures))
    return op->emitOpError() << "query and key feature dimensions must be "
                                "static: they fix the head layout";
  if (qFeatures % numHeads != 0)
    return op->emitOpError() << "query features (" << qFeatures
                             << ") are not divisible by num_heads ("
                             << numHeads << ")";
  if (kvFeatures % numKvHeads != 0)
    return op->emitOpError() << "key features (" << kvFeatures
                             << ") are not divisible by num_kv_heads ("
                             << numKvHeads << ")";
  int64_t qHeadDim = qFeatures / numHeads, kvHeadDim = kvFeatures / numKvHeads;
  if (qHeadDim != kvHeadDim)
    return op->emitOpError()
           << "query head dim " << qHeadDim << " (" << qFeatures << " / "
           << numHeads << " heads) differs from key head dim " << kvHeadDim
           << " (" << kvFeatures << " / " << numKvHeads << " KV heads)";
  if (headDim && *headDim != qHeadDim)
    return op->emitOpError() << "head_dim (" << *headDim
                             << ") differs from the query head dim ("
                             << qHeadDim << ")";
  return success();
}

/// Shared by llama.matmul and llama.fused_matmul: activations
/// [batch, seq, K] times a weight [N, K] of the same element type.
LogicalResult checkMatmulOperands(Operation *op, Value input, Value weight) {
  if (failed(checkRank(op, input, 3, "input")) ||
      failed(checkRank(op, weight, 2, "weight")) ||
      failed(checkDim(op, input, 2, "input features", weight, 1,
                      "weight columns")))
    return failure();
  return checkSameElementType(op, weight, "weight", input, "input");
}

} // namespace llamac::llama::detail

using namespace llamac::llama::detail;

//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(checkRank(*this, getTable(), 2, "table")) ||
      failed(checkRank(*this, getTokens(), 2, "tokens")) ||
      failed(checkRank(*this, getResult(), 3, "result")) ||
      failed(checkDim(*this, getResult(), 0, "result batch", getTokens(), 0,
                      "tokens batch")) ||
      failed(checkDim(*this, getResult(), 1, "result sequence", getTokens(), 1,
                      "tokens sequence")) ||
      failed(checkDim(*this, getResult(), 2, "result features", getTable(), 1,
                      "table columns")))
    return failure();
  return checkSameElementType(*this, getResult(), "result", getTable(),
                              "table");
}

LogicalResult RMSNormOp::verify() {
  if (failed(checkRank(*this, getInput(), 3, "input")) ||
      failed(checkRank(*this, getGain(), 1, "gain")) ||
      failed(checkDim(*this, getGain(), 0, "gain size", getInput(), 2,
                      "input features")) ||
      failed(checkSameElementType(*this, getGain(), "gain", getInput(),
                                  "input")))
    return failure();
  if (getResult().getType() != getInput().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from input type " << getInput().getType();
  double eps = getEpsilon().convertToDouble();
  if (!(eps > 0 && eps < 1))
    return emitOpError() << "epsilon must be in (0, 1), got " << eps;
  return success();
}

LogicalResult MatmulOp::verify() {
  if (failed(checkMatmulOperands(*this, getInput(), getWeight())))
    return failure();
  return checkActivationResult(*this, getResult(), getInput(),
                               tensorOf(getWeight()).getDimSize(0));
}

LogicalResult RoPEOp::verify() {
  if (failed(checkRank(*this, getInput(), 3, "input")) ||
      failed(checkRoPEParams(*this, getHeadDim(),
                             getTheta().convertToDouble())))
    return failure();
  int64_t features = tensorOf(getInput()).getDimSize(2);
  if (!ShapedType::isDynamic(features) && features % getHeadDim() != 0)
    return emitOpError() << "input features (" << features
                         << ") are not a whole number of heads of head_dim "
                         << getHeadDim();
  if (getResult().getType() != getInput().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from input type " << getInput().getType();
  return success();
}

LogicalResult KVCacheWriteOp::verify() {
  if (failed(checkRank(*this, getCache(), 3, "cache")) ||
      failed(checkRank(*this, getValue(), 3, "value")) ||
      failed(checkDim(*this, getValue(), 0, "value batch", getCache(), 0,
                      "cache batch")) ||
      failed(checkDim(*this, getValue(), 2, "value features", getCache(), 2,
                      "cache features")) ||
      failed(checkSameElementType(*this, getValue(), "value", getCache(),
                                  "cache")))
    return failure();
  int64_t rows = tensorOf(getValue()).getDimSize(1);
  int64_t capacity = tensorOf(getCache()).getDimSize(1);
  if (!ShapedType::isDynamic(rows) && !ShapedType::isDynamic(capacity) &&
      rows > capacity)
    return emitOpError() << "writes " << rows
                         << " rows into a cache of capacity " << capacity;
  if (getResult().getType() != getCache().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from cache type " << getCache().getType();
  return success();
}

LogicalResult AttentionOp::verify() {
  if (failed(checkAttentionShapes(*this, getQuery(), getKey(), getValue(),
                                  getNumHeads(), getNumKvHeads(),
                                  std::nullopt)))
    return failure();
  if (getScale() && !(getScale()->convertToDouble() > 0))
    return emitOpError() << "scale must be positive";
  if (getResult().getType() != getQuery().getType())
    return emitOpError() << "result type " << getResult().getType()
                         << " differs from query type " << getQuery().getType();
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  if (failed(checkRank(*this, getLogits(), 3, "logits")) ||
      failed(checkRank(*this, getTargets(), 2, "targets")) ||
      failed(checkRank(*this, getWeights(), 2, "weights")))
    return failure();
  for (int64_t d = 0; d < 2; ++d)
    if (failed(checkDim(*this, getTargets(), d, "targets dimension",
                        getLogits(), d, "logits dimension")) ||
        failed(checkDim(*this, getWeights(), d, "weights dimension",
                        getLogits(), d, "logits dimension")))
      return failure();
  return success();
}

LogicalResult PackWeightsOp::verify() {
  if (getWeights().empty())
    return emitOpError() << "needs at least one weight";
  Value first = getWeights().front();
  int64_t rows = 0;
  for (auto [i, w] : llvm::enumerate(getWeights())) {
    if (failed(checkRank(*this, w, 2, "weight")) ||
        failed(checkSameElementType(*this, w, "weight", first, "first weight")))
      return failure();
    int64_t cols = tensorOf(w).getDimSize(1);
    if (cols != tensorOf(first).getDimSize(1))
      return emitOpError() << "weight #" << i << " has " << dimText(cols)
                           << " columns, but weight #0 has "
                           << dimText(tensorOf(first).getDimSize(1));
    int64_t r = tensorOf(w).getDimSize(0);
    rows = (ShapedType::isDynamic(r) || ShapedType::isDynamic(rows))
               ? ShapedType::kDynamic
               : rows + r;
  }
  if (Value gain = getGain()) {
    if (failed(checkRank(*this, gain, 1, "gain")) ||
        failed(checkDim(*this, gain, 0, "gain size", first, 1,
                        "weight columns")) ||
        failed(checkSameElementType(*this, gain, "gain", first, "weight")))
      return failure();
  }
  if (failed(checkRank(*this, getResult(), 2, "result")) ||
      failed(checkDim(*this, getResult(), 1, "result columns", first, 1,
                      "weight columns")) ||
      failed(checkSameElementType(*this, getResult(), "result", first,
                                  "weight")))
    return failure();
  int64_t resultRows = tensorOf(getResult()).getDimSize(0);
  if (!compatible(resultRows, rows))
    return emitOpError() << "result has " << dimText(resultRows)
                         << " rows, but the weights stack to "
                         << dimText(rows);
  return success();
}

LogicalResult FusedMatmulOp::verify() {
  if (failed(checkMatmulOperands(*this, getInput(), getWeight())))
    return failure();

  ArrayRef<int64_t> segments = getSegments();
  if (segments.empty())
    return emitOpError() << "needs at least one segment";
  int64_t total = 0;
  for (int64_t s : segments) {
    if (s <= 0)
      return emitOpError() << "segment sizes must be positive, got " << s;
    total += s;
  }
  if (!compatible(total, tensorOf(getWeight()).getDimSize(0)))
    return emitOpError() << "segments sum to " << total
                         << " rows, but the weight has "
                         << dimText(tensorOf(getWeight()).getDimSize(0));

  std::optional<double> eps;
  if (getNormEpsilon())
    eps = getNormEpsilon()->convertToDouble();
  if (eps && !(*eps > 0 && *eps < 1))
    return emitOpError() << "norm_epsilon must be in (0, 1), got " << *eps;
  if (Value gain = getGain()) {
    if (!eps)
      return emitOpError() << "has a gain but no norm_epsilon: a gain only "
                              "makes sense with the RMSNorm prologue";
    if (failed(checkRank(*this, gain, 1, "gain")) ||
        failed(checkDim(*this, gain, 0, "gain size", getInput(), 2,
                        "input features")))
      return failure();
  }

  Epilogue epilogue = getEpilogue();
  if ((epilogue == Epilogue::Residual) != (getResidual() != nullptr))
    return emitOpError() << "takes a residual operand if and only if its "
                            "epilogue is 'residual'";
  auto expectResults = [&](size_t n) -> LogicalResult {
    if (getNumResults() == n)
      return success();
    return emitOpError() << "with epilogue '" << stringifyEpilogue(epilogue)
                         << "' and " << segments.size()
                         << " segment(s) must have " << n << " result(s), got "
                         << getNumResults();
  };
  switch (epilogue) {
  case Epilogue::None:
    if (failed(expectResults(segments.size())))
      return failure();
    for (auto [result, size] : llvm::zip(getResults(), segments))
      if (failed(checkActivationResult(*this, result, getInput(), size)))
        return failure();
    return success();
  case Epilogue::SwiGLU:
    if (segments.size() != 2 || segments[0] != segments[1])
      return emitOpError() << "with epilogue 'swiglu' needs two equal "
                              "segments (gate and up)";
    if (failed(expectResults(1)))
      return failure();
    return checkActivationResult(*this, getResults()[0], getInput(),
                                 segments[0]);
  case Epilogue::Residual:
    if (segments.size() != 1)
      return emitOpError() << "with epilogue 'residual' needs one segment";
    if (failed(expectResults(1)) ||
        failed(checkActivationResult(*this, getResults()[0], getInput(),
                                     segments[0])))
      return failure();
    if (getResidual().getType() != getResults()[0].getType())
      return emitOpError() << "residual type " << getResidual().getType()
                           << " differs from result type "
                           << getResults()[0].getType();
    return success();
  }
  return success();
}

LogicalResult FusedRoPEAttentionOp::verify() {
  if (failed(checkRoPEParams(*this, getHeadDim(),
                             getTheta().convertToDouble())) ||
      failed(checkAttentionShapes(*this, getQuery(), getKey(), getValue(),
                                  getNumHeads(), getNumKvHeads(),
                                  getHeadDim())))
    return failure();
  if (failed(checkDim(*this, getKey(), 1, "key sequence", getQuery(), 1,
                      "query sequence")))
    return failure();
  if (getScale() && !(getScale()->convertToDouble() > 0))
    return emitOpError() << "scale must be positive";
  bool hasCache = getKeyCache() != nullptr;
  if (hasCache != (getValueCache() != nullptr))
    return emitOpError() << "needs both a key cache and a value cache, or "
                            "neither";
  size_t expected = hasCache ? 3 : 1;
  if (getNumResults() != expected)
    return emitOpError() << "must have " << expected << " result(s) "
                         << (hasCache ? "with" : "without")
                         << " caches, got " << getNumResults();
  if (getResults()[0].getType() != getQuery().getType())
    return emitOpError() << "result type " << getResults()[0].getType()
                         << " differs from query type "
                         << getQuery().getType();
  if (!hasCache)
    return success();
  for (auto [cache, result, what] :
       {std::make_tuple(getKeyCache(), getResults()[1], "key cache"),
        std::make_tuple(getValueCache(), getResults()[2], "value cache")}) {
    if (failed(checkRank(*this, cache, 3, what)) ||
        failed(checkDim(*this, cache, 0, "cache batch", getKey(), 0,
                        "key batch")) ||
        failed(checkDim(*this, cache, 2, "cache features", getKey(), 2,
                        "key features")) ||
        failed(checkSameElementType(*this, cache, what, getKey(), "key")))
      return failure();
    if (result.getType() != cache.getType())
      return emitOpError() << "updated " << what << " type "
                           << result.getType() << " differs from "
                           << cache.getType();
  }
  return success();
}
