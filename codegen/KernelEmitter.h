//===- KernelEmitter.h - Source of one kernel per fused op ------*- C++ -*-===//
//
// Code generation has one emitter interface, implemented once per target. An
// emitter only reads the IR: everything it needs (shapes, epilogues, head
// counts, RoPE layout) is on the op, and the kernel-level lowering has already
// decided names, buffers and launch order.
//
// Kernel parameters, for every target: `buffers[i]` are the op's tensor
// operands in operand order (non-tensor operands such as the i32 position are
// skipped), then its results. KV-cache results alias their cache operands
// (the update is in place). The position comes from the launch context unless
// the op's position operand is an `arith.constant`, which is baked in. The
// dynamic sequence dimension, if any, comes from the launch context.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_KERNELEMITTER_H
#define LLAMAC_CODEGEN_KERNELEMITTER_H

#include "runtime/ArtifactSpec.h"

#include "mlir/IR/Operation.h"
#include "mlir/Support/LogicalResult.h"

#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>

namespace llamac::codegen {

class KernelEmitter {
public:
  virtual ~KernelEmitter() = default;

  /// Code every kernel of a translation unit shares (includes, helpers,
  /// the ABI struct); emitted once, first.
  virtual void emitPrelude(llvm::raw_ostream &os) = 0;

  /// True for the ops this target turns into kernels.
  virtual bool canEmit(mlir::Operation *op) const = 0;

  /// How many kernels `op` runs as, launched one after another on the same
  /// buffers. An op whose work has a grid-wide dependency splits there, a
  /// kernel boundary being the only grid-wide barrier a launch has: the
  /// tensor-core attention backward needs every query's softmax statistics
  /// before any key's gradient.
  virtual unsigned phaseCount(mlir::Operation *op) const { return 1; }

  /// A short name for phase `phase` of a multi-phase op ("stats"), shown
  /// after the op's name in profiles.
  virtual std::string phaseName(mlir::Operation *op, unsigned phase) const {
    return std::to_string(phase);
  }

  /// Emits the complete definition of kernel `symbol` computing phase
  /// `phase` of `op` (0 for single-phase ops). Fails with a diagnostic on
  /// `op` when the op or its types are unsupported.
  virtual mlir::LogicalResult emitKernel(mlir::Operation *op, unsigned phase,
                                         llvm::StringRef symbol,
                                         llvm::raw_ostream &os) = 0;

  /// How the runtime launches phase `phase` of `op` (GPU targets). Kernels
  /// with the same emitted body must have the same geometry.
  virtual artifact::LaunchGeometry launchGeometry(mlir::Operation *op,
                                                  unsigned phase) const {
    return {};
  }

  /// How the runtime launches phase `phase` of `op` from binaries that run
  /// the kernels' wgmma variants (sm_90a), where that differs from
  /// launchGeometry: the variant may tile differently.
  virtual std::optional<artifact::LaunchGeometry>
  wgmmaGeometry(mlir::Operation *op, unsigned phase) const {
    return std::nullopt;
  }

  /// The tensor maps the runtime encodes for each launch of phase `phase`
  /// of `op` (GPU targets; ArtifactSpec.h), in LlamaGpuArgs order. Like the
  /// geometry, a function of the emitted body.
  virtual std::vector<artifact::TensorMapSpec>
  tensorMaps(mlir::Operation *op, unsigned phase) const {
    return {};
  }
};

/// The host (CPU) target: C++ with OpenMP, built into a shared object.
std::unique_ptr<KernelEmitter> createCpuEmitter();

/// The CUDA target: CUDA C++ compiled by NVRTC into cubins and PTX.
std::unique_ptr<KernelEmitter> createCudaEmitter();

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_KERNELEMITTER_H
