//===- CudaDriver.h - The CUDA driver, loaded at run time -------*- C++ -*-===//
//
// The runtime never links libcuda: a deployment without a GPU must still
// run cpu artifacts, and the toolkit's libcuda.so is only a link stub. The
// driver is dlopen'ed by its soname (libcuda.so.1, which the NVIDIA driver
// installs) the first time a cuda artifact is run, and every function the
// runtime calls is resolved into a table, as IREE's CUDA HAL does. The
// exported names carry the _v2 suffixes of the ABI the runtime was written
// against, so a newer driver keeps giving the same semantics.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDADRIVER_H
#define LLAMAC_RUNTIME_CUDADRIVER_H

#include "runtime/CudaApi.h"
#include "runtime/Status.h"

#include <memory>
#include <string>

namespace llamac::runtime {

/// X(member, exported symbol, parameters...) for every function the runtime
/// cannot work without. Each symbol is the oldest export with the semantics
/// used here (cuEventElapsedTime, not 12.8's _v2), so older drivers load.
#define LLAMAC_CUDA_REQUIRED_FUNCTIONS(X)                                      \
  X(cuInit, "cuInit", unsigned int)                                            \
  X(cuDriverGetVersion, "cuDriverGetVersion", int *)                           \
  X(cuGetErrorString, "cuGetErrorString", cu::Result, const char **)           \
  X(cuGetErrorName, "cuGetErrorName", cu::Result, const char **)               \
  X(cuDeviceGetCount, "cuDeviceGetCount", int *)                               \
  X(cuDeviceGet, "cuDeviceGet", cu::Device *, int)                             \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", int *, int, cu::Device)      \
  X(cuDeviceGetName, "cuDeviceGetName", char *, int, cu::Device)               \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", cu::Context *,       \
    cu::Device)                                                                \
  X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", cu::Device)     \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", cu::Context)                           \
  X(cuModuleLoadData, "cuModuleLoadData", cu::Module *, const void *)          \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx", cu::Module *, const void *,      \
    unsigned int, cu::JitOption *, void **)                                    \
  X(cuModuleUnload, "cuModuleUnload", cu::Module)                              \
  X(cuModuleGetFunction, "cuModuleGetFunction", cu::Function *, cu::Module,    \
    const char *)                                                              \
  X(cuModuleGetGlobal, "cuModuleGetGlobal_v2", cu::DevicePtr *, size_t *,      \
    cu::Module, const char *)                                                  \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", cu::Function, int, int)          \
  X(cuFuncGetAttribute, "cuFuncGetAttribute", int *, int, cu::Function)        \
  X(cuMemAlloc, "cuMemAlloc_v2", cu::DevicePtr *, size_t)                      \
  X(cuMemFree, "cuMemFree_v2", cu::DevicePtr)                                  \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", cu::DevicePtr, const void *, size_t)      \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", void *, cu::DevicePtr, size_t)            \
  X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", cu::DevicePtr, const void *,    \
    size_t, cu::Stream)                                                        \
  X(cuMemsetD8, "cuMemsetD8_v2", cu::DevicePtr, unsigned char, size_t)         \
  X(cuLaunchKernel, "cuLaunchKernel", cu::Function, unsigned int,              \
    unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,      \
    unsigned int, cu::Stream, void **, void **)                                \
  X(cuStreamCreate, "cuStreamCreate", cu::Stream *, unsigned int)              \
  X(cuStreamDestroy, "cuStreamDestroy_v2", cu::Stream)                         \
  X(cuStreamSynchronize, "cuStreamSynchronize", cu::Stream)                    \
  X(cuEventCreate, "cuEventCreate", cu::Event *, unsigned int)                 \
  X(cuEventDestroy, "cuEventDestroy_v2", cu::Event)                            \
  X(cuEventRecord, "cuEventRecord", cu::Event, cu::Stream)                     \
  X(cuEventSynchronize, "cuEventSynchronize", cu::Event)                       \
  X(cuEventElapsedTime, "cuEventElapsedTime", float *, cu::Event, cu::Event)   \
  X(cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled", cu::TensorMap *, int,    \
    unsigned int, void *, const unsigned long long *,                          \
    const unsigned long long *, const unsigned int *, const unsigned int *,    \
    int, int, int, int)

