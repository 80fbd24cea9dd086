//===- LowerToKernels.h - Fused IR to kernels and launches ------*- C++ -*-===//
//
// The kernel-level lowering: every llama op of the fused module becomes one
// launch of a kernel whose source the target's emitter writes. Weights and KV
// caches become persistent buffers bound by name, activations get offsets in
// a liveness-planned arena per entry point, and the weight-only ops
// (llama.pack_weights) move to a "load" entry that runs once per checkpoint.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_LOWERTOKERNELS_H
#define LLAMAC_CODEGEN_LOWERTOKERNELS_H

#include "codegen/KernelEmitter.h"
#include "runtime/ArtifactSpec.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

namespace llamac::codegen {

struct LoweringOptions {
  /// The longest call a dynamic-length prefill or training entry takes; its
  /// arena is planned for this many tokens. 0 means the model's max_seq_len.
  int64_t maxSeq = 0;
};

/// Fills everything of an artifact but its binaries and provenance: the
/// config, buffers, kernels (with their source) and entries. Identical kernels
/// (same emitted body) are emitted once and launched many times.
llvm::Expected<artifact::ArtifactSpec>
lowerToKernels(mlir::ModuleOp module, KernelEmitter &emitter,
               const LoweringOptions &options);

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_LOWERTOKERNELS_H
