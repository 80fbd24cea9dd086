//===- Pipelines.cpp - Named pipelines and pass registration --------------===//

#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace llamac {
namespace {
#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"
} // namespace
} // namespace llamac

void llamac::buildFusionPipeline(OpPassManager &pm,
                                 const FusionPipelineOptions &options) {
  FuseRMSNormMatmulPassOptions normOptions;
  normOptions.foldGain = !options.training;
  OpPassManager &funcPm = pm.nest<func::FuncOp>();
  funcPm.addPass(createFuseRMSNormMatmulPass(normOptions));
  funcPm.addPass(createFuseSwiGLUPass());
  funcPm.addPass(createFuseRoPEAttentionPass());
  if (options.fuseNormGrads)
    funcPm.addPass(createFuseRMSNormMatmulGradPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void llamac::buildTrainStepPipeline(OpPassManager &pm, bool mixedPrecision,
                                    const BuildTrainStepPassOptions &options) {
  if (mixedPrecision)
    pm.addPass(createMasterWeightsPass());
  pm.addPass(createBuildTrainStepPass(options));
}

void llamac::registerLlamaPasses() {
  registerLlamaFusionPasses();
  PassPipelineRegistration<FusionPipelineOptions>(
      "llama-fusion-pipeline",
      "Fuses the llama graph into RMSNorm+GEMM, SwiGLU, residual and "
      "RoPE+attention kernels, then canonicalizes and CSEs",
      buildFusionPipeline);
}
