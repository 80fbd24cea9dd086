//===- CompileArtifact.h - Fused module to a complete artifact --*- C++ -*-===//

#ifndef LLAMAC_CODEGEN_COMPILEARTIFACT_H
#define LLAMAC_CODEGEN_COMPILEARTIFACT_H

#include "codegen/LowerToKernels.h"
#include "runtime/ArtifactSpec.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <string>

namespace llamac::codegen {

enum class Target { Cpu, Cuda };

struct CompileOptions {
  Target target = Target::Cpu;
  /// For the CPU target: the -march the kernels are built for.
  std::string cpuArch = "x86-64-v3";
  /// For the CUDA target: the real archs to build cubins for (PTX for the
  /// lowest virtual arch is always added as the JIT fallback). Empty means
  /// defaultCudaArchs(): sm_80, sm_86, sm_89 and Hopper's sm_90a, the one
  /// cubin whose GEMMs may use wgmma.
  std::vector<std::string> cudaArchs;
  LoweringOptions lowering;
  /// The command line, recorded in the artifact's provenance.
  std::string commandLine;
};

/// The emitter of a target; fails when llamac was built without it.
llvm::Expected<std::unique_ptr<KernelEmitter>> createEmitter(Target target);

/// Lowers a fused module to kernels, compiles them for the target and fills
/// the provenance. The result is ready for runtime::writeArtifact.
llvm::Expected<artifact::ArtifactSpec>
compileArtifact(mlir::ModuleOp module, const CompileOptions &options);

/// FNV-1a, 64 bits, as 16 hex digits: the artifact's source hash.
std::string fnv1aHex(llvm::StringRef text);

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_COMPILEARTIFACT_H
