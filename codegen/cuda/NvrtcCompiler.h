//===- NvrtcCompiler.h - CUDA kernels to cubins and PTX with NVRTC -*- C++ -*-//
//
// The CUDA target's KernelCompiler: NVRTC compiles the whole translation
// unit once per requested architecture. Needs no GPU.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CUDA_NVRTCCOMPILER_H
#define LLAMAC_CODEGEN_CUDA_NVRTCCOMPILER_H

#include "codegen/KernelCompiler.h"

#include <memory>
#include <string>
#include <vector>

namespace llamac::codegen {

/// The architectures an artifact carries by default: a cubin for each
/// real architecture llamac tunes for (sm_90a: Hopper with its wgmma, which
/// only arch-specific code may use), and PTX for the lowest virtual one,
/// which the driver JIT-compiles on anything newer.
std::vector<std::string> defaultCudaArchs();

/// Compiles with NVRTC for each of `archs`: "sm_XY" gives a cubin
/// (BinarySpec{"cuda", "sm_XY", "cubin"}), "compute_XY" PTX
/// (BinarySpec{"cuda", "compute_XY", "ptx"}, NUL-terminated). Unless a
/// compute_XY is listed, PTX for the lowest sm_XY is added as the JIT
/// fallback. Empty means defaultCudaArchs(). Errors carry NVRTC's log. The
/// CUDA headers come from $LLAMAC_CUDA_INCLUDE if set, else from the
/// toolkit llamac was built with. With `ptxasReport`, ptxas reports on every
/// cubin's kernels (registers, spills, and its "Potential Performance Loss"
/// advisories, which no failure carries), appended there: tests hold the
/// kernels to it.
std::unique_ptr<KernelCompiler>
createNvrtcCompiler(std::vector<std::string> archs = {},
                    std::string *ptxasReport = nullptr);

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_CUDA_NVRTCCOMPILER_H
