//===- EmitterSupport.h - What every target's emitters share ----*- C++ -*-===//
//
// The target-independent half of printing a kernel: which element type a
// tensor stores, exact float literals, and which dimensions are literals and
// which come from the launch context. Each target spells the context its own
// way (`ctx->seq` on the CPU, `args.context.seq` on CUDA) and wraps these.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_EMITTERSUPPORT_H
#define LLAMAC_CODEGEN_EMITTERSUPPORT_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/Support/LogicalResult.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

namespace llamac::codegen {

/// The element types kernels store; all arithmetic is f32.
enum class Elem { F32, F16, BF16 };

/// The element type of tensor `value`, or a diagnostic on `op` naming
/// `target`.
mlir::FailureOr<Elem> elemOf(mlir::Operation *op, mlir::Value value,
                             llvm::StringRef target);

/// Bytes of one stored element.
inline int64_t elemBytes(Elem elem) { return elem == Elem::F32 ? 4 : 2; }

/// `value` rounded to f32 and printed exactly (a hex float literal), so the
/// kernel sees the float the compiler computed, with no decimal round trip.
std::string floatLiteral(double value);

/// `value` printed exactly, as a hex double literal.
std::string doubleLiteral(double value);

/// The optimizer's scalar arithmetic, printed as the same text for C++ and
/// CUDA C++, so that both targets round every step alike (and as PyTorch's
/// AdamW does: scalars in f64, rounded once).
///
/// The body of lr_schedule: reads `schedule` ([step, warmup, total]) and
/// `peak`, writes `out[0]`.
void emitLRScheduleBody(llvm::raw_ostream &os, double finalRatio);
/// The per-step scalars of adamw_update from `lrIn`, `normIn` and
/// `schedule`: lr, clip, decay, stepSize, bc2Sqrt, a1, b2, a2 and eps.
void emitAdamWScalars(llvm::raw_ostream &os, double beta1, double beta2,
                      double epsilon, double weightDecay, double maxGradNorm);
/// The f32 lvalues one AdamW element updates: the weight and its moments.
struct AdamWElement {
  llvm::StringRef param = "p[i]", moment = "m[i]", secondMoment = "v[i]";
};
/// The update of one element (by default element `i` of `p`, `m` and `v`)
/// by the gradient `grad` (an f32 expression), each line starting with
/// `indent`.
void emitAdamWElement(llvm::raw_ostream &os, llvm::StringRef indent,
                      llvm::StringRef grad, const AdamWElement &at = {});

/// One buffer of a launch: its name in the kernel text, and whether the
/// kernel only reads it.
struct KernelBuffer {
  llvm::StringRef name;
  bool input;
};

/// silu_grad's buffers in launch order (x, dy -> out), or swiglu_grad's
/// (x, up, dy -> out, dup).
llvm::SmallVector<KernelBuffer, 5> siluGradBuffers(bool swiglu);

/// The silu_grad or swiglu_grad of element `i` of those buffers, each line
/// starting with `indent`: with s = sigmoid(x), d silu(x)/dx = s (1 + x (1 -
/// s)), and swiglu's gradient of up is dy silu(x). `load` spells a stored
/// element as f32, `store` an f32 as the stored type, and `exp` names the
/// target's f32 exponential.
void emitSiLUGradElement(llvm::raw_ostream &os, llvm::StringRef indent,
                         bool swiglu,
                         llvm::function_ref<std::string(llvm::StringRef)> load,
                         llvm::function_ref<std::string(llvm::StringRef)> store,
                         llvm::StringRef exp);

/// Prints, inside a GEMM's epilogue, the store of output column `column` to
/// the result whose segment holds it: an if-else chain over the segments'
/// column ranges, each line indented by 4 (the chain's bodies by 6).
/// `store(i, size, offset)` is the statement for result i, `size` columns
/// from `offset`.
void emitSegmentStores(
    llvm::raw_ostream &os, llvm::ArrayRef<int64_t> segments,
    llvm::StringRef column,
    llvm::function_ref<std::string(size_t, int64_t, int64_t)> store);

/// How a target's kernels read the launch context and write literals.
struct ContextSpelling {
  /// "the CPU target"
  llvm::StringRef target;
  /// Prefix of the context fields: "ctx->" or "args.context.".
  llvm::StringRef prefix;
  /// Suffix of an integer literal: "" or "LL".
  llvm::StringRef literalSuffix;
};

/// Dimension `dim` of `type`: a literal when static, else the context's
/// batch (dimension 0) or seq (dimension 1); any other dynamic dimension is a
/// diagnostic on `op`.
mlir::FailureOr<std::string> dimExpr(mlir::Operation *op,
                                     mlir::RankedTensorType type, unsigned dim,
                                     const ContextSpelling &spelling);

/// The static size of dimension `dim`, or a diagnostic on `op`.
mlir::FailureOr<int64_t> staticDim(mlir::Operation *op,
                                   mlir::RankedTensorType type, unsigned dim,
                                   llvm::StringRef target);

/// The value of a position defined by `arith.constant`, if it is one.
std::optional<int64_t> constantPosition(mlir::Value position);

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_EMITTERSUPPORT_H
