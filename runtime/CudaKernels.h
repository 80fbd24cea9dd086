//===- CudaKernels.h - The cuda binary of an artifact, loaded ---*- C++ -*-===//
//
// Picks the binary the GPU runs (CudaArch.h), or compiles the embedded
// source for it (--jit, CudaJit.h), loads it as a module (the driver
// JIT-compiles PTX), checks the kernel ABI version the binary
// exports and resolves every kernel of the artifact.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDAKERNELS_H
#define LLAMAC_RUNTIME_CUDAKERNELS_H

#include "runtime/ArtifactSpec.h"
#include "runtime/CudaArch.h"
#include "runtime/CudaDevice.h"

#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

/// The int a cuda binary exports as 1 when every kernel starts with
/// griddepcontrol.wait (codegen/cuda/CudaPrelude.cpp).
inline constexpr char kGridDependencyWaitSymbol[] =
    "llama_grid_dependency_wait";

/// The int a cuda binary exports as 1 when it was compiled with the
/// kernels' wgmma variants (sm_90a), which launch with the kernels'
/// wgmma_geometry where they have one.
inline constexpr char kWgmmaKernelsSymbol[] = "llama_wgmma_kernels";

class CudaKernelLibrary {
public:
  /// Errors start with `origin`: "m.art: no matching arch: ...", "m.art:
  /// cuda binary (cubin sm_90): cuModuleLoadData: CUDA_ERROR_...", "m.art:
  /// kernel 3 'k3': cuModuleGetFunction: CUDA_ERROR_NOT_FOUND (...)".
  /// `code` says which of the artifact's codes: with Source, its embedded
  /// source is compiled for this GPU (CudaJit.h): "m.art: --jit: NVRTC 13.0
  /// failed for sm_90: ..."; with Ptx, its PTX is JIT-compiled even where a
  /// cubin matches. The kernels whose name contains one of `portable`
  /// (--portable-kernels) come from the artifact's PTX instead of a binary
  /// that runs sm_90a's wgmma variants, with their portable geometry: on a
  /// Hopper GPU that finds which kernels' sm_90a code goes wrong. A word in
  /// no kernel's name, or a binary without wgmma variants, is an error.
  static StatusOr<std::unique_ptr<CudaKernelLibrary>>
  load(const CudaDevice &device, const artifact::ArtifactSpec &spec,
       const std::string &origin, CudaCode code = CudaCode::Binary,
       const std::vector<std::string> &portable = {});

  ~CudaKernelLibrary();
  CudaKernelLibrary(const CudaKernelLibrary &) = delete;
  CudaKernelLibrary &operator=(const CudaKernelLibrary &) = delete;

  cu::Function kernel(size_t index) const { return functions[index]; }
  /// A kernel the binary exports beside the artifact's own (the random
  /// weight fills of RandomWeights.h). A binary built before it existed
  /// fails with "m.art: cuda binary (...) has no kernel 'NAME' (built by an
  /// older llamac); recompile the model".
  StatusOr<cu::Function> exported(const std::string &symbol) const;
  /// What was loaded: "cubin sm_90 (exact match)", or with --jit "JIT
  /// cubin sm_90 (NVRTC 13.0, cached as PATH)"; with --portable-kernels
  /// also how many kernels come from which PTX.
  const std::string &choice() const { return chosen; }
  /// Whether the binary says that every kernel first waits for the previous
  /// kernel in its stream (llama_grid_dependency_wait = 1: sm_90 code built
  /// by a llamac that emits the wait), so that launching it while the
  /// previous one still runs (programmatic dependent launch) is safe.
  bool waitsForPreviousKernel() const { return gridDependencyWait; }
  /// How kernel `index` is launched from this binary: its wgmma geometry
  /// where the binary runs the wgmma variants and the kernel has one, else
  /// its geometry.
  const artifact::LaunchGeometry &geometry(size_t index) const {
    return geometries[index];
  }

private:
  CudaKernelLibrary(const CudaDevice &device) : device(device) {}

  /// Loads the artifact's PTX as `portableModule` (--portable-kernels) and
  /// returns whether its kernels wait for the previous one.
  StatusOr<bool> loadPortable(const artifact::ArtifactSpec &spec,
                              const std::string &origin);

  const CudaDevice &device;
  cu::Module module = nullptr;
  /// The artifact's PTX, for the kernels --portable-kernels names.
  cu::Module portableModule = nullptr;
  std::string chosen;
  /// Starts errors about the loaded binary: "m.art: cuda binary (cubin
  /// sm_90 (exact match))".
  std::string where;
  std::vector<cu::Function> functions;
  std::vector<artifact::LaunchGeometry> geometries;
  bool gridDependencyWait = false;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDAKERNELS_H
