//===- FakeCudaDriver.cpp - A libcuda.so.1 that runs kernels on the CPU ---===//
//
// The cuda executor is tested on machines without a GPU by pointing
// LLAMAC_LIBCUDA at this library. It implements the driver functions the
// runtime resolves, with "device memory" in host memory and "modules" that
// are host shared objects whose kernels have the cpu ABI: a launch calls the
// kernel once with the LlamaGpuArgs it was given, so everything the runtime
// computes (addresses, contexts, grids, copies) is checked for real, while
// what a GPU would do in parallel is done by one CPU call.
//
// Behaviour is set through the environment, read on every call:
//   LLAMAC_FAKE_CUDA_DEVICES  device count (default 1); "init-fails" makes
//                             cuInit return CUDA_ERROR_NO_DEVICE
//   LLAMAC_FAKE_CUDA_SM       compute capability as "86" (default 80)
//   LLAMAC_FAKE_CUDA_SHARED_OPTIN
//                             the most shared memory a block may opt in to
//                             (default: the real GPU's of that SM)
//   LLAMAC_FAKE_CUDA_CAPTURE  "fails": cuStreamBeginCapture fails
//   LLAMAC_FAKE_CUDA_MEMORY   the GPU's memory in bytes (default 80 GiB):
//                             cuMemGetInfo reports it less what is
//                             allocated, and cuMemAlloc beyond it fails
//                             with CUDA_ERROR_OUT_OF_MEMORY
//   LLAMAC_FAKE_CUDA_REPORTED_FREE
//                             the free bytes cuMemGetInfo reports instead
//   LLAMAC_FAKE_CUDA_MAX_THREADS
//                             the largest block cuFuncGetAttribute allows
//                             each function (default 1024)
// Stream capture records launches into a graph instead of running them,
// and refuses copies, memsets and synchronizations meanwhile (the runtime
// issues none while capturing); a graph launch runs its recorded launches. A
// launch reads the position from LlamaGpuArgs::livePosition, as generated
// kernels do, so a runtime that forgets to update it computes the wrong thing.
// A module image is an ELF shared object (a "cubin"), or for
// cuModuleLoadDataEx (PTX) the text "FAKEPTX:/path/to/kernels.so", or
// "FAKEPTX-ERROR" to fail with a JIT log. A module that exports
// llamaEmuLaunch is a kernel emulator's (test/cuda-emu): its launches run
// the whole grid through it instead of one cpu-ABI call, in the clusters
// that cuLaunchKernelEx's cluster dimension asks for. Tensor maps are
// the emulator's own encoding (test/cuda-emu/EmulatedTensorMap.h), which
// its TMA loads read. Tests read what happened through the llamacFake*
// functions at the end.
//
//===----------------------------------------------------------------------===//

#include "runtime/CudaApi.h"
#include "runtime/KernelAbi.h"
#include "test/cuda-emu/EmulatedTensorMap.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <map>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

using namespace llamac::runtime;

