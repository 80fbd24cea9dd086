//===- FusedMatmulBuilder.h - Packs weights and forms one GEMM --*- C++ -*-===//
//
// Shared by the passes that turn several matmuls of one input into a single
// llama.fused_matmul over stacked weights.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_PASSES_FUSEDMATMULBUILDER_H
#define LLAMAC_PASSES_FUSEDMATMULBUILDER_H

#include "ir/LlamaOps.h"

#include "mlir/IR/Builders.h"

namespace llamac {

/// Stacks `weights` by rows (scaling columns by `foldedGain` when given), or
/// returns the single weight unchanged when there is nothing to stack or
/// fold. Returns the packed weight and each weight's row count.
inline std::pair<mlir::Value, llvm::SmallVector<int64_t>>
packWeights(mlir::OpBuilder &builder, mlir::Location loc,
            mlir::ValueRange weights, mlir::Value foldedGain) {
  llvm::SmallVector<int64_t> rows;
  int64_t total = 0;
  for (mlir::Value w : weights) {
    rows.push_back(mlir::cast<mlir::RankedTensorType>(w.getType()).getDimSize(0));
    total += rows.back();
  }
  if (weights.size() == 1 && !foldedGain)
    return {weights.front(), rows};
  auto first = mlir::cast<mlir::RankedTensorType>(weights.front().getType());
  auto type = mlir::RankedTensorType::get({total, first.getDimSize(1)},
                                          first.getElementType());
  mlir::Value packed =
      builder.create<llama::PackWeightsOp>(loc, type, weights, foldedGain);
  return {packed, rows};
}

/// True when every weight has a static row count, which packing needs.
inline bool haveStaticRows(mlir::ValueRange weights) {
  return llvm::all_of(weights, [](mlir::Value w) {
    return !mlir::ShapedType::isDynamic(
        mlir::cast<mlir::RankedTensorType>(w.getType()).getDimSize(0));
  });
}

} // namespace llamac

#endif // LLAMAC_PASSES_FUSEDMATMULBUILDER_H
