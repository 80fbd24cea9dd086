//===- BuildTrainStep.cpp - The optimizer step after the gradients --------===//
//
// Turns @loss_and_grads into @train_step: the gradients' global norm, the
// step's learning rate, and one AdamW update per parameter group, written in
// place over the weights and moments the function now also takes. Under
// mixed precision each update also writes its weights' 16-bit copies, the
// results of llama-master-weights' convert, which lowering then rounds once
// at load instead of on every step.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace llamac {
#define GEN_PASS_DEF_BUILDTRAINSTEPPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

constexpr llvm::StringLiteral kLossAndGrads = "loss_and_grads";
constexpr llvm::StringLiteral kTrainStep = "train_step";
constexpr llvm::StringLiteral kGradOf = "llama.grad_of";

/// A weight argument and the gradient @loss_and_grads returns for it.
struct Parameter {
  StringAttr name;
  BlockArgument weight;
  Value grad;
  BlockArgument moment;
  BlockArgument secondMoment;
  /// The 16-bit copy the step computes with, if a llama.convert makes one.
  Value rounded;
};

/// The result of a llama.convert that rounds `weight` to 16 bits, if any.
Value roundedCopyOf(BlockArgument weight) {
  for (OpOperand &use : weight.getUses()) {
    auto convert = dyn_cast<llama::ConvertOp>(use.getOwner());
    if (!convert)
      continue;
    Value result = convert.getResults()[use.getOperandNumber()];
    if (cast<RankedTensorType>(result.getType()).getElementTypeBitWidth() == 16)
      return result;
  }
  return {};
}

struct BuildTrainStep
    : public llamac::impl::BuildTrainStepPassBase<BuildTrainStep> {
  using BuildTrainStepPassBase::BuildTrainStepPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp func;
    for (func::FuncOp f : module.getOps<func::FuncOp>()) {
      auto entry = f->getAttrOfType<StringAttr>(llama::attrs::entry);
      if (entry && entry.getValue() == kTrainStep) {
        f.emitOpError() << "cannot build @" << kTrainStep
                        << ": the module already has one";
        return signalPassFailure();
      }
      if (entry && entry.getValue() == kLossAndGrads)
        func = f;
    }
    if (!func) {
      module.emitError() << "llama-build-train-step needs a function tagged "
                            "llama.entry = \""
                         << kLossAndGrads << "\" (run llama-autodiff first)";
      return signalPassFailure();
    }
    if (failed(rewrite(func)))
      signalPassFailure();
  }

  LogicalResult rewrite(func::FuncOp func);
};

