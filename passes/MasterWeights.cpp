//===- MasterWeights.cpp - f32 master weights for 16-bit compute ----------===//
//
// Mixed precision keeps the weights in f32 and computes in 16 bits: every
// 16-bit weight argument becomes f32, and one llama.convert at the top of
// the function rounds them all back for the ops that read them.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace llamac {
#define GEN_PASS_DEF_MASTERWEIGHTSPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

struct MasterWeights
    : public llamac::impl::MasterWeightsPassBase<MasterWeights> {
  void runOnOperation() override {
    for (func::FuncOp func : getOperation().getOps<func::FuncOp>())
      rewrite(func);
  }

  static void rewrite(func::FuncOp func);
};

void MasterWeights::rewrite(func::FuncOp func) {
  if (func.isExternal())
    return;
  SmallVector<BlockArgument> weights;
  for (BlockArgument arg : func.getArguments()) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    auto element = type ? dyn_cast<FloatType>(type.getElementType()) : nullptr;
    if (element && element.getWidth() == 16 &&
        func.getArgAttr(arg.getArgNumber(), llama::attrs::weight))
      weights.push_back(arg);
  }
  if (weights.empty())
    return;

  // The 16-bit values the body reads, all from one convert.
  OpBuilder builder(func.getContext());
  builder.setInsertionPointToStart(&func.getBody().front());
  SmallVector<Type> computeTypes;
  for (BlockArgument arg : weights) {
    auto type = cast<RankedTensorType>(arg.getType());
    computeTypes.push_back(type);
    arg.setType(type.clone(builder.getF32Type()));
  }
  // Named, so that the artifact's buffers and profiles say what they hold.
  Location loc = NameLoc::get(builder.getStringAttr("master_weights"));
  SmallVector<Value> masters(weights.begin(), weights.end());
  auto convert = builder.create<llama::ConvertOp>(loc, computeTypes, masters);
  for (auto [arg, rounded] : llvm::zip(weights, convert.getResults()))
    arg.replaceAllUsesExcept(rounded, convert);
  func.setFunctionType(
      builder.getFunctionType(func.getBody().front().getArgumentTypes(),
                              func.getFunctionType().getResults()));
}

} // namespace
