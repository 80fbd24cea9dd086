//===- CpuKernels.h - The cpu binary of an artifact, loaded ------*- C++
//-*-===//
//
// The CPU target ships its kernels as an ELF shared object inside the
// artifact. It is loaded from memory (memfd_create, then dlopen of
// /proc/self/fd/N) so that running a model leaves no files behind and needs
// no writable directory; where memfd is unavailable, a temporary file is
// unlinked right after dlopen.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CPUKERNELS_H
#define LLAMAC_RUNTIME_CPUKERNELS_H

#include "runtime/ArtifactSpec.h"
#include "runtime/KernelAbi.h"
#include "runtime/Status.h"

#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

/// The symbol every cpu binary exports: `extern "C" const int
/// llama_kernel_abi_version = LLAMA_KERNEL_ABI_VERSION;` (the compiler's
/// prelude emits it).
inline constexpr char kKernelAbiVersionSymbol[] = "llama_kernel_abi_version";

class CpuKernelLibrary {
public:
  /// Picks the best cpu binary this CPU supports, loads it, checks its ABI
  /// version and resolves every kernel of `spec`. Errors start with `origin`:
  /// "m.art: compiled for cuda (sm_80, ptx), not for the cpu target; ...",
  /// "m.art: kernel 12 'k12': symbol not found in the cpu binary".
  static StatusOr<std::unique_ptr<CpuKernelLibrary>>
  load(const artifact::ArtifactSpec &spec, const std::string &origin);

  ~CpuKernelLibrary();
  CpuKernelLibrary(const CpuKernelLibrary &) = delete;
  CpuKernelLibrary &operator=(const CpuKernelLibrary &) = delete;

  /// Kernel `index` of the artifact (never null).
  LlamaCpuKernel kernel(size_t index) const { return kernels[index]; }
  size_t numKernels() const { return kernels.size(); }
  /// The arch of the binary that was loaded ("x86-64-v3").
  const std::string &arch() const { return loadedArch; }

private:
  CpuKernelLibrary() = default;

  void *handle = nullptr;
  /// The path dlopen saw; kept to detect a library dlclose could not unload.
  std::string loadPath;
  /// The memfd behind loadPath, or -1.
  int memfd = -1;
  std::string loadedArch;
  std::vector<LlamaCpuKernel> kernels;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CPUKERNELS_H
