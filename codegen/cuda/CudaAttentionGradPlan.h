//===- CudaAttentionGradPlan.h - What an attention_grad kernel needs -*- C++
//-*-===//
//
// attention_grad has two CUDA implementations: one SIMT kernel for any
// element type and head size (CudaAttentionGrad.cpp), and three tensor-core
// kernels for 16-bit data with a head size mma.sync tiles
// (CudaTensorCoreAttentionGrad.cpp). Both print the same preamble of shape
// constants and buffers. Internal to codegen/cuda.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_CUDAATTENTIONGRADPLAN_H
#define LLAMAC_CODEGEN_CUDA_CUDAATTENTIONGRADPLAN_H

#include "codegen/cuda/CudaEmitterUtil.h"

namespace llamac::codegen::cuda {

struct AttentionGradPlan {
  llama::AttentionGradOp op;
  int64_t batch = 0, heads = 0, kvHeads = 0, headDim = 0;
  double scale = 1.0;
  Elem elem = Elem::F32;
  /// The query and key row counts per batch row and the position of the
  /// first query, as expressions; the counts also as constants when static.
  std::string seq, keys, position;
  std::optional<int64_t> seqConstant, keysConstant;

  /// bf16 or f16 with a head size of 16 to 128 in steps of 16: the three
  /// tensor-core phases. Anything else runs the one SIMT kernel.
  bool tensorCores() const {
    return (elem == Elem::BF16 || elem == Elem::F16) && headDim % 16 == 0 &&
           headDim <= 128;
  }
};

mlir::FailureOr<AttentionGradPlan> planAttentionGrad(llama::AttentionGradOp op);

/// The shape constants, `scale`, S, L, position, T and the seven buffers.
void emitAttentionGradCommon(llvm::raw_ostream &os,
                             const AttentionGradPlan &plan);

/// The tensor-core phases, in launch order.
enum class AttentionGradPhase { Stats, KeyGrads, QueryGrads };
inline constexpr unsigned kAttentionGradPhases = 3;

void emitTensorCoreAttentionGrad(llvm::raw_ostream &os,
                                 const AttentionGradPlan &plan,
                                 AttentionGradPhase phase,
                                 llvm::StringRef symbol);
artifact::LaunchGeometry
tensorCoreAttentionGradGeometry(const AttentionGradPlan &plan,
                                AttentionGradPhase phase);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAATTENTIONGRADPLAN_H
