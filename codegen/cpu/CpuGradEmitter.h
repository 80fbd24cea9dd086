//===- CpuGradEmitter.h - Kernels of the backward ops ------------*- C++
//-*-===//
//
// The CPU kernels of the backward ops that llama-autodiff writes, one per op
// (silu_grad and swiglu_grad share one), and of the optimizer ops that
// llama-build-train-step adds after them. Internal to codegen/cpu.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CPU_CPUGRADEMITTER_H
#define LLAMAC_CODEGEN_CPU_CPUGRADEMITTER_H

#include "ir/LlamaOps.h"

#include "mlir/Support/LogicalResult.h"

#include "llvm/Support/raw_ostream.h"

namespace llamac::codegen::cpu {

mlir::LogicalResult emitEmbeddingGrad(llama::EmbeddingGradOp op,
                                      llvm::StringRef symbol,
                                      llvm::raw_ostream &os);
mlir::LogicalResult emitRMSNormGrad(llama::RMSNormGradOp op,
                                    llvm::StringRef symbol,
                                    llvm::raw_ostream &os);
mlir::LogicalResult emitMatmulGrad(llama::MatmulGradOp op,
                                   llvm::StringRef symbol,
                                   llvm::raw_ostream &os);
mlir::LogicalResult
emitFusedRMSNormMatmulGrad(llama::FusedRMSNormMatmulGradOp op,
                           llvm::StringRef symbol, llvm::raw_ostream &os);
mlir::LogicalResult emitRoPEGrad(llama::RoPEGradOp op, llvm::StringRef symbol,
                                 llvm::raw_ostream &os);
mlir::LogicalResult emitAttentionGrad(llama::AttentionGradOp op,
                                      llvm::StringRef symbol,
                                      llvm::raw_ostream &os);
/// llama.silu_grad and llama.swiglu_grad.
mlir::LogicalResult emitSiLUGrads(mlir::Operation *op, llvm::StringRef symbol,
                                  llvm::raw_ostream &os);
mlir::LogicalResult emitCrossEntropyGrad(llama::CrossEntropyGradOp op,
                                         llvm::StringRef symbol,
                                         llvm::raw_ostream &os);

/// The optimizer ops of llama-build-train-step (CpuOptimizerEmitter.cpp).
mlir::LogicalResult emitLRSchedule(llama::LRScheduleOp op,
                                   llvm::StringRef symbol,
                                   llvm::raw_ostream &os);
mlir::LogicalResult emitGradNorm(llama::GradNormOp op, llvm::StringRef symbol,
                                 llvm::raw_ostream &os);
mlir::LogicalResult emitAdamWUpdate(llama::AdamWUpdateOp op,
                                    llvm::StringRef symbol,
                                    llvm::raw_ostream &os);
/// llama.convert: the master weights rounded to the compute type.
mlir::LogicalResult emitConvert(llama::ConvertOp op, llvm::StringRef symbol,
                                llvm::raw_ostream &os);

} // namespace llamac::codegen::cpu

#endif // LLAMAC_CODEGEN_CPU_CPUGRADEMITTER_H
