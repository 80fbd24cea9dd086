//===- CudaEmitter.h - The CUDA kernel families -----------------*- C++ -*-===//
//
// The CUDA emitter routes each op to its kernel family, one file each. A
// family both prints a kernel and says how to launch it, from one plan of
// the op, so that the body's indexing and the launch geometry agree.
// Internal to codegen/cuda; the public entry is createCudaEmitter().
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_CUDAEMITTER_H
#define LLAMAC_CODEGEN_CUDA_CUDAEMITTER_H

#include "codegen/cuda/CudaEmitterUtil.h"

namespace llamac::codegen::cuda {

/// The shared source every kernel relies on.
void emitPrelude(llvm::raw_ostream &os);

/// GEMMs: fused_matmul and matmul. Decode (few static rows) is a fused
/// RMSNorm + GEMV; anything else a tiled GEMM (tensor cores for 16-bit).
mlir::LogicalResult emitMatmulKernel(mlir::Operation *op,
                                     llvm::StringRef symbol,
                                     llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry> matmulGeometry(mlir::Operation *op);
/// The tensor-core GEMM's geometry on sm_90a, whose wgmma tiles are twice as
/// wide as the mma.sync ones; none for the other GEMMs.
std::optional<artifact::LaunchGeometry>
matmulWgmmaGeometry(mlir::Operation *op);
/// The tensor-core GEMM's TMA maps (used on sm_90a): the activations and
/// the weight, in 128-byte swizzled boxes of 64 of K; none for the others.
std::vector<artifact::TensorMapSpec> matmulTensorMaps(mlir::Operation *op);

/// fused_rope_attention and attention: flash-decoding for one new token
/// per batch row, flash attention otherwise; with caches, the flash
/// attention comes after a launch that writes the new rows to them.
/// The sm_90a attention's own block and shared memory, and the tensor maps
/// it loads its key and value tiles through, where its plan has that
/// variant (the flash phase of prefill, plain attention).
std::optional<artifact::LaunchGeometry>
attentionWgmmaGeometry(mlir::Operation *op, unsigned phase);
std::vector<artifact::TensorMapSpec> attentionTensorMaps(mlir::Operation *op,
                                                         unsigned phase);
unsigned attentionPhases(mlir::Operation *op);
std::string attentionPhaseName(mlir::Operation *op, unsigned phase);
mlir::LogicalResult emitAttentionKernel(mlir::Operation *op, unsigned phase,
                                        llvm::StringRef symbol,
                                        llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry> attentionGeometry(mlir::Operation *op,
                                                            unsigned phase);

/// Row-wise and elementwise ops: embedding, rmsnorm, rope, kv_cache_write,
/// silu, mul, add, cross_entropy, pack_weights, and the backward rope_grad,
/// silu_grad and swiglu_grad.
mlir::LogicalResult emitSimpleKernel(mlir::Operation *op,
                                     llvm::StringRef symbol,
                                     llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry> simpleGeometry(mlir::Operation *op);

/// The backward ops that sum across rows: embedding_grad, rmsnorm_grad,
/// cross_entropy_grad (CudaGradKernels.cpp).
mlir::LogicalResult emitGradKernel(mlir::Operation *op, llvm::StringRef symbol,
                                   llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry> gradGeometry(mlir::Operation *op);

/// matmul_grad: dx and dW in one launch.
mlir::LogicalResult emitMatmulGradKernel(llama::MatmulGradOp op,
                                         llvm::StringRef symbol,
                                         llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry>
matmulGradGeometry(llama::MatmulGradOp op);
/// Its tensor-core tiles on sm_90a, twice as wide; none on the SIMT cores.
std::optional<artifact::LaunchGeometry>
matmulGradWgmmaGeometry(llama::MatmulGradOp op);
/// The tensor maps its sm_90a tiles load from (x, W and dy), or none.
std::vector<artifact::TensorMapSpec>
matmulGradTensorMaps(llama::MatmulGradOp op);

/// attention_grad: dQ, dK and dV of causal GQA attention, in three phases
/// (softmax statistics, dK and dV, dQ) of SIMT or tensor-core kernels.
unsigned attentionGradPhases(llama::AttentionGradOp op);
std::string attentionGradPhaseName(unsigned phase);
mlir::LogicalResult emitAttentionGradKernel(llama::AttentionGradOp op,
                                            unsigned phase,
                                            llvm::StringRef symbol,
                                            llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry>
attentionGradGeometry(llama::AttentionGradOp op, unsigned phase);
/// The phases' blocks on sm_90a (wgmma, with a loader warpgroup), and the
/// tensor maps of the tiles they load; none for the SIMT kernel or head
/// sizes other than 64 and 128.
std::optional<artifact::LaunchGeometry>
attentionGradWgmmaGeometry(llama::AttentionGradOp op, unsigned phase);
std::vector<artifact::TensorMapSpec>
attentionGradTensorMaps(llama::AttentionGradOp op, unsigned phase);

/// The optimizer ops: lr_schedule, grad_norm, adamw_update, and convert
/// (the master weights rounded to the compute type).
mlir::LogicalResult emitOptimizerKernel(mlir::Operation *op,
                                        llvm::StringRef symbol,
                                        llvm::raw_ostream &os);
mlir::FailureOr<artifact::LaunchGeometry>
optimizerGeometry(mlir::Operation *op);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAEMITTER_H
