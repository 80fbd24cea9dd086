//===- CpuEmitterUtil.h - Shared pieces of the CPU kernel emitters -*- C++ -*-//
//
// What every CPU kernel family needs to print: element types and their
// conversions, dimensions that are literals or come from the launch context,
// the kernel signature and its buffers. Internal to codegen/cpu.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CPU_CPUEMITTERUTIL_H
#define LLAMAC_CODEGEN_CPU_CPUEMITTERUTIL_H

#include "codegen/EmitterSupport.h"
#include "ir/LlamaOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LogicalResult.h"

#include "llvm/Support/raw_ostream.h"

#include <string>

namespace llamac::codegen::cpu {

/// f16 and bf16 are kept as their bits in `uint16_t` and computed in f32.
using codegen::Elem;
using codegen::elemBytes;
using codegen::floatLiteral;

/// How CPU kernels spell the launch context.
inline constexpr codegen::ContextSpelling kCpuContext = {"the CPU target",
                                                         "ctx->", ""};

/// The element type of tensor `value`, or a diagnostic on `op`.
inline mlir::FailureOr<Elem> elemOf(mlir::Operation *op, mlir::Value value) {
  return codegen::elemOf(op, value, kCpuContext.target);
}

/// The C type of one stored element.
const char *cType(Elem elem);
/// `expr` (an lvalue of `cType(elem)`) read as f32.
std::string load(Elem elem, llvm::StringRef expr);
/// The f32 `expr` rounded to `elem`, to the nearest even.
std::string store(Elem elem, llvm::StringRef expr);
/// Suffix of the prelude's typed helpers (`llamaDot` + suffix).
const char *helperSuffix(Elem elem);

/// Dimension `dim` of `type`: a literal when static; otherwise the launch
/// context's batch (dimension 0) or sequence (dimension 1). Fails with a
/// diagnostic on `op` for any other dynamic dimension.
inline mlir::FailureOr<std::string>
dimExpr(mlir::Operation *op, mlir::RankedTensorType type, unsigned dim) {
  return codegen::dimExpr(op, type, dim, kCpuContext);
}
/// The product of every dimension of `type` but the last: its row count.
mlir::FailureOr<std::string> rowsExpr(mlir::Operation *op,
                                      mlir::RankedTensorType type);
/// The static size of dimension `dim`, or a diagnostic on `op`.
inline mlir::FailureOr<int64_t>
staticDim(mlir::Operation *op, mlir::RankedTensorType type, unsigned dim) {
  return codegen::staticDim(op, type, dim, kCpuContext.target);
}

/// The literal of a position defined by `arith.constant`, else the launch
/// context's position.
std::string positionExpr(mlir::Value position);

/// Opens `extern "C" void symbol(buffers, ctx) {` with a comment naming the
/// op it computes.
void emitSignature(llvm::raw_ostream &os, mlir::Operation *op,
                   llvm::StringRef symbol);
/// Declares `name` as buffer `index`, a restrict pointer to `elemType`.
void emitBuffer(llvm::raw_ostream &os, llvm::StringRef name, unsigned index,
                llvm::StringRef elemType, bool isConst);
inline mlir::RankedTensorType tensorType(mlir::Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType());
}

/// Opens `body`, a loop over elements [0, count) in chunks of `chunk`, whose
/// statements then see the index `i` (with `count` in scope). Chunks let
/// llamaParallelFor split large tensors over threads and leave small ones on
/// the calling thread.
void emitElementwiseLoopBegin(llvm::raw_ostream &os, int64_t chunk);
/// Closes the loop that emitElementwiseLoopBegin opened and runs it.
void emitElementwiseLoopEnd(llvm::raw_ostream &os, int64_t chunk);

/// Opens a forward or backward cross-entropy kernel: the signature, `V`,
/// `rows`, and the buffers `logits`, `targets`, `weights` and `out` (the
/// f32 loss, or the logits' gradient in their element type). Returns the
/// logits' element type.
mlir::FailureOr<Elem> emitCrossEntropyPrologue(mlir::Operation *op,
                                               mlir::Value logits,
                                               llvm::StringRef symbol,
                                               bool gradient,
                                               llvm::raw_ostream &os);

/// Prints `float *cs`: per token s of the call, the cosines (cs[s * D + i])
/// and sines (cs[s * D + D / 2 + i]) of its RoPE angles, computed as llama2.c
/// does. Needs `position` and `seq` in scope; uses scratch slot 0.
void emitRoPETable(llvm::raw_ostream &os, int64_t headDim, double theta);
/// Prints a loop rotating one head from `src` (of `srcElem`) to `dst` (of
/// `dstElem`; may equal `src`) with the angles of row `csRow` of the table,
/// or by the opposite angles when `inverse` (RoPE's gradient).
void emitRotateHead(llvm::raw_ostream &os, llvm::StringRef indent,
                    int64_t headDim, llama::RopeStyle style, Elem srcElem,
                    llvm::StringRef src, Elem dstElem, llvm::StringRef dst,
                    llvm::StringRef csRow, bool inverse = false);

/// Kernel families, one file each.
mlir::LogicalResult emitMatmul(llama::MatmulOp op, llvm::StringRef symbol,
                               llvm::raw_ostream &os);
mlir::LogicalResult emitFusedMatmul(llama::FusedMatmulOp op,
                                    llvm::StringRef symbol,
                                    llvm::raw_ostream &os);
mlir::LogicalResult emitPackWeights(llama::PackWeightsOp op,
                                    llvm::StringRef symbol,
                                    llvm::raw_ostream &os);
mlir::LogicalResult emitRoPE(llama::RoPEOp op, llvm::StringRef symbol,
                             llvm::raw_ostream &os);
/// The kernel of llama.rope (and, with `inverse`, of llama.rope_grad):
/// every head of `input` rotated at `position`.
mlir::LogicalResult emitRotation(mlir::Operation *op, mlir::Value input,
                                 mlir::Value position, int64_t headDim,
                                 double theta, llama::RopeStyle style,
                                 bool inverse, llvm::StringRef symbol,
                                 llvm::raw_ostream &os);
mlir::LogicalResult emitKVCacheWrite(llama::KVCacheWriteOp op,
                                     llvm::StringRef symbol,
                                     llvm::raw_ostream &os);
mlir::LogicalResult emitAttention(llama::AttentionOp op, llvm::StringRef symbol,
                                  llvm::raw_ostream &os);
mlir::LogicalResult emitFusedRoPEAttention(llama::FusedRoPEAttentionOp op,
                                           llvm::StringRef symbol,
                                           llvm::raw_ostream &os);
mlir::LogicalResult emitEmbedding(llama::EmbeddingOp op, llvm::StringRef symbol,
                                  llvm::raw_ostream &os);
mlir::LogicalResult emitRMSNorm(llama::RMSNormOp op, llvm::StringRef symbol,
                                llvm::raw_ostream &os);
mlir::LogicalResult emitElementwise(mlir::Operation *op, llvm::StringRef symbol,
                                    llvm::raw_ostream &os);
mlir::LogicalResult emitCrossEntropy(llama::CrossEntropyOp op,
                                     llvm::StringRef symbol,
                                     llvm::raw_ostream &os);

/// The shared source every kernel relies on.
void emitCpuPrelude(llvm::raw_ostream &os);

} // namespace llamac::codegen::cpu

#endif // LLAMAC_CODEGEN_CPU_CPUEMITTERUTIL_H
