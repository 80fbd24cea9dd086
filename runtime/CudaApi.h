//===- CudaApi.h - The CUDA driver API types the runtime uses ---*- C++ -*-===//
//
// The runtime reaches the driver only through dlopen (CudaDriver.h), so it
// needs the driver's types and constants but not its import library. They
// are declared here rather than taken from <cuda.h> so that the runtime
// builds on machines without the CUDA toolkit; the values are the driver's
// stable ABI (CudaApiTest checks them against <cuda.h> where it exists).
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDAAPI_H
#define LLAMAC_RUNTIME_CUDAAPI_H

#include <cstddef>

// The driver's opaque handle types, at global scope as in <cuda.h>, so that
// the two declarations name the same types.
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;

namespace llamac::runtime::cu {

using Result = int;
using Device = int;
using DevicePtr = unsigned long long;
using Context = ::CUctx_st *;
using Module = ::CUmod_st *;
using Function = ::CUfunc_st *;
using Stream = ::CUstream_st *;
using Event = ::CUevent_st *;
using Graph = ::CUgraph_st *;
using GraphExec = ::CUgraphExec_st *;
/// CUjit_option.
using JitOption = int;

inline constexpr Result kSuccess = 0;
inline constexpr Result kErrorStubLibrary = 34;
inline constexpr Result kErrorNoDevice = 100;
/// CUDA_ERROR_OUT_OF_MEMORY.
inline constexpr Result kErrorOutOfMemory = 2;
inline constexpr Result kErrorNotFound = 500;

inline constexpr int kAttributeComputeCapabilityMajor = 75;
inline constexpr int kAttributeComputeCapabilityMinor = 76;
inline constexpr int kAttributeMultiprocessorCount = 16;
/// CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN.
inline constexpr int kAttributeMaxSharedPerBlockOptin = 97;
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
inline constexpr int kFuncAttributeMaxDynamicShared = 8;
/// CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: the largest block a function
/// launches with on this device, given its launch bounds and registers.
inline constexpr int kFuncAttributeMaxThreadsPerBlock = 0;
/// A block gets this much shared memory without opting in.
inline constexpr unsigned kDefaultSharedPerBlock = 48 * 1024;

inline constexpr unsigned kStreamNonBlocking = 1;
inline constexpr unsigned kEventDefault = 0;
inline constexpr int kStreamCaptureModeThreadLocal = 1;

inline constexpr JitOption kJitInfoLogBuffer = 3;
inline constexpr JitOption kJitInfoLogBufferSizeBytes = 4;
inline constexpr JitOption kJitErrorLogBuffer = 5;
inline constexpr JitOption kJitErrorLogBufferSizeBytes = 6;

/// CUtensorMap: 128 opaque bytes, 128-byte aligned, as LlamaGpuTensorMap.
struct alignas(128) TensorMap {
  unsigned long long opaque[16];
};
/// cuTensorMapEncodeTiled's enums (CUtensorMapDataType, ...Interleave,
/// ...Swizzle, ...L2promotion, ...FloatOOBfill), passed as ints.
inline constexpr int kTensorMapDataTypeF16 = 6;
inline constexpr int kTensorMapDataTypeF32 = 7;
inline constexpr int kTensorMapDataTypeBf16 = 9;
inline constexpr int kTensorMapInterleaveNone = 0;
inline constexpr int kTensorMapSwizzleNone = 0;
inline constexpr int kTensorMapSwizzle128B = 3;
inline constexpr int kTensorMapL2Promotion256B = 3;
/// Elements out of bounds read as zeros.
inline constexpr int kTensorMapOobFillZeros = 0;

/// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the kernel may
/// launch before the previous kernel in its stream has finished
/// (programmatic dependent launch, compute capability 9.0 and later).
inline constexpr int kLaunchAttributeProgrammaticStreamSerialization = 6;
/// CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION: the grid's blocks run in clusters
/// of x × y × z (compute capability 9.0 and later), co-scheduled on one
/// GPU processing cluster, whose blocks may read and signal each other's
/// shared memory.
inline constexpr int kLaunchAttributeClusterDimension = 4;
/// CUlaunchAttribute: an id, then the CUlaunchAttributeValue union (64
/// bytes, 8-byte aligned); the attributes above read its first int or its
/// first three unsigned ints.
struct LaunchAttribute {
  int id;
  char pad[4];
  union {
    alignas(8) unsigned char bytes[64];
    int programmaticStreamSerializationAllowed;
    struct {
      unsigned x, y, z;
    } clusterDim;
  } value;
};
/// CUlaunchConfig, cuLaunchKernelEx's description of a launch.
struct LaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  Stream hStream;
  LaunchAttribute *attrs;
  unsigned numAttrs;
};

} // namespace llamac::runtime::cu

#endif // LLAMAC_RUNTIME_CUDAAPI_H
