//===- KernelCompiler.h - Turns kernel source into binaries -----*- C++ -*-===//
//
// The one narrow interface behind which the host C++ compiler (and NVRTC, for
// the CUDA target) sit: source in, one binary per architecture out.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_KERNELCOMPILER_H
#define LLAMAC_CODEGEN_KERNELCOMPILER_H

#include "runtime/ArtifactSpec.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace llamac::codegen {

class KernelCompiler {
public:
  virtual ~KernelCompiler() = default;
  /// Compiles a whole translation unit of kernels.
  virtual llvm::Expected<std::vector<artifact::BinarySpec>>
  compile(const std::string &source) = 0;
  /// The tool and its version, recorded in the artifact's provenance.
  virtual std::string version() = 0;
};

/// Builds a shared object with the host C++ compiler (`$LLAMAC_CXX` if set,
/// else `compiler`) for `cpuArch` (an -march value such as x86-64-v3, which
/// overrides any -march in `flags`).
std::unique_ptr<KernelCompiler>
createHostCompiler(std::string compiler, std::string cpuArch,
                   std::vector<std::string> flags);

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_KERNELCOMPILER_H
