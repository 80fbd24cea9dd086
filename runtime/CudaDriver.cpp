//===- CudaDriver.cpp - The CUDA driver, loaded at run time ---------------===//

#include "runtime/CudaDriver.h"

#include <cstdlib>
#include <dlfcn.h>

using namespace llamac::runtime;

StatusOr<std::shared_ptr<CudaDriver>> CudaDriver::load() {
  const char *overridden = std::getenv(kLibcudaEnvVar);
  std::string name =
      overridden && *overridden ? std::string(overridden) : kDefaultLibcuda;
  // RTLD_LOCAL: the driver's symbols must not satisfy anything else.
  void *handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *error = ::dlerror();
    return Status::error("no CUDA driver: dlopen(" + name +
                         ") failed: " + (error ? error : "unknown error") +
                         "; install the NVIDIA driver, or run a cpu "
                         "artifact (llamac --target=cpu)");
  }
  std::shared_ptr<CudaDriver> driver(new CudaDriver());
  driver->handle = handle;
  driver->libraryName = name;

#define LLAMAC_CUDA_RESOLVE_REQUIRED(member, symbol, ...)                      \
  driver->member =                                                             \
      reinterpret_cast<decltype(driver->member)>(::dlsym(handle, symbol));     \
  if (!driver->member)                                                         \
    return Status::error("no CUDA driver: " + name + " lacks " + symbol +      \
                         " (driver too old?)");
  LLAMAC_CUDA_REQUIRED_FUNCTIONS(LLAMAC_CUDA_RESOLVE_REQUIRED)
#undef LLAMAC_CUDA_RESOLVE_REQUIRED
#define LLAMAC_CUDA_RESOLVE_OPTIONAL(member, symbol, ...)                      \
  driver->member =                                                             \
      reinterpret_cast<decltype(driver->member)>(::dlsym(handle, symbol));
  LLAMAC_CUDA_OPTIONAL_FUNCTIONS(LLAMAC_CUDA_RESOLVE_OPTIONAL)
#undef LLAMAC_CUDA_RESOLVE_OPTIONAL

  cu::Result result = driver->cuInit(0);
  // The toolkit's lib64/stubs/libcuda.so exports every function and fails
  // them all; it is found instead of the driver when the stubs directory is
  // on the library path.
  if (result == cu::kErrorStubLibrary)
    return Status::error("no CUDA driver: " + name +
                         " is the CUDA toolkit's link stub, not the driver "
                         "(cuInit: CUDA_ERROR_STUB_LIBRARY); install the "
                         "NVIDIA driver, or take the toolkit's stubs "
                         "directory off LD_LIBRARY_PATH");
  if (result == cu::kErrorNoDevice)
    return Status::error("no GPU: the CUDA driver reports 0 devices (cuInit: " +
                         driver->describe(result) + ")");
  LLAMAC_RETURN_IF_ERROR(
      driver->check(result, "no usable CUDA driver: cuInit"));
  LLAMAC_RETURN_IF_ERROR(
      driver->check(driver->cuDriverGetVersion(&driver->driverVersion),
                    "cuDriverGetVersion"));
  return driver;
}

CudaDriver::~CudaDriver() {
  if (handle)
    ::dlclose(handle);
}

bool CudaDriver::hasGraphs() const {
  bool all = true;
#define LLAMAC_CUDA_CHECK_OPTIONAL(member, symbol, ...)                        \
  all = all && member != nullptr;
  LLAMAC_CUDA_GRAPH_FUNCTIONS(LLAMAC_CUDA_CHECK_OPTIONAL)
#undef LLAMAC_CUDA_CHECK_OPTIONAL
  return all;
}

std::string CudaDriver::describe(cu::Result result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName(result, &name) != cu::kSuccess || !name)
    return "CUDA error " + std::to_string(result);
  std::string description = name;
  if (cuGetErrorString(result, &text) == cu::kSuccess && text)
    description += std::string(" (") + text + ")";
  return description;
}
