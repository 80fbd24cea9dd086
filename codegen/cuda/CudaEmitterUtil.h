//===- CudaEmitterUtil.h - Shared pieces of the CUDA kernel emitters -*- C++
//-*-//
//
// What every CUDA kernel family needs to print: element types, dimensions
// that are literals or come from the launch context, the kernel signature,
// and the launch geometry rules. Internal to codegen/cuda.
//
// Each family emits a kernel as a block of `constexpr` constants and type
// aliases followed by a body written against those names, so that the body
// is fully specialized on the op (shapes, dtypes, epilogue) while the text
// of the algorithm stays readable in one place.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_CUDAEMITTERUTIL_H
#define LLAMAC_CODEGEN_CUDA_CUDAEMITTERUTIL_H

#include "codegen/EmitterSupport.h"
#include "ir/LlamaOps.h"
#include "runtime/ArtifactSpec.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LogicalResult.h"

#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

namespace llamac::codegen::cuda {

using codegen::Elem;
using codegen::elemBytes;
using codegen::floatLiteral;

/// How CUDA kernels spell the launch context.
inline constexpr codegen::ContextSpelling kCudaContext = {
    "the CUDA target", "args.context.", "LL"};

/// The element type of tensor `value`, or a diagnostic on `op`.
inline mlir::FailureOr<Elem> elemOf(mlir::Operation *op, mlir::Value value) {
  return codegen::elemOf(op, value, kCudaContext.target);
}

/// The CUDA type of one stored element (`float`, `__half`, `__nv_bfloat16`).
const char *cudaType(Elem elem);

inline mlir::RankedTensorType tensorType(mlir::Value value) {
  return mlir::cast<mlir::RankedTensorType>(value.getType());
}

/// The row count of `type` (every dimension but the last): a literal when
/// static, else an expression of the launch context's batch and seq.
struct Rows {
  /// Set when every dimension but the last is static.
  std::optional<int64_t> constant;
  /// A C++ expression of type `long long`.
  std::string expr;
};
mlir::FailureOr<Rows> rowsOf(mlir::Operation *op, mlir::RankedTensorType type);

/// Dimension `dim` of `type` as a `long long` expression: a literal when
/// static, else the context's batch (dimension 0) or seq (dimension 1).
inline mlir::FailureOr<std::string>
dimExpr(mlir::Operation *op, mlir::RankedTensorType type, unsigned dim) {
  return codegen::dimExpr(op, type, dim, kCudaContext);
}
/// The static size of dimension `dim`, or a diagnostic on `op`.
inline mlir::FailureOr<int64_t>
staticDim(mlir::Operation *op, mlir::RankedTensorType type, unsigned dim) {
  return codegen::staticDim(op, type, dim, kCudaContext.target);
}

/// The literal of a position defined by `arith.constant`, else the call's
/// position as the runtime wrote it to device memory (KernelAbi.h says why).
std::string positionExpr(mlir::Value position);

/// Opens `extern "C" __global__ void symbol(const __grid_constant__
/// LlamaGpuArgs args) {` (KernelAbi.h says why) with a
/// comment naming the op and a launch bound of `threads`, and of
/// `minBlocks` resident blocks per SM (a macro's name or a number) if
/// given, which caps the registers a thread may use. The body starts by
/// waiting for the previous kernel in the stream (programmatic dependent
/// launch, CudaPrelude.cpp), unless `wait` is Deferred: then the emitter
/// prints emitGridDependencyWait itself, before its first access to memory
/// that another kernel writes.
enum class GridWait { AtStart, Deferred };
void emitSignature(llvm::raw_ostream &os, mlir::Operation *op,
                   llvm::StringRef symbol, int threads,
                   llvm::StringRef minBlocks = "",
                   GridWait wait = GridWait::AtStart);
/// The same with `threads` a macro's name (which differs by arch).
void emitSignature(llvm::raw_ostream &os, mlir::Operation *op,
                   llvm::StringRef symbol, llvm::StringRef threads,
                   llvm::StringRef minBlocks = "",
                   GridWait wait = GridWait::AtStart);
/// Waits for the previous kernel, then lets the next one launch.
void emitGridDependencyWait(llvm::raw_ostream &os);
/// Declares `name` as buffer `index`, a restrict pointer to `type`, read
/// from `array`: the launch's `args.buffers`, or `bufs` after
/// emitBufferTable.
void emitBuffer(llvm::raw_ostream &os, llvm::StringRef name, unsigned index,
                llvm::StringRef type, bool isConst,
                llvm::StringRef array = "args.buffers");

/// How many buffers the runtime passes to the kernel of `op`: its tensor
/// operands, then its results (LowerToKernels.cpp).
unsigned launchBufferCount(mlir::Operation *op);
/// Declares `bufs`, the launch's buffer addresses in order: `args.buffers`,
/// or for a launch of more than LLAMA_MAX_KERNEL_BUFFERS buffers (the
/// optimizer's ops over every weight) the device table that
/// `args.buffers[0]` points to (KernelAbi.h).
void emitBufferTable(llvm::raw_ostream &os, mlir::Operation *op);

/// Grid dimension `axis` covering `rows` in blocks of `rowsPerBlock`: a
/// constant when the rows are static, else the runtime's batch*seq rule.
void setRowGrid(artifact::LaunchGeometry &geometry, unsigned axis,
                const Rows &rows, uint32_t rowsPerBlock);
/// A fixed grid of `x * y * z` blocks of `threads` threads.
artifact::LaunchGeometry fixedGrid(uint32_t x, uint32_t y, uint32_t z,
                                   uint32_t threads);

/// a / b rounded up: blocks or tiles covering `a` items.
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// The largest power of two, at most 16, dividing `bytes`: the widest load
/// that keeps every element of a `bytes`-long aligned run aligned.
int64_t vectorBytes(int64_t bytes);
/// Elements of `elem` one load takes along rows of `count` of them: the
/// widest load (at most 16 bytes) that keeps every row start aligned. Two
/// kernels that must sum a row alike ask the same question here.
int64_t vectorElements(int64_t count, Elem elem);

} // namespace llamac::codegen::cuda

#endif // LLAMAC_CODEGEN_CUDA_CUDAEMITTERUTIL_H
