//===- LlamaOptimizerOps.cpp - Verifiers of the optimizer ops -------------===//
//
// The optimizer keeps f32 master weights and moments whatever the model
// computes in, so every parameter and moment an update touches must be f32;
// a gradient is f32, or 16-bit when the model computes in 16 bits (mixed
// precision), and has exactly its parameter's shape.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "ir/LlamaVerifier.h"

using namespace mlir;
using namespace llamac::llama;
using namespace llamac::llama::detail;

namespace {

LogicalResult checkSchedule(Operation *op, Value schedule) {
  if (tensorOf(schedule).getDimSize(0) != 3)
    return op->emitOpError() << "schedule must be tensor<3xi32> ([step, "
                                "warmup_steps, total_steps]), got "
                             << schedule.getType();
  return success();
}

LogicalResult checkUnitInterval(Operation *op, double value, StringRef name,
                                bool closedAbove) {
  if (value >= 0 && (closedAbove ? value <= 1 : value < 1))
    return success();
  return op->emitOpError() << name << " must be in [0, 1"
                           << (closedAbove ? "]" : ")") << ", got " << value;
}

} // namespace

LogicalResult LRScheduleOp::verify() {
  if (failed(checkSchedule(*this, getSchedule())))
    return failure();
  return checkUnitInterval(*this, getFinalRatio().convertToDouble(),
                           "final_ratio", /*closedAbove=*/true);
}

LogicalResult ConvertOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one tensor to convert";
  if (getInputs().size() != getResults().size())
    return emitOpError() << "needs one result per operand: got "
                         << getInputs().size() << " operands and "
                         << getResults().size() << " results";
  for (auto [i, pair] : llvm::enumerate(llvm::zip(getInputs(), getResults()))) {
    auto [input, result] = pair;
    if (tensorOf(input).getShape() != tensorOf(result).getShape())
      return emitOpError() << "result " << i << " type " << result.getType()
                           << " has another shape than operand "
                           << input.getType();
  }
  return success();
}

/// The copy must be the convert of its parameter, so that it holds the
/// parameter's rounding when the update begins, as it does after.
LogicalResult AdamWUpdateOp::verifyRoundedCopy(size_t i) {
  Value copy = getRounded()[i];
  Value param = getParams()[i];
  auto type = tensorOf(copy);
  if (type.getShape() != tensorOf(param).getShape() ||
      type.getElementType().getIntOrFloatBitWidth() != 16)
    return emitOpError() << "rounded " << i << " type " << copy.getType()
                         << " must have the shape of param type "
                         << param.getType() << " and 16-bit floats";
  auto convert = copy.getDefiningOp<ConvertOp>();
  auto result = dyn_cast<OpResult>(copy);
  if (!convert || convert.getInputs()[result.getResultNumber()] != param)
    return emitOpError() << "rounded " << i
                         << " must be the llama.convert of param " << i;
  if (getNewRounded()[i].getType() != copy.getType())
    return emitOpError() << "updated rounded " << i << " type "
                         << getNewRounded()[i].getType()
                         << " differs from rounded type " << copy.getType();
  return success();
}

LogicalResult GradNormOp::verify() {
  if (getGrads().empty())
    return emitOpError() << "needs at least one gradient";
  return success();
}

LogicalResult AdamWUpdateOp::verify() {
  size_t n = getParams().size();
  if (n == 0)
    return emitOpError() << "needs at least one parameter";
  if (getGrads().size() != n || getMoments().size() != n ||
      getSecondMoments().size() != n)
    return emitOpError() << "needs one gradient and two moments per "
                            "parameter: got "
                         << n << " params, " << getGrads().size()
                         << " grads, " << getMoments().size()
                         << " moments and " << getSecondMoments().size()
                         << " second_moments";
  size_t rounded = getRounded().size();
  if (rounded != 0 && rounded != n)
    return emitOpError() << "needs a rounded copy of every parameter or of "
                            "none: got "
                         << n << " params and " << rounded << " rounded";
  size_t perParam = rounded ? 4 : 3;
  if (getUpdated().size() != perParam * n)
    return emitOpError() << "must have " << perParam
                         << " results per parameter (" << perParam * n
                         << "), got " << getUpdated().size();
  for (size_t i = 0; i < n; ++i) {
    Value param = getParams()[i];
    auto type = tensorOf(param);
    if (!type.getElementType().isF32())
      return emitOpError() << "param " << i
                           << " must be f32 (master weights), got "
                           << param.getType();
    if (!type.hasStaticShape())
      return emitOpError() << "param " << i << " must have a static shape, got "
                           << param.getType();
    Value grad = getGrads()[i];
    if (tensorOf(grad).getShape() != type.getShape())
      return emitOpError() << "grad " << i << " type " << grad.getType()
                           << " has another shape than param type "
                           << param.getType();
    std::pair<Value, StringRef> same[] = {
        {getMoments()[i], "moment"},
        {getSecondMoments()[i], "second_moment"},
        {getNewParams()[i], "updated param"},
        {getNewMoments()[i], "updated moment"},
        {getNewSecondMoments()[i], "updated second_moment"}};
    for (auto [value, what] : same)
      if (value.getType() != param.getType())
        return emitOpError() << what << " " << i << " type " << value.getType()
                             << " differs from param type " << param.getType();
    if (rounded && failed(verifyRoundedCopy(i)))
      return failure();
  }
  if (failed(checkSchedule(*this, getSchedule())) ||
      failed(checkUnitInterval(*this, getBeta1().convertToDouble(), "beta1",
                               false)) ||
      failed(checkUnitInterval(*this, getBeta2().convertToDouble(), "beta2",
                               false)) ||
      failed(checkUnitInterval(*this, getWeightDecay().convertToDouble(),
                               "weight_decay", true)))
    return failure();
  if (!(getEpsilon().convertToDouble() > 0))
    return emitOpError() << "epsilon must be positive, got "
                         << getEpsilon().convertToDouble();
  if (!(getMaxGradNorm().convertToDouble() >= 0))
    return emitOpError() << "max_grad_norm must not be negative (0 disables "
                            "clipping), got "
                         << getMaxGradNorm().convertToDouble();
  return success();
}