namespace {

constexpr cu::Result kInvalidValue = 1;
constexpr cu::Result kInvalidImage = 200;
constexpr cu::Result kInvalidPtx = 218;
constexpr cu::Result kLaunchFailed = 719;
constexpr cu::Result kNotSupported = 801;
constexpr cu::Result kCaptureUnsupported = 900;

int launches = 0;
unsigned lastGeometry[7] = {0};
unsigned lastCluster[3] = {1, 1, 1};
LlamaKernelContext lastContext = {};
int liveAllocations = 0;
/// Bytes of each live allocation, for cuMemGetInfo.
std::map<cu::DevicePtr, size_t> allocationBytes;
size_t allocatedBytes = 0;
int retainedContexts = 0;
int jitLoads = 0;
int cubinLoads = 0;

int deviceCount() {
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_DEVICES");
  if (!text || !*text)
    return 1;
  return std::atoi(text);
}

int smVersion() {
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_SM");
  return text && *text ? std::atoi(text) : 80;
}

/// What cuDeviceGetAttribute(MAX_SHARED_MEMORY_PER_BLOCK_OPTIN) gives: A100
/// 163 KiB, H100 227 KiB, the consumer sm_86 and sm_89 parts 99 KiB.
int sharedOptInLimit() {
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_SHARED_OPTIN");
  if (text && *text)
    return std::atoi(text);
  switch (smVersion()) {
  case 80:
    return 163 * 1024;
  case 90:
    return 227 * 1024;
  default:
    return 99 * 1024;
  }
}

/// The fake GPU's memory: LLAMAC_FAKE_CUDA_MEMORY bytes, or an H100's 80 GiB.
size_t deviceMemory() {
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_MEMORY");
  return text && *text ? size_t(std::strtoull(text, nullptr, 10))
                       : size_t(80) << 30;
}

/// Dynamic shared memory each function opted in to (cuFuncSetAttribute); a
/// launch with more than 48 KiB and more than this fails, as on a GPU.
std::map<cu::Function, unsigned> sharedOptIns;
/// The module each function was found in: a function of an unloaded
/// module may share an address with a new one, which has not opted in.
std::map<cu::Function, cu::Module> functionModules;

cu::Module openLibrary(const void *image, size_t size) {
  int fd = memfd_create("fake-cubin", MFD_CLOEXEC);
  if (fd < 0 || write(fd, image, size) != ssize_t(size))
    return nullptr;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  // The fd stays open: its path names the library while it is loaded.
  return static_cast<cu::Module>(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
}

struct RecordedLaunch {
  cu::Function function;
  unsigned grid[3], block[3], cluster[3], shared;
  LlamaGpuArgs args;
};
struct FakeGraph {
  std::vector<RecordedLaunch> launches;
};
/// The graph being captured, or null.
FakeGraph *capturing = nullptr;
int graphCaptures = 0;
int graphLaunches = 0;
/// cuLaunchKernelEx calls that allowed programmatic stream serialization.
int programmaticLaunches = 0;
/// cuLaunchKernelEx calls whose clusters hold more than one block.
int clusterLaunches = 0;

/// The kernel emulator's entry point (test/cuda-emu/CudaEmulation.cpp):
/// kernel, grid, block, cluster, dynamic shared memory, arguments, error.
using EmulatorLaunch = int (*)(void (*)(LlamaGpuArgs), const unsigned *,
                               const unsigned *, const unsigned *, unsigned,
                               const LlamaGpuArgs *, char *, size_t);
/// The emulator of each function's module, if it has one.
std::map<cu::Function, EmulatorLaunch> emulators;

struct FakeEvent {
  std::chrono::steady_clock::time_point time;
};

/// Runs one launch: the emulator's grid, in clusters of `cluster`, or one
/// cpu-ABI call, for which clusters mean nothing.
cu::Result execute(cu::Function function, const unsigned grid[3],
                   const unsigned block[3], const unsigned cluster[3],
                   unsigned shared, const LlamaGpuArgs *args) {
  ++launches;
  unsigned geometry[7] = {grid[0],  grid[1],  grid[2], block[0],
                          block[1], block[2], shared};
  std::memcpy(lastGeometry, geometry, sizeof(geometry));
  std::memcpy(lastCluster, cluster, sizeof(lastCluster));
  // What a kernel sees: the position the runtime wrote for this call.
  LlamaGpuArgs live = *args;
  if (live.livePosition)
    live.context.position = *live.livePosition;
  lastContext = live.context;
  auto emulator = emulators.find(function);
  if (emulator != emulators.end()) {
    char error[1024];
    if (emulator->second(reinterpret_cast<void (*)(LlamaGpuArgs)>(function),
                         grid, block, cluster, shared, args, error,
                         sizeof(error)) != 0) {
      std::fprintf(stderr, "fake cuda driver: kernel emulator: %s\n", error);
      return kLaunchFailed;
    }
    return cu::kSuccess;
  }
  reinterpret_cast<LlamaCpuKernel>(function)(live.buffers, &live.context);
  return cu::kSuccess;
}

/// cuLaunchKernel and cuLaunchKernelEx: checks a launch as the driver does
/// and runs it, or records it while a stream is captured.
cu::Result launchKernel(cu::Function function, const unsigned grid[3],
                        const unsigned block[3], const unsigned cluster[3],
                        unsigned shared, void **params, void **extra) {
  if (!params || extra || uint64_t(block[0]) * block[1] * block[2] > 1024 ||
      !grid[0] || !grid[1] || !grid[2])
    return kInvalidValue;
  if (shared > cu::kDefaultSharedPerBlock && shared > sharedOptIns[function])
    return kInvalidValue;
  const auto *args = static_cast<const LlamaGpuArgs *>(params[0]);
  if (capturing) {
    // Parameters are copied at capture, as the driver does.
    RecordedLaunch launch{function, {}, {}, {}, shared, *args};
    std::memcpy(launch.grid, grid, sizeof(launch.grid));
    std::memcpy(launch.block, block, sizeof(launch.block));
    std::memcpy(launch.cluster, cluster, sizeof(launch.cluster));
    capturing->launches.push_back(launch);
    return cu::kSuccess;
  }
  return execute(function, grid, block, cluster, shared, args);
}

} // namespace

extern "C" {

cu::Result cuInit(unsigned) {
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_DEVICES");
  if (text && std::strcmp(text, "init-fails") == 0)
    return cu::kErrorNoDevice;
  return cu::kSuccess;
}
cu::Result cuDriverGetVersion(int *version) {
  *version = 13000;
  return cu::kSuccess;
}
cu::Result cuGetErrorName(cu::Result result, const char **name) {
  switch (result) {
  case cu::kSuccess:
    *name = "CUDA_SUCCESS";
    return cu::kSuccess;
  case kInvalidValue:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return cu::kSuccess;
  case cu::kErrorNoDevice:
    *name = "CUDA_ERROR_NO_DEVICE";
    return cu::kSuccess;
  case kInvalidImage:
    *name = "CUDA_ERROR_INVALID_IMAGE";
    return cu::kSuccess;
  case kInvalidPtx:
    *name = "CUDA_ERROR_INVALID_PTX";
    return cu::kSuccess;
  case cu::kErrorOutOfMemory:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return cu::kSuccess;
  case cu::kErrorNotFound:
    *name = "CUDA_ERROR_NOT_FOUND";
    return cu::kSuccess;
  case kLaunchFailed:
    *name = "CUDA_ERROR_LAUNCH_FAILED";
    return cu::kSuccess;
  case kNotSupported:
    *name = "CUDA_ERROR_NOT_SUPPORTED";
    return cu::kSuccess;
  case kCaptureUnsupported:
    *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
    return cu::kSuccess;
  }
  return kInvalidValue;
}
cu::Result cuGetErrorString(cu::Result result, const char **text) {
  const char *name = nullptr;
  if (cuGetErrorName(result, &name) != cu::kSuccess)
    return kInvalidValue;
  *text = "fake driver error";
  return cu::kSuccess;
}
cu::Result cuDeviceGetCount(int *count) {
  *count = deviceCount();
  return cu::kSuccess;
}
cu::Result cuDeviceGet(cu::Device *device, int ordinal) {
  if (ordinal < 0 || ordinal >= deviceCount())
    return kInvalidValue;
  *device = ordinal;
  return cu::kSuccess;
}
cu::Result cuDeviceGetAttribute(int *value, int attribute, cu::Device) {
  if (attribute == cu::kAttributeComputeCapabilityMajor)
    *value = smVersion() / 10;
  else if (attribute == cu::kAttributeComputeCapabilityMinor)
    *value = smVersion() % 10;
  else if (attribute == cu::kAttributeMultiprocessorCount)
    *value = 4;
  else if (attribute == cu::kAttributeMaxSharedPerBlockOptin)
    *value = sharedOptInLimit();
  else
    return kInvalidValue;
  return cu::kSuccess;
}
cu::Result cuDeviceGetName(char *name, int length, cu::Device) {
  std::strncpy(name, "Fake GPU", size_t(length));
  return cu::kSuccess;
}
cu::Result cuDevicePrimaryCtxRetain(cu::Context *context, cu::Device) {
  static int dummy;
  *context = reinterpret_cast<cu::Context>(&dummy);
  ++retainedContexts;
  return cu::kSuccess;
}
cu::Result cuDevicePrimaryCtxRelease_v2(cu::Device) {
  --retainedContexts;
  return cu::kSuccess;
}
cu::Result cuCtxSetCurrent(cu::Context) { return cu::kSuccess; }

cu::Result cuModuleLoadData(cu::Module *module, const void *image) {
  // An ELF file ends with its section header table.
  const auto *header = static_cast<const Elf64_Ehdr *>(image);
  if (std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0)
    return kInvalidImage;
  size_t size = header->e_shoff + size_t(header->e_shnum) * header->e_shentsize;
  *module = openLibrary(image, size);
  if (!*module)
    return kInvalidImage;
  ++cubinLoads;
  return cu::kSuccess;
}
cu::Result cuModuleLoadDataEx(cu::Module *module, const void *image,
                              unsigned count, cu::JitOption *options,
                              void **values) {
  const char *text = static_cast<const char *>(image);
  if (std::strcmp(text, "FAKEPTX-ERROR") == 0) {
    for (unsigned i = 0; i < count; ++i)
      if (options[i] == cu::kJitErrorLogBuffer)
        std::strcpy(static_cast<char *>(values[i]), "line 3: syntax error");
    return kInvalidPtx;
  }
  if (std::strncmp(text, "FAKEPTX:", 8) != 0)
    return kInvalidPtx;
  *module = static_cast<cu::Module>(dlopen(text + 8, RTLD_NOW | RTLD_LOCAL));
  if (!*module)
    return kInvalidPtx;
  ++jitLoads;
  return cu::kSuccess;
}
cu::Result cuModuleUnload(cu::Module module) {
  dlclose(module);
  return cu::kSuccess;
}
cu::Result cuModuleGetFunction(cu::Function *function, cu::Module module,
                               const char *name) {
  *function = static_cast<cu::Function>(dlsym(module, name));
  if (!*function)
    return cu::kErrorNotFound;
  // A function of an unloaded module may share an address with this one.
  if (functionModules[*function] != module)
    sharedOptIns.erase(*function);
  functionModules[*function] = module;
  if (void *emulator = dlsym(module, "llamaEmuLaunch"))
    emulators[*function] = reinterpret_cast<EmulatorLaunch>(emulator);
  else
    emulators.erase(*function);
  return cu::kSuccess;
}
cu::Result cuFuncSetAttribute(cu::Function function, int attribute, int value) {
  if (attribute != cu::kFuncAttributeMaxDynamicShared || value < 0 ||
      value > sharedOptInLimit())
    return kInvalidValue;
  sharedOptIns[function] = unsigned(value);
  return cu::kSuccess;
}
cu::Result cuFuncGetAttribute(int *value, int attribute,
                              cu::Function function) {
  if (attribute != cu::kFuncAttributeMaxThreadsPerBlock || !function)
    return kInvalidValue;
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_MAX_THREADS");
  *value = text && *text ? std::atoi(text) : 1024;
  return cu::kSuccess;
}
cu::Result cuModuleGetGlobal_v2(cu::DevicePtr *pointer, size_t *bytes,
                                cu::Module module, const char *name) {
  void *address = dlsym(module, name);
  if (!address)
    return cu::kErrorNotFound;
  *pointer = cu::DevicePtr(uintptr_t(address));
  *bytes = sizeof(int);
  return cu::kSuccess;
}

cu::Result cuMemAlloc_v2(cu::DevicePtr *pointer, size_t bytes) {
  if (bytes == 0)
    return kInvalidValue;
  if (allocatedBytes + bytes > deviceMemory())
    return cu::kErrorOutOfMemory;
  void *memory = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  // Garbage, as real device memory would hold.
  std::memset(memory, 0xcd, bytes);
  *pointer = cu::DevicePtr(uintptr_t(memory));
  ++liveAllocations;
  allocationBytes[*pointer] = bytes;
  allocatedBytes += bytes;
  return cu::kSuccess;
}
cu::Result cuMemFree_v2(cu::DevicePtr pointer) {
  std::free(reinterpret_cast<void *>(uintptr_t(pointer)));
  --liveAllocations;
  allocatedBytes -= allocationBytes[pointer];
  allocationBytes.erase(pointer);
  return cu::kSuccess;
}
cu::Result cuMemGetInfo_v2(size_t *free, size_t *total) {
  *total = deviceMemory();
  *free = *total - std::min(allocatedBytes, *total);
  // Another process may take memory between the query and the allocations.
  if (const char *text = std::getenv("LLAMAC_FAKE_CUDA_REPORTED_FREE"))
    *free = size_t(std::strtoull(text, nullptr, 10));
  return cu::kSuccess;
}
cu::Result cuMemcpyHtoD_v2(cu::DevicePtr to, const void *from, size_t bytes) {
  if (capturing)
    return kCaptureUnsupported;
  std::memcpy(reinterpret_cast<void *>(uintptr_t(to)), from, bytes);
  return cu::kSuccess;
}
cu::Result cuMemcpyHtoDAsync_v2(cu::DevicePtr to, const void *from,
                                size_t bytes, cu::Stream) {
  return cuMemcpyHtoD_v2(to, from, bytes);
}
cu::Result cuMemcpyDtoH_v2(void *to, cu::DevicePtr from, size_t bytes) {
  if (capturing)
    return kCaptureUnsupported;
  std::memcpy(to, reinterpret_cast<const void *>(uintptr_t(from)), bytes);
  return cu::kSuccess;
}
cu::Result cuMemsetD8_v2(cu::DevicePtr to, unsigned char value, size_t bytes) {
  if (capturing)
    return kCaptureUnsupported;
  std::memset(reinterpret_cast<void *>(uintptr_t(to)), value, bytes);
  return cu::kSuccess;
}

cu::Result cuLaunchKernel(cu::Function function, unsigned gx, unsigned gy,
                          unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned shared, cu::Stream, void **params,
                          void **extra) {
  const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz},
                 cluster[3] = {1, 1, 1};
  return launchKernel(function, grid, block, cluster, shared, params, extra);
}

/// Launches run in order, so programmatic stream serialization changes
/// nothing here; what is checked is the configuration the runtime builds,
/// and that it asks for the attributes only where the driver would honour
/// them (compute capability 9.0 and later). Clusters reach the emulator,
/// which runs each one's blocks together.
cu::Result cuLaunchKernelEx(const cu::LaunchConfig *config,
                            cu::Function function, void **params,
                            void **extra) {
  if (!config || (config->numAttrs && !config->attrs))
    return kInvalidValue;
  const unsigned grid[3] = {config->gridDimX, config->gridDimY,
                            config->gridDimZ},
                 block[3] = {config->blockDimX, config->blockDimY,
                             config->blockDimZ};
  unsigned cluster[3] = {1, 1, 1};
  int programmatic = 0;
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    const cu::LaunchAttribute &attribute = config->attrs[i];
    if (attribute.id == cu::kLaunchAttributeProgrammaticStreamSerialization) {
      int allowed = attribute.value.programmaticStreamSerializationAllowed;
      if (allowed != 0 && allowed != 1)
        return kInvalidValue;
      if (allowed && smVersion() < 90)
        return kNotSupported;
      programmatic = allowed;
    } else if (attribute.id == cu::kLaunchAttributeClusterDimension) {
      // A cluster shape that tiles the grid, of at most 8 blocks (the
      // portable size).
      const auto &dim = attribute.value.clusterDim;
      cluster[0] = dim.x;
      cluster[1] = dim.y;
      cluster[2] = dim.z;
      uint64_t blocks = 1;
      for (int d = 0; d < 3; ++d) {
        if (cluster[d] == 0 || grid[d] % cluster[d] != 0)
          return kInvalidValue;
        blocks *= cluster[d];
      }
      if (blocks > 8)
        return kInvalidValue;
      if (smVersion() < 90)
        return kNotSupported;
    } else {
      return kInvalidValue;
    }
  }
  programmaticLaunches += programmatic;
  clusterLaunches += cluster[0] * cluster[1] * cluster[2] > 1;
  return launchKernel(function, grid, block, cluster, config->sharedMemBytes,
                      params, extra);
}

