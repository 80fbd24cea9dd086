//===- CpuEmitter.cpp - The CPU KernelEmitter: dispatch by op -------------===//
//
// Each op kind goes to its family's emitter; this file only routes and owns
// the compiler invocation that the driver and the tests share.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuEmitter.h"
#include "codegen/cpu/CpuEmitterUtil.h"
#include "codegen/cpu/CpuGradEmitter.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen {

const char *cpuCompiler() { return "c++"; }

std::vector<std::string> cpuCompileFlags() {
  // -fno-math-errno lets sqrtf be one instruction; -fno-trapping-math lets
  // g++ if-convert and so vectorize loops with comparisons (the softmax's
  // exponential). Neither changes a computed value; only FP exception flags.
  return {"-std=c++17", "-O3",   "-march=native",   "-fopenmp",
          "-shared",    "-fPIC", "-fno-math-errno", "-fno-trapping-math"};
}

namespace {

class CpuEmitter : public KernelEmitter {
public:
  void emitPrelude(raw_ostream &os) override { cpu::emitCpuPrelude(os); }

  bool canEmit(Operation *op) const override {
    return isa<EmbeddingOp, RMSNormOp, MatmulOp, RoPEOp, KVCacheWriteOp,
               AttentionOp, SiLUOp, MulOp, AddOp, CrossEntropyOp, PackWeightsOp,
               FusedMatmulOp, FusedRoPEAttentionOp, EmbeddingGradOp,
               RMSNormGradOp, MatmulGradOp, RoPEGradOp, AttentionGradOp,
               SiLUGradOp, SwiGLUGradOp, CrossEntropyGradOp,
               FusedRMSNormMatmulGradOp, LRScheduleOp, GradNormOp,
               AdamWUpdateOp, ConvertOp>(op);
  }

  /// Every CPU kernel is one phase: a kernel runs its loops in order.
  LogicalResult emitKernel(Operation *op, unsigned phase, StringRef symbol,
                           raw_ostream &os) override {
    if (phase != 0)
      return op->emitOpError() << "has one CPU kernel, not phase " << phase;
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case([&](MatmulOp op) { return cpu::emitMatmul(op, symbol, os); })
        .Case([&](FusedMatmulOp op) {
          return cpu::emitFusedMatmul(op, symbol, os);
        })
        .Case([&](PackWeightsOp op) {
          return cpu::emitPackWeights(op, symbol, os);
        })
        .Case([&](RoPEOp op) { return cpu::emitRoPE(op, symbol, os); })
        .Case([&](KVCacheWriteOp op) {
          return cpu::emitKVCacheWrite(op, symbol, os);
        })
        .Case(
            [&](AttentionOp op) { return cpu::emitAttention(op, symbol, os); })
        .Case([&](FusedRoPEAttentionOp op) {
          return cpu::emitFusedRoPEAttention(op, symbol, os);
        })
        .Case(
            [&](EmbeddingOp op) { return cpu::emitEmbedding(op, symbol, os); })
        .Case([&](RMSNormOp op) { return cpu::emitRMSNorm(op, symbol, os); })
        .Case<SiLUOp, MulOp, AddOp>(
            [&](Operation *op) { return cpu::emitElementwise(op, symbol, os); })
        .Case([&](CrossEntropyOp op) {
          return cpu::emitCrossEntropy(op, symbol, os);
        })
        .Case([&](EmbeddingGradOp op) {
          return cpu::emitEmbeddingGrad(op, symbol, os);
        })
        .Case([&](RMSNormGradOp op) {
          return cpu::emitRMSNormGrad(op, symbol, os);
        })
        .Case([&](MatmulGradOp op) {
          return cpu::emitMatmulGrad(op, symbol, os);
        })
        .Case([&](RoPEGradOp op) { return cpu::emitRoPEGrad(op, symbol, os); })
        .Case([&](AttentionGradOp op) {
          return cpu::emitAttentionGrad(op, symbol, os);
        })
        .Case<SiLUGradOp, SwiGLUGradOp>(
            [&](Operation *op) { return cpu::emitSiLUGrads(op, symbol, os); })
        .Case([&](FusedRMSNormMatmulGradOp op) {
          return cpu::emitFusedRMSNormMatmulGrad(op, symbol, os);
        })
        .Case([&](LRScheduleOp op) {
          return cpu::emitLRSchedule(op, symbol, os);
        })
        .Case([&](GradNormOp op) { return cpu::emitGradNorm(op, symbol, os); })
        .Case([&](AdamWUpdateOp op) {
          return cpu::emitAdamWUpdate(op, symbol, os);
        })
        .Case([&](ConvertOp op) { return cpu::emitConvert(op, symbol, os); })
        .Case([&](CrossEntropyGradOp op) {
          return cpu::emitCrossEntropyGrad(op, symbol, os);
        })
        .Default([&](Operation *op) {
          return op->emitOpError() << "has no CPU kernel";
        });
  }
};

} // namespace

std::unique_ptr<KernelEmitter> createCpuEmitter() {
  return std::make_unique<CpuEmitter>();
}

} // namespace llamac::codegen