LogicalResult BuildTrainStep::rewrite(func::FuncOp func) {
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  MLIRContext *context = func.getContext();

  // The gradients, by the weight argument they belong to.
  std::vector<Parameter> params;
  for (unsigned i = 1; i < ret.getNumOperands(); ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(i, kGradOf);
    if (!name)
      return ret.emitOpError() << "result " << i << " of @" << kLossAndGrads
                               << " is not tagged " << kGradOf;
    BlockArgument weight;
    for (BlockArgument arg : func.getArguments())
      if (func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                            llama::attrs::weight) == name)
        weight = arg;
    if (!weight)
      return ret.emitOpError() << "result " << i << " is the gradient of '"
                               << name.getValue()
                               << "', which is no weight argument";
    auto type = cast<RankedTensorType>(weight.getType());
    if (!type.getElementType().isF32())
      return func.emitOpError()
             << "cannot be trained: weight '" << name.getValue() << "' is "
             << type
             << "; training keeps f32 master weights (run "
                "llama-master-weights first to compute in 16 bits)";
    params.push_back(
        {name, weight, ret.getOperand(i), {}, {}, roundedCopyOf(weight)});
  }
  if (params.empty())
    return func.emitOpError() << "has no weight gradients to train with";

  // New arguments: the schedule, the peak rate, and two moments per weight.
  Location loc = func.getLoc();
  OpBuilder builder(context);
  auto addArgument = [&](Type type, StringRef attr, StringRef value) {
    unsigned index = func.getNumArguments();
    func.insertArgument(
        index, type,
        builder.getDictionaryAttr(
            builder.getNamedAttr(attr, builder.getStringAttr(value))),
        loc);
    return func.getArgument(index);
  };
  auto scheduleType = RankedTensorType::get({3}, builder.getI32Type());
  auto scalarType = RankedTensorType::get({}, builder.getF32Type());
  Value schedule = addArgument(scheduleType, llama::attrs::input, "schedule");
  Value peakLr = addArgument(scalarType, llama::attrs::input, "peak_lr");
  for (Parameter &p : params) {
    std::string name = p.name.getValue().str();
    p.moment = addArgument(p.weight.getType(), llama::attrs::optimizerState,
                           "adamw.m." + name);
    p.secondMoment = addArgument(p.weight.getType(),
                                 llama::attrs::optimizerState,
                                 "adamw.v." + name);
  }

  builder.setInsertionPoint(ret);
  SmallVector<Value> grads;
  for (const Parameter &p : params)
    grads.push_back(p.grad);
  Value norm =
      builder.create<llama::GradNormOp>(loc, scalarType, grads).getResult();
  Value lr = builder
                 .create<llama::LRScheduleOp>(
                     loc, scalarType, schedule, peakLr,
                     builder.getF64FloatAttr(finalLrRatio))
                 .getResult();

  // Two groups, as is usual for transformers: matrices decay, gains do not.
  SmallVector<Value> results = {ret.getOperand(0), lr, norm};
  SmallVector<Attribute> resultAttrs;
  for (StringRef name : {"loss", "lr", "grad_norm"})
    resultAttrs.push_back(builder.getDictionaryAttr(builder.getNamedAttr(
        llama::attrs::output, builder.getStringAttr(name))));
  for (bool decayed : {true, false}) {
    SmallVector<Value> weights, groupGrads, moments, secondMoments, rounded;
    SmallVector<Type> types;
    SmallVector<StringAttr> names;
    for (const Parameter &p : params) {
      if ((cast<RankedTensorType>(p.weight.getType()).getRank() >= 2) !=
          decayed)
        continue;
      weights.push_back(p.weight);
      groupGrads.push_back(p.grad);
      moments.push_back(p.moment);
      secondMoments.push_back(p.secondMoment);
      rounded.push_back(p.rounded);
      names.push_back(p.name);
    }
    if (weights.empty())
      continue;
    // The copies go with the update only if every weight of the group has
    // one; otherwise each step rounds the group's weights afresh.
    if (llvm::is_contained(rounded, Value()))
      rounded.clear();
    for (int copy = 0; copy < 3; ++copy)
      for (Value w : weights)
        types.push_back(w.getType());
    for (Value copy : rounded)
      types.push_back(copy.getType());
    auto update = builder.create<llama::AdamWUpdateOp>(
        loc, types, weights, groupGrads, moments, secondMoments, lr, norm,
        schedule, rounded, builder.getF64FloatAttr(beta1),
        builder.getF64FloatAttr(beta2), builder.getF64FloatAttr(epsilon),
        builder.getF64FloatAttr(decayed ? weightDecay : 0.0),
        builder.getF64FloatAttr(maxGradNorm));
    // The updated tensors are results too, so that the graph says what the
    // step changes; lowering writes them over their operands.
    for (auto [kind, range] :
         {std::pair<StringRef, ResultRange>{"", update.getNewParams()},
          {"adamw.m.", update.getNewMoments()},
          {"adamw.v.", update.getNewSecondMoments()},
          {"rounded.", update.getNewRounded()}})
      for (auto [name, value] : llvm::zip(names, range)) {
        results.push_back(value);
        resultAttrs.push_back(builder.getDictionaryAttr(builder.getNamedAttr(
            "llama.updates",
            builder.getStringAttr(kind + name.getValue()))));
      }
  }
  builder.create<func::ReturnOp>(ret.getLoc(), results);
  ret.erase();
  func.setFunctionType(builder.getFunctionType(
      func.getArgumentTypes(), ValueRange(results).getTypes()));
  func.setAllResultAttrs(resultAttrs);
  func.setSymName(kTrainStep);
  func->setAttr(llama::attrs::entry, builder.getStringAttr(kTrainStep));
  return success();
}

} // namespace