cu::Result cuStreamBeginCapture_v2(cu::Stream, int) {
  const char *text = std::getenv("LLAMAC_FAKE_CUDA_CAPTURE");
  if (capturing || (text && std::strcmp(text, "fails") == 0))
    return kCaptureUnsupported;
  capturing = new FakeGraph();
  return cu::kSuccess;
}
cu::Result cuStreamEndCapture(cu::Stream, cu::Graph *graph) {
  if (!capturing)
    return kInvalidValue;
  *graph = reinterpret_cast<cu::Graph>(capturing);
  capturing = nullptr;
  ++graphCaptures;
  return cu::kSuccess;
}
cu::Result cuGraphInstantiateWithFlags(cu::GraphExec *exec, cu::Graph graph,
                                       unsigned long long) {
  *exec = reinterpret_cast<cu::GraphExec>(
      new FakeGraph(*reinterpret_cast<FakeGraph *>(graph)));
  return cu::kSuccess;
}
cu::Result cuGraphLaunch(cu::GraphExec exec, cu::Stream) {
  if (capturing)
    return kCaptureUnsupported;
  ++graphLaunches;
  for (const RecordedLaunch &launch :
       reinterpret_cast<FakeGraph *>(exec)->launches)
    if (cu::Result result =
            execute(launch.function, launch.grid, launch.block, launch.cluster,
                    launch.shared, &launch.args))
      return result;
  return cu::kSuccess;
}
cu::Result cuGraphExecDestroy(cu::GraphExec exec) {
  delete reinterpret_cast<FakeGraph *>(exec);
  return cu::kSuccess;
}
cu::Result cuGraphDestroy(cu::Graph graph) {
  delete reinterpret_cast<FakeGraph *>(graph);
  return cu::kSuccess;
}

