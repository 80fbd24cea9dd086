//===- LlamaVerifier.h - Shape checks shared by the verifiers ---*- C++ -*-===//
//
// The forward ops (LlamaOps.cpp) and the backward ops (LlamaGradOps.cpp)
// report shape errors in the same words, so they share these checks. Each
// emits its diagnostic on `op` and returns failure; dynamic dimensions are
// compatible with anything. Internal to ir/.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_IR_LLAMAVERIFIER_H
#define LLAMAC_IR_LLAMAVERIFIER_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"

#include <optional>
#include <string>

namespace llamac::llama::detail {

bool compatible(int64_t a, int64_t b);
std::string dimText(int64_t d);
mlir::RankedTensorType tensorOf(mlir::Value v);

mlir::LogicalResult checkRank(mlir::Operation *op, mlir::Value value,
                              int64_t rank, llvm::StringRef what);
mlir::LogicalResult checkDim(mlir::Operation *op, mlir::Value a, int64_t dimA,
                             llvm::StringRef whatA, mlir::Value b, int64_t dimB,
                             llvm::StringRef whatB);
mlir::LogicalResult checkSameElementType(mlir::Operation *op, mlir::Value a,
                                         llvm::StringRef whatA, mlir::Value b,
                                         llvm::StringRef whatB);
mlir::LogicalResult checkActivationResult(mlir::Operation *op,
                                          mlir::Value result, mlir::Value like,
                                          int64_t features);
mlir::LogicalResult checkPositive(mlir::Operation *op, int64_t value,
                                  llvm::StringRef name);
mlir::LogicalResult checkRoPEParams(mlir::Operation *op, int64_t headDim,
                                    double theta);
mlir::LogicalResult checkAttentionShapes(mlir::Operation *op, mlir::Value query,
                                         mlir::Value key, mlir::Value value,
                                         int64_t numHeads, int64_t numKvHeads,
                                         std::optional<int64_t> headDim);
mlir::LogicalResult checkMatmulOperands(mlir::Operation *op, mlir::Value input,
                                        mlir::Value weight);

} // namespace llamac::llama::detail

#endif // LLAMAC_IR_LLAMAVERIFIER_H
