//===- CompileArtifact.cpp - Fused module to a complete artifact ----------===//

#include "codegen/CompileArtifact.h"

#include "codegen/KernelCompiler.h"
#include "codegen/KernelEmitter.h"
#include "codegen/cpu/CpuEmitter.h"

#include "llvm/Support/Format.h"

using namespace llamac;
using namespace llamac::codegen;

#ifndef LLAMAC_VERSION
#define LLAMAC_VERSION "unknown"
#endif

std::string llamac::codegen::fnv1aHex(llvm::StringRef text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  std::string hex;
  llvm::raw_string_ostream(hex) << llvm::format_hex_no_prefix(hash, 16);
  return hex;
}

llvm::Expected<artifact::ArtifactSpec>
llamac::codegen::compileArtifact(mlir::ModuleOp module,
                                 const CompileOptions &options) {
  std::unique_ptr<KernelEmitter> emitter = createCpuEmitter();
  std::unique_ptr<KernelCompiler> compiler =
      createHostCompiler(cpuCompiler(), options.cpuArch, cpuCompileFlags());

  auto spec = lowerToKernels(module, *emitter, options.lowering);
  if (!spec)
    return spec.takeError();
  auto binaries = compiler->compile(spec->kernelSource);
  if (!binaries)
    return binaries.takeError();
  spec->binaries = std::move(*binaries);
  spec->provenance.compilerVersion = "llamac " LLAMAC_VERSION;
  spec->provenance.sourceHash = fnv1aHex(spec->kernelSource);
  spec->provenance.flags = options.commandLine;
  spec->provenance.toolVersion = compiler->version();
  return spec;
}