cu::Result cuStreamCreate(cu::Stream *stream, unsigned) {
  static int dummy;
  *stream = reinterpret_cast<cu::Stream>(&dummy);
  return cu::kSuccess;
}
cu::Result cuStreamDestroy_v2(cu::Stream) { return cu::kSuccess; }
cu::Result cuStreamSynchronize(cu::Stream) {
  return capturing ? kCaptureUnsupported : cu::kSuccess;
}
cu::Result cuEventCreate(cu::Event *event, unsigned) {
  *event = reinterpret_cast<cu::Event>(new FakeEvent());
  return cu::kSuccess;
}
cu::Result cuEventDestroy_v2(cu::Event event) {
  delete reinterpret_cast<FakeEvent *>(event);
  return cu::kSuccess;
}
cu::Result cuEventRecord(cu::Event event, cu::Stream) {
  reinterpret_cast<FakeEvent *>(event)->time = std::chrono::steady_clock::now();
  return cu::kSuccess;
}
cu::Result cuEventSynchronize(cu::Event) { return cu::kSuccess; }
cu::Result cuEventElapsedTime(float *milliseconds, cu::Event start,
                              cu::Event end) {
  *milliseconds = std::chrono::duration<float, std::milli>(
                      reinterpret_cast<FakeEvent *>(end)->time -
                      reinterpret_cast<FakeEvent *>(start)->time)
                      .count();
  return cu::kSuccess;
}

