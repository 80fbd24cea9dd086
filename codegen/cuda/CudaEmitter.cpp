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

enum class Family { Matmul, Attention, Simple };

Family familyOf(Operation *op) {
  if (isa<MatmulOp, FusedMatmulOp>(op))
    return Family::Matmul;
  if (isa<AttentionOp, FusedRoPEAttentionOp>(op))
    return Family::Attention;
  return Family::Simple;
}

class CudaEmitter : public KernelEmitter {
public:
  void emitPrelude(raw_ostream &os) override { cuda::emitPrelude(os); }

  bool canEmit(Operation *op) const override {
    return isa<EmbeddingOp, RMSNormOp, MatmulOp, RoPEOp, KVCacheWriteOp,
               AttentionOp, SiLUOp, MulOp, AddOp, CrossEntropyOp, PackWeightsOp,
               FusedMatmulOp, FusedRoPEAttentionOp>(op);
  }

  LogicalResult emitKernel(Operation *op, StringRef symbol,
                           raw_ostream &os) override {
    if (!canEmit(op))
      return op->emitOpError() << "has no CUDA kernel";
    switch (familyOf(op)) {
    case Family::Matmul:
      return cuda::emitMatmulKernel(op, symbol, os);
    case Family::Attention:
      return cuda::emitAttentionKernel(op, symbol, os);
    case Family::Simple:
      return cuda::emitSimpleKernel(op, symbol, os);
    }
    llvm_unreachable("unknown kernel family");
  }

  /// Only called for ops whose kernel was emitted, so the plan succeeds;
  /// an empty geometry would launch nothing useful, never out of bounds.
  artifact::LaunchGeometry launchGeometry(Operation *op) const override {
    FailureOr<artifact::LaunchGeometry> geometry = failure();
    switch (familyOf(op)) {
    case Family::Matmul:
      geometry = cuda::matmulGeometry(op);
      break;
    case Family::Attention:
      geometry = cuda::attentionGeometry(op);
      break;
    case Family::Simple:
      geometry = cuda::simpleGeometry(op);
      break;
    }
    return succeeded(geometry) ? *geometry : artifact::LaunchGeometry{};
  }
};

} // namespace

std::unique_ptr<KernelEmitter> createCudaEmitter() {
  return std::make_unique<CudaEmitter>();
}

} // namespace llamac::codegen
