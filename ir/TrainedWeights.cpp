//===- TrainedWeights.cpp - Which weights a module's updates change -------===//

#include "ir/TrainedWeights.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace llamac::llama;

TrainedWeights::TrainedWeights(ModuleOp module) {
  module.walk([&](AdamWUpdateOp update) {
    bool rounded = !update.getRounded().empty();
    for (Value param : update.getParams()) {
      StringRef name = weightName(param);
      if (name.empty())
        continue;
      trained.insert(name);
      if (rounded)
        keptRounded.insert(name);
    }
  });
}

StringRef TrainedWeights::weightName(Value value) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg)
    return {};
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!func)
    return {};
  auto name =
      func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), attrs::weight);
  return name ? name.getValue() : StringRef();
}

bool TrainedWeights::roundsAtLoad(ConvertOp convert) const {
  return llvm::all_of(convert.getInputs(), [&](Value input) {
    StringRef name = weightName(input);
    return !name.empty() && (!isTrained(name) || keepsRounded(name));
  });
}
