//===- ModelBuilder.h - Emits the llama IR of a model config ----*- C++ -*-===//
//
// The one place that knows the structure of the Llama 2 decoder: it turns a
// ModelConfig into `llama` dialect functions, one per entry point.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_FRONTEND_MODELBUILDER_H
#define LLAMAC_FRONTEND_MODELBUILDER_H

#include "frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>
#include <vector>

namespace llamac {

enum class EntryKind {
  /// T tokens starting at position p; reads and appends the KV cache.
  Prefill,
  /// One token per batch row; reads and appends the KV cache.
  Decode,
  /// Training forward: T tokens from position 0, no cache, returning the
  /// weighted cross-entropy against the targets.
  ForwardLoss,
};

const char *toString(EntryKind kind);
std::optional<EntryKind> parseEntryKind(llvm::StringRef text);

struct BuildOptions {
  std::vector<EntryKind> entries = {EntryKind::Prefill};
  int64_t batch = 1;
  /// Tokens per prefill or training call; unset means dynamic (`?`).
  std::optional<int64_t> seqLen;
};

/// Builds a module holding one function per requested entry point, named
/// after it (`@prefill`, `@decode`, `@forward_loss`), with the config as the
/// module attribute `llama.config`. The config must already be valid.
mlir::OwningOpRef<mlir::ModuleOp> buildModel(mlir::MLIRContext &context,
                                             const ModelConfig &config,
                                             const BuildOptions &options);

/// Reads back the config that buildModel stored on a module; fails with a
/// diagnostic on the module when the attribute is missing or malformed.
mlir::FailureOr<ModelConfig> readModelConfig(mlir::ModuleOp module);

} // namespace llamac

#endif // LLAMAC_FRONTEND_MODELBUILDER_H
