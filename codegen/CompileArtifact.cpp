//===- CompileArtifact.cpp - Fused module to a complete artifact ----------===//

#include "codegen/CompileArtifact.h"

#include "codegen/KernelCompiler.h"
#include "codegen/KernelEmitter.h"
#include "codegen/cpu/CpuEmitter.h"
#ifdef LLAMAC_HAVE_CUDA_CODEGEN
#include "codegen/cuda/NvrtcCompiler.h"
#endif

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

llvm::Expected<std::unique_ptr<KernelEmitter>>
llamac::codegen::createEmitter(Target target) {
  if (target == Target::Cpu)
    return createCpuEmitter();
#ifdef LLAMAC_HAVE_CUDA_CODEGEN
  return createCudaEmitter();
#else
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      "--target=cuda: this llamac was built without the CUDA toolkit "
      "(NVRTC); install it and reconfigure");
#endif
}

static llvm::Expected<std::unique_ptr<KernelCompiler>>
createCompiler(const CompileOptions &options) {
  if (options.target == Target::Cpu)
    return createHostCompiler(cpuCompiler(), options.cpuArch,
                              cpuCompileFlags());
#ifdef LLAMAC_HAVE_CUDA_CODEGEN
  return createNvrtcCompiler(options.cudaArchs);
#else
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "--target=cuda: built without NVRTC");
#endif
}

llvm::Expected<artifact::ArtifactSpec>
llamac::codegen::compileArtifact(mlir::ModuleOp module,
                                 const CompileOptions &options) {
  auto emitter = createEmitter(options.target);
  if (!emitter)
    return emitter.takeError();
  auto compiler = createCompiler(options);
  if (!compiler)
    return compiler.takeError();

  auto spec = lowerToKernels(module, **emitter, options.lowering);
  if (!spec)
    return spec.takeError();
  auto binaries = (*compiler)->compile(spec->kernelSource);
  if (!binaries)
    return binaries.takeError();
  spec->binaries = std::move(*binaries);
  spec->provenance.compilerVersion = "llamac " LLAMAC_VERSION;
  spec->provenance.sourceHash = fnv1aHex(spec->kernelSource);
  spec->provenance.flags = options.commandLine;
  spec->provenance.toolVersion = (*compiler)->version();
  return spec;
}