/// Functions used only by optional features (CUDA graphs for decode,
/// programmatic dependent launch, clusters, the memory check before
/// allocating); a driver without them still runs everything else.
#define LLAMAC_CUDA_OPTIONAL_FUNCTIONS(X)                                      \
  LLAMAC_CUDA_GRAPH_FUNCTIONS(X)                                               \
  X(cuLaunchKernelEx, "cuLaunchKernelEx", const cu::LaunchConfig *,            \
    cu::Function, void **, void **)                                            \
  X(cuOccupancyMaxActiveClusters, "cuOccupancyMaxActiveClusters", int *,       \
    cu::Function, const cu::LaunchConfig *)                                    \
  X(cuMemGetInfo, "cuMemGetInfo_v2", size_t *, size_t *)
#define LLAMAC_CUDA_GRAPH_FUNCTIONS(X)                                         \
  X(cuStreamBeginCapture, "cuStreamBeginCapture_v2", cu::Stream, int)          \
  X(cuStreamEndCapture, "cuStreamEndCapture", cu::Stream, cu::Graph *)         \
  X(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags",                \
    cu::GraphExec *, cu::Graph, unsigned long long)                            \
  X(cuGraphLaunch, "cuGraphLaunch", cu::GraphExec, cu::Stream)                 \
  X(cuGraphExecDestroy, "cuGraphExecDestroy", cu::GraphExec)                   \
  X(cuGraphDestroy, "cuGraphDestroy", cu::Graph)

/// The soname dlopen'ed unless LLAMAC_LIBCUDA names another file (tests use
/// it to simulate a missing or fake driver).
inline constexpr char kDefaultLibcuda[] = "libcuda.so.1";
inline constexpr char kLibcudaEnvVar[] = "LLAMAC_LIBCUDA";

/// The loaded driver library and its function table. Shared by everything
/// created from it; the library stays loaded while any of them lives.
class CudaDriver {
public:
  /// dlopens the driver, resolves the table and calls cuInit. Errors:
  /// "no CUDA driver: dlopen(libcuda.so.1) failed: REASON" and
  /// "no CUDA driver: libcuda.so.1 lacks cuMemAlloc_v2 (driver too old?)",
  /// "no CUDA driver: X is the CUDA toolkit's link stub, not the driver
  /// ...", "no GPU: the CUDA driver reports 0 devices (cuInit: ...)".
  static StatusOr<std::shared_ptr<CudaDriver>> load();

  ~CudaDriver();
  CudaDriver(const CudaDriver &) = delete;
  CudaDriver &operator=(const CudaDriver &) = delete;

#define LLAMAC_CUDA_MEMBER(member, symbol, ...)                                \
  cu::Result (*member)(__VA_ARGS__) = nullptr;
  LLAMAC_CUDA_REQUIRED_FUNCTIONS(LLAMAC_CUDA_MEMBER)
  LLAMAC_CUDA_OPTIONAL_FUNCTIONS(LLAMAC_CUDA_MEMBER)
#undef LLAMAC_CUDA_MEMBER

  /// The file that was opened ("libcuda.so.1").
  const std::string &library() const { return libraryName; }
  /// cuDriverGetVersion's value: 13000 for CUDA 13.0.
  int version() const { return driverVersion; }
  /// Whether every LLAMAC_CUDA_GRAPH_FUNCTIONS entry was found.
  bool hasGraphs() const;
  /// Whether cuLaunchKernelEx (CUDA 12.0) was found, which takes the
  /// programmatic-dependent-launch attribute.
  bool hasLaunchEx() const { return cuLaunchKernelEx != nullptr; }

  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
  std::string describe(cu::Result result) const;
  /// Success, or "WHAT: CUDA_ERROR_... (text)".
  Status check(cu::Result result, const std::string &what) const {
    if (result == cu::kSuccess)
      return {};
    return Status::error(what + ": " + describe(result));
  }

private:
  CudaDriver() = default;

  void *handle = nullptr;
  std::string libraryName;
  int driverVersion = 0;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDADRIVER_H
