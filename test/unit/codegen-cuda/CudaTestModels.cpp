//===- CudaTestModels.cpp - Kernel sources of whole models for the tests --===//

#include "test/unit/codegen-cuda/CudaTestModels.h"

#include "codegen/KernelEmitter.h"
#include "codegen/LowerToKernels.h"
#include "frontend/ConfigReaders.h"
#include "ir/LlamaDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;

namespace llamac::test {

std::string caseName(const ModelCase &c) {
  std::string name = c.preset;
  for (char &ch : name)
    if (ch == '-')
      ch = '_';
  name += std::string("_") + toString(c.dtype);
  name += c.fused ? "_fused" : "_unfused";
  if (c.training)
    name += c.backward ? "_backward" : "_training";
  return name;
}

std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  registry
      .insert<llama::LlamaDialect, func::FuncDialect, arith::ArithDialect>();
  auto context = std::make_unique<MLIRContext>(registry);
  context->loadAllAvailableDialects();
  return context;
}

OwningOpRef<ModuleOp> buildCase(MLIRContext &context, const ModelCase &c,
                                std::string &error) {
  llvm::Expected<ModelConfig> config = presetConfig(c.preset);
  if (!config) {
    error = llvm::toString(config.takeError());
    return nullptr;
  }
  config->dtype = c.dtype;
  BuildOptions options;
  options.entries = c.training ? std::vector<EntryKind>{EntryKind::ForwardLoss}
                               : std::vector<EntryKind>{EntryKind::Prefill,
                                                        EntryKind::Decode};
  OwningOpRef<ModuleOp> module = buildModel(context, *config, options);
  if (c.backward) {
    PassManager pm(&context);
    pm.addPass(createAutodiffPass());
    // As llamac: f32 trains as it is, bf16 in mixed precision (f32 master
    // weights); f16 has gradients only, since llamac does not train in it.
    if (c.dtype != DType::F16)
      buildTrainStepPipeline(pm, c.dtype == DType::BF16, {});
    if (failed(pm.run(*module))) {
      error = "building the training step failed";
      return nullptr;
    }
  }
  if (c.fused) {
    PassManager pm(&context);
    FusionPipelineOptions fusion;
    fusion.training = c.training;
    fusion.fuseNormGrads = false; // as llamac --target=cuda
    buildFusionPipeline(pm, fusion);
    if (failed(pm.run(*module))) {
      error = "the fusion pipeline failed";
      return nullptr;
    }
  }
  return module;
}

artifact::ArtifactSpec lowerCase(const ModelCase &c, std::string &error) {
  std::unique_ptr<MLIRContext> context = makeContext();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(context.get(), [&](Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = buildCase(*context, c, error);
  if (!module)
    return {};
  std::unique_ptr<codegen::KernelEmitter> emitter =
      codegen::createCudaEmitter();
  llvm::Expected<artifact::ArtifactSpec> spec =
      codegen::lowerToKernels(*module, *emitter, {});
  if (!spec) {
    error = llvm::toString(spec.takeError()) + "\n" + diagnostics;
    return {};
  }
  return std::move(*spec);
}

} // namespace llamac::test
