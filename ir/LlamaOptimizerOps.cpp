//===- LlamaOptimizerOps.cpp - Verifiers of the optimizer ops -------------===//
//
// The optimizer keeps f32 master weights and moments whatever the model
// computes in, so every tensor an update touches must be f32, and each
// parameter's gradient and moments must have exactly its shape.
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

LogicalResult GradNormOp::verify() {
  if (getGrads().empty())
    return emitOpError() << "needs at least one gradient";
  for (auto [i, grad] : llvm::enumerate(getGrads()))
    if (!tensorOf(grad).getElementType().isF32())
      return emitOpError() << "gradient " << i
                           << " must be f32 (the optimizer works in f32), got "
                           << grad.getType();
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
  if (getUpdated().size() != 3 * n)
    return emitOpError() << "must have three results per parameter (" << 3 * n
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
    std::pair<Value, StringRef> same[] = {
        {getGrads()[i], "grad"},
        {getMoments()[i], "moment"},
        {getSecondMoments()[i], "second_moment"},
        {getNewParams()[i], "updated param"},
        {getNewMoments()[i], "updated moment"},
        {getNewSecondMoments()[i], "updated second_moment"}};
    for (auto [value, what] : same)
      if (value.getType() != param.getType())
        return emitOpError() << what << " " << i << " type " << value.getType()
                             << " differs from param type " << param.getType();
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
