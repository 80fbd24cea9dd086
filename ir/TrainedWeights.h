//===- TrainedWeights.h - Weights a module's updates change -----*- C++ -*-===//
//
// Lowering and the kernel report both decide which weight-derived tensors
// can be computed once, at load time: a packing or rounding of weights stays
// valid between calls unless an update changes the weights under it. This is
// that decision, read from a module's llama.adamw_update ops.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_IR_TRAINEDWEIGHTS_H
#define LLAMAC_IR_TRAINEDWEIGHTS_H

#include "ir/LlamaOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringSet.h"

namespace llamac::llama {

/// The weights (by checkpoint name) that some llama.adamw_update of a module
/// changes, and those of them whose 16-bit rounded copy it keeps current.
class TrainedWeights {
public:
  explicit TrainedWeights(mlir::ModuleOp module);

  /// Whether any update of the module changes a weight (train_step).
  bool trainsAny() const { return !trained.empty(); }
  bool isTrained(llvm::StringRef weight) const {
    return trained.contains(weight);
  }
  bool keepsRounded(llvm::StringRef weight) const {
    return keptRounded.contains(weight);
  }
  /// The checkpoint name of `value` if it is a weight argument, else "".
  static llvm::StringRef weightName(mlir::Value value);
  /// Whether `convert` may run once, at load: it rounds only weight
  /// arguments, and every one an update changes has its rounded copy
  /// written by that update.
  bool roundsAtLoad(ConvertOp convert) const;

private:
  llvm::StringSet<> trained;
  llvm::StringSet<> keptRounded;
};

} // namespace llamac::llama

#endif // LLAMAC_IR_TRAINEDWEIGHTS_H
