//===- Passes.h - The llama passes ------------------------------*- C++ -*-===//

#ifndef LLAMAC_PASSES_PASSES_H
#define LLAMAC_PASSES_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <memory>

namespace llamac {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

/// Options of the named pipeline `llama-fusion-pipeline`.
struct FusionPipelineOptions
    : public mlir::PassPipelineOptions<FusionPipelineOptions> {
  Option<bool> training{*this, "training",
                        llvm::cl::desc("Keep RMSNorm gains separate so that "
                                       "they can be trained"),
                        llvm::cl::init(false)};
  Option<bool> fuseNormGrads{
      *this, "fuse-norm-grads",
      llvm::cl::desc("Fuse each RMSNorm's backward with the matmul backwards "
                     "it follows (off for targets that cannot run the fused "
                     "op's grid-wide reduction in one kernel)"),
      llvm::cl::init(true)};
};

/// Appends the fusion passes, canonicalization and CSE to `pm`.
void buildFusionPipeline(mlir::OpPassManager &pm,
                         const FusionPipelineOptions &options);

/// Appends the passes that turn @loss_and_grads into @train_step: for
/// `mixedPrecision` (16-bit weights), llama-master-weights first, so that
/// the optimizer updates f32 master weights; then llama-build-train-step.
void buildTrainStepPipeline(mlir::OpPassManager &pm, bool mixedPrecision,
                            const BuildTrainStepPassOptions &options);

/// Registers every llama pass and the named pipelines with the global
/// registry, for llama-opt and llamac.
void registerLlamaPasses();

} // namespace llamac

#endif // LLAMAC_PASSES_PASSES_H
