//===- CudaEmitter.cpp - The CUDA KernelEmitter: dispatch by op -----------===//
//
// Each op kind goes to its family; this file only routes.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"
#include "codegen/KernelEmitter.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen {
namespace {

enum class Family {
  Matmul,
  Attention,
  Simple,
  Grad,
  MatmulGrad,
  AttentionGrad,
  Optimizer
};

Family familyOf(Operation *op) {
  if (isa<MatmulOp, FusedMatmulOp>(op))
    return Family::Matmul;
  if (isa<AttentionOp, FusedRoPEAttentionOp>(op))
    return Family::Attention;
  if (isa<EmbeddingGradOp, RMSNormGradOp, CrossEntropyGradOp>(op))
    return Family::Grad;
  if (isa<MatmulGradOp>(op))
    return Family::MatmulGrad;
  if (isa<AttentionGradOp>(op))
    return Family::AttentionGrad;
  if (isa<LRScheduleOp, GradNormOp, AdamWUpdateOp, ConvertOp>(op))
    return Family::Optimizer;
  return Family::Simple;
}

class CudaEmitter : public KernelEmitter {
public:
  void emitPrelude(raw_ostream &os) override { cuda::emitPrelude(os); }

  bool canEmit(Operation *op) const override {
    return isa<EmbeddingOp, RMSNormOp, MatmulOp, RoPEOp, KVCacheWriteOp,
               AttentionOp, SiLUOp, MulOp, AddOp, CrossEntropyOp, PackWeightsOp,
               FusedMatmulOp, FusedRoPEAttentionOp, EmbeddingGradOp,
               RMSNormGradOp, MatmulGradOp, RoPEGradOp, AttentionGradOp,
               SiLUGradOp, SwiGLUGradOp, CrossEntropyGradOp, LRScheduleOp,
               GradNormOp, AdamWUpdateOp, ConvertOp>(op);
  }

  unsigned phaseCount(Operation *op) const override {
    if (auto grad = dyn_cast<AttentionGradOp>(op))
      return cuda::attentionGradPhases(grad);
    if (familyOf(op) == Family::Attention)
      return cuda::attentionPhases(op);
    return 1;
  }

  std::string phaseName(Operation *op, unsigned phase) const override {
    if (isa<AttentionGradOp>(op))
      return cuda::attentionGradPhaseName(phase);
    if (familyOf(op) == Family::Attention)
      return cuda::attentionPhaseName(op, phase);
    return KernelEmitter::phaseName(op, phase);
  }

  LogicalResult emitKernel(Operation *op, unsigned phase, StringRef symbol,
                           raw_ostream &os) override {
    if (!canEmit(op))
      return op->emitOpError() << "has no CUDA kernel";
    if (phase >= phaseCount(op))
      return op->emitOpError() << "has no CUDA kernel phase " << phase;
    switch (familyOf(op)) {
    case Family::Matmul:
      return cuda::emitMatmulKernel(op, symbol, os);
    case Family::Attention:
      return cuda::emitAttentionKernel(op, phase, symbol, os);
    case Family::Simple:
      return cuda::emitSimpleKernel(op, symbol, os);
    case Family::Grad:
      return cuda::emitGradKernel(op, symbol, os);
    case Family::MatmulGrad:
      return cuda::emitMatmulGradKernel(cast<MatmulGradOp>(op), symbol, os);
    case Family::AttentionGrad:
      return cuda::emitAttentionGradKernel(cast<AttentionGradOp>(op), phase,
                                           symbol, os);
    case Family::Optimizer:
      return cuda::emitOptimizerKernel(op, symbol, os);
    }
    llvm_unreachable("unknown kernel family");
  }

  /// Only called for ops whose kernel was emitted, so the plan succeeds;
  /// an empty geometry would launch nothing useful, never out of bounds.
  artifact::LaunchGeometry launchGeometry(Operation *op,
                                          unsigned phase) const override {
    FailureOr<artifact::LaunchGeometry> geometry = failure();
    switch (familyOf(op)) {
    case Family::Matmul:
      geometry = cuda::matmulGeometry(op);
      break;
    case Family::Attention:
      geometry = cuda::attentionGeometry(op, phase);
      break;
    case Family::Simple:
      geometry = cuda::simpleGeometry(op);
      break;
    case Family::Grad:
      geometry = cuda::gradGeometry(op);
      break;
    case Family::MatmulGrad:
      geometry = cuda::matmulGradGeometry(cast<MatmulGradOp>(op));
      break;
    case Family::AttentionGrad:
      geometry = cuda::attentionGradGeometry(cast<AttentionGradOp>(op), phase);
      break;
    case Family::Optimizer:
      geometry = cuda::optimizerGeometry(op);
      break;
    }
    return succeeded(geometry) ? *geometry : artifact::LaunchGeometry{};
  }

  std::optional<artifact::LaunchGeometry>
  wgmmaGeometry(Operation *op, unsigned phase) const override {
    if (familyOf(op) == Family::Matmul)
      return cuda::matmulWgmmaGeometry(op);
    if (familyOf(op) == Family::MatmulGrad)
      return cuda::matmulGradWgmmaGeometry(cast<MatmulGradOp>(op));
    if (familyOf(op) == Family::Attention)
      return cuda::attentionWgmmaGeometry(op, phase);
    if (familyOf(op) == Family::AttentionGrad)
      return cuda::attentionGradWgmmaGeometry(cast<AttentionGradOp>(op), phase);
    return std::nullopt;
  }

  std::vector<artifact::TensorMapSpec>
  tensorMaps(Operation *op, unsigned phase) const override {
    if (familyOf(op) == Family::Matmul)
      return cuda::matmulTensorMaps(op);
    if (familyOf(op) == Family::MatmulGrad)
      return cuda::matmulGradTensorMaps(cast<MatmulGradOp>(op));
    if (familyOf(op) == Family::Attention)
      return cuda::attentionTensorMaps(op, phase);
    if (familyOf(op) == Family::AttentionGrad)
      return cuda::attentionGradTensorMaps(cast<AttentionGradOp>(op), phase);
    return {};
  }
};

} // namespace

std::unique_ptr<KernelEmitter> createCudaEmitter() {
  return std::make_unique<CudaEmitter>();
}

} // namespace llamac::codegen
