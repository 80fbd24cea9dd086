//===- CudaTestModels.h - Kernel sources of whole models for the tests -*- C++
//-*-//
//
// Builds a preset's entry points with the frontend, optionally fuses them,
// and lowers them to kernels with the CUDA emitter, as llamac does.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TEST_UNIT_CODEGEN_CUDA_CUDATESTMODELS_H
#define LLAMAC_TEST_UNIT_CODEGEN_CUDA_CUDATESTMODELS_H

#include "frontend/ModelBuilder.h"
#include "runtime/ArtifactSpec.h"

#include "mlir/IR/MLIRContext.h"

#include <string>

namespace llamac::test {

struct ModelCase {
  const char *preset;
  DType dtype;
  bool fused;
  /// The training entry (forward_loss) instead of prefill and decode.
  bool training = false;
  /// With `training`: the backward ops too (loss_and_grads), and for f32
  /// and bf16 (mixed precision) models train_step with the optimizer's,
  /// fused as llamac fuses them for the CUDA target.
  bool backward = false;
};

/// A name for test parameters: "llama2_7b_bf16_fused".
std::string caseName(const ModelCase &c);

/// Lowers the case's module with the CUDA emitter. On failure, `error`
/// holds the diagnostics and the result is empty.
artifact::ArtifactSpec lowerCase(const ModelCase &c, std::string &error);

/// A context with the dialects the frontend and passes use.
std::unique_ptr<mlir::MLIRContext> makeContext();

/// Builds (and with `fused`, fuses) the module of a case.
mlir::OwningOpRef<mlir::ModuleOp>
buildCase(mlir::MLIRContext &context, const ModelCase &c, std::string &error);

} // namespace llamac::test

#endif // LLAMAC_TEST_UNIT_CODEGEN_CUDA_CUDATESTMODELS_H