/// The emulator's encoding, which refuses what the driver refuses and
/// answers CUDA_ERROR_NOT_SUPPORTED for what the emulator cannot copy.
cu::Result
cuTensorMapEncodeTiled(cu::TensorMap *map, int dataType, unsigned rank,
                       void *address, const unsigned long long *dims,
                       const unsigned long long *strides, const unsigned *box,
                       const unsigned *elementStrides, int interleave,
                       int swizzle, int l2Promotion, int oobFill) {
  static_assert(sizeof(unsigned long long) == sizeof(uint64_t));
  return llamaEmuEncodeTiled(
      map, dataType, rank, address, reinterpret_cast<const uint64_t *>(dims),
      reinterpret_cast<const uint64_t *>(strides), box, elementStrides,
      interleave, swizzle, l2Promotion, oobFill);
}

// What the tests read.
int llamacFakeCudaLaunches() { return launches; }
void llamacFakeCudaLastLaunch(unsigned geometry[7],
                              LlamaKernelContext *context) {
  std::memcpy(geometry, lastGeometry, sizeof(lastGeometry));
  *context = lastContext;
}
int llamacFakeCudaLiveAllocations() { return liveAllocations; }
int llamacFakeCudaRetainedContexts() { return retainedContexts; }
int llamacFakeCudaJitLoads() { return jitLoads; }
int llamacFakeCudaCubinLoads() { return cubinLoads; }
int llamacFakeCudaGraphCaptures() { return graphCaptures; }
int llamacFakeCudaGraphLaunches() { return graphLaunches; }
int llamacFakeCudaProgrammaticLaunches() { return programmaticLaunches; }
int llamacFakeCudaClusterLaunches() { return clusterLaunches; }
/// The cluster shape of the last launch run ({1, 1, 1} without clusters).
void llamacFakeCudaLastCluster(unsigned cluster[3]) {
  std::memcpy(cluster, lastCluster, sizeof(lastCluster));
}

} // extern "C"
