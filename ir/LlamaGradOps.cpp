//===- LlamaGradOps.cpp - Verifiers of the backward ops -------------------===//
//
// A backward op's results have exactly the types of the forward operands
// they are the gradients of, so llama-autodiff can add them to other
// contributions and return them next to the weights they belong to.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "ir/LlamaVerifier.h"

using namespace mlir;
using namespace llamac::llama;
using namespace llamac::llama::detail;

namespace {

/// Checks that `a` has exactly the type of `b`.
LogicalResult checkSameType(Operation *op, Value a, StringRef whatA, Value b,
                            StringRef whatB) {
  if (a.getType() == b.getType())
    return success();
  return op->emitOpError() << whatA << " type " << a.getType()
                           << " differs from " << whatB << " type "
                           << b.getType();
}

/// The shapes an RMSNorm backward shares, whether alone or fused: input
/// [B, S, F], gain [F] of its element type, the gradients of their types,
/// and an epsilon in (0, 1).
LogicalResult checkRMSNormGrad(Operation *op, Value input, Value gain,
                               Value dinput, Value dgain, FloatAttr epsilon) {
  if (failed(checkRank(op, input, 3, "input")) ||
      failed(checkRank(op, gain, 1, "gain")) ||
      failed(checkDim(op, gain, 0, "gain size", input, 2, "input features")) ||
      failed(checkSameElementType(op, gain, "gain", input, "input")) ||
      failed(checkSameType(op, dinput, "dinput", input, "input")) ||
      failed(checkSameType(op, dgain, "dgain", gain, "gain")))
    return failure();
  double eps = epsilon.getValueAsDouble();
  if (!(eps > 0 && eps < 1))
    return op->emitOpError() << "epsilon must be in (0, 1), got " << eps;
  return success();
}

} // namespace

LogicalResult EmbeddingGradOp::verify() {
  if (failed(checkRank(*this, getTokens(), 2, "tokens")) ||
      failed(checkRank(*this, getDy(), 3, "dy")) ||
      failed(checkRank(*this, getResult(), 2, "result")) ||
      failed(checkDim(*this, getDy(), 0, "dy batch", getTokens(), 0,
                      "tokens batch")) ||
      failed(checkDim(*this, getDy(), 1, "dy sequence", getTokens(), 1,
                      "tokens sequence")) ||
      failed(checkDim(*this, getResult(), 1, "result columns", getDy(), 2,
                      "dy features")))
    return failure();
  return checkSameElementType(*this, getResult(), "result", getDy(), "dy");
}

LogicalResult RMSNormGradOp::verify() {
  if (failed(checkRMSNormGrad(*this, getInput(), getGain(), getDinput(),
                              getDgain(), getEpsilonAttr())))
    return failure();
  return checkSameType(*this, getDy(), "dy", getInput(), "input");
}

LogicalResult MatmulGradOp::verify() {
  if (failed(checkMatmulOperands(*this, getInput(), getWeight())) ||
      failed(checkRank(*this, getDy(), 3, "dy")) ||
      failed(checkDim(*this, getDy(), 0, "dy batch", getInput(), 0,
                      "input batch")) ||
      failed(checkDim(*this, getDy(), 1, "dy sequence", getInput(), 1,
                      "input sequence")) ||
      failed(checkDim(*this, getDy(), 2, "dy features", getWeight(), 0,
                      "weight rows")) ||
      failed(checkSameElementType(*this, getDy(), "dy", getInput(), "input")) ||
      failed(checkSameType(*this, getDinput(), "dinput", getInput(), "input")))
    return failure();
  return checkSameType(*this, getDweight(), "dweight", getWeight(), "weight");
}

LogicalResult RoPEGradOp::verify() {
  if (failed(checkRank(*this, getDy(), 3, "dy")) ||
      failed(
          checkRoPEParams(*this, getHeadDim(), getTheta().convertToDouble())))
    return failure();
  int64_t features = tensorOf(getDy()).getDimSize(2);
  if (!ShapedType::isDynamic(features) && features % getHeadDim() != 0)
    return emitOpError() << "dy features (" << features
                         << ") are not a whole number of heads of head_dim "
                         << getHeadDim();
  return checkSameType(*this, getResult(), "result", getDy(), "dy");
}

LogicalResult AttentionGradOp::verify() {
  if (failed(checkAttentionShapes(*this, getQuery(), getKey(), getValue(),
                                  getNumHeads(), getNumKvHeads(),
                                  std::nullopt)) ||
      failed(checkDim(*this, getKey(), 1, "key sequence", getQuery(), 1,
                      "query sequence")) ||
      failed(checkSameType(*this, getDout(), "dout", getQuery(), "query")))
    return failure();
  if (getScale() && !(getScale()->convertToDouble() > 0))
    return emitOpError() << "scale must be positive";
  if (failed(
          checkSameType(*this, getDquery(), "dquery", getQuery(), "query")) ||
      failed(checkSameType(*this, getDkey(), "dkey", getKey(), "key")))
    return failure();
  return checkSameType(*this, getDvalue(), "dvalue", getValue(), "value");
}

LogicalResult CrossEntropyGradOp::verify() {
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
  return checkSameType(*this, getResult(), "result", getLogits(), "logits");
}

LogicalResult FusedRMSNormMatmulGradOp::verify() {
  if (failed(checkRMSNormGrad(*this, getInput(), getGain(), getDinput(),
                              getDgain(), getEpsilonAttr())))
    return failure();
  if (getResidual() && failed(checkSameType(*this, getResidual(), "residual",
                                            getInput(), "input")))
    return failure();
  size_t n = getWeights().size();
  if (n == 0 || getDys().size() != n || getDweights().size() != n)
    return emitOpError() << "needs one dy and one dweight per weight, and at "
                            "least one weight: got "
                         << n << " weights, " << getDys().size()
                         << " dys and " << getDweights().size()
                         << " dweights";
  for (size_t i = 0; i < n; ++i) {
    Value weight = getWeights()[i], dy = getDys()[i];
    if (failed(checkMatmulOperands(*this, getInput(), weight)) ||
        failed(checkRank(*this, dy, 3, "dy")) ||
        failed(checkDim(*this, dy, 0, "dy batch", getInput(), 0,
                        "input batch")) ||
        failed(checkDim(*this, dy, 1, "dy sequence", getInput(), 1,
                        "input sequence")) ||
        failed(checkDim(*this, dy, 2, "dy features", weight, 0,
                        "weight rows")) ||
        failed(checkSameElementType(*this, dy, "dy", getInput(), "input")) ||
        failed(checkSameType(*this, getDweights()[i], "dweight", weight,
                             "weight")))
      return failure();
  }
  return success();
}
