//===- CudaApiTest.cpp - CudaApi.h agrees with the toolkit's cuda.h -------===//
//
// The runtime declares the driver's types and constants itself so that it
// builds without the toolkit; where <cuda.h> is installed (headers only,
// nothing is linked), every value is checked against it.
//
//===----------------------------------------------------------------------===//

#include "runtime/CudaApi.h"
#include "runtime/CudaDriver.h"
#include "runtime/KernelAbi.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <dlfcn.h>
#include <type_traits>

#ifdef LLAMAC_HAVE_CUDA_H
#include <cuda.h>
#endif

using namespace llamac::runtime;

namespace {

#ifdef LLAMAC_HAVE_CUDA_H
static_assert(sizeof(cu::Result) == sizeof(CUresult));
static_assert(sizeof(cu::Device) == sizeof(CUdevice));
static_assert(std::is_same_v<cu::DevicePtr, CUdeviceptr>);
static_assert(std::is_same_v<cu::Context, CUcontext>);
static_assert(std::is_same_v<cu::Module, CUmodule>);
static_assert(std::is_same_v<cu::Function, CUfunction>);
static_assert(std::is_same_v<cu::Stream, CUstream>);
static_assert(std::is_same_v<cu::Event, CUevent>);
static_assert(std::is_same_v<cu::Graph, CUgraph>);
static_assert(std::is_same_v<cu::GraphExec, CUgraphExec>);
static_assert(sizeof(cu::JitOption) == sizeof(CUjit_option));
static_assert(cu::kSuccess == CUDA_SUCCESS);
static_assert(cu::kErrorNoDevice == CUDA_ERROR_NO_DEVICE);
static_assert(cu::kErrorStubLibrary == CUDA_ERROR_STUB_LIBRARY);
static_assert(cu::kErrorNotFound == CUDA_ERROR_NOT_FOUND);
static_assert(cu::kAttributeComputeCapabilityMajor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(cu::kAttributeComputeCapabilityMinor ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(cu::kAttributeMultiprocessorCount ==
              CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(cu::kAttributeMaxSharedPerBlockOptin ==
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
static_assert(cu::kFuncAttributeMaxDynamicShared ==
              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(cu::kStreamNonBlocking == CU_STREAM_NON_BLOCKING);
static_assert(cu::kEventDefault == CU_EVENT_DEFAULT);
static_assert(cu::kStreamCaptureModeThreadLocal ==
              CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
static_assert(cu::kJitInfoLogBuffer == CU_JIT_INFO_LOG_BUFFER);
static_assert(cu::kJitInfoLogBufferSizeBytes ==
              CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
static_assert(cu::kJitErrorLogBuffer == CU_JIT_ERROR_LOG_BUFFER);
static_assert(cu::kJitErrorLogBufferSizeBytes ==
              CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
static_assert(sizeof(cu::TensorMap) == sizeof(CUtensorMap));
static_assert(alignof(cu::TensorMap) == alignof(CUtensorMap));
static_assert(sizeof(LlamaGpuTensorMap) == sizeof(CUtensorMap));
static_assert(alignof(LlamaGpuTensorMap) == alignof(CUtensorMap));
static_assert(cu::kTensorMapDataTypeF16 == CU_TENSOR_MAP_DATA_TYPE_FLOAT16);
static_assert(cu::kTensorMapDataTypeF32 == CU_TENSOR_MAP_DATA_TYPE_FLOAT32);
static_assert(cu::kTensorMapDataTypeBf16 == CU_TENSOR_MAP_DATA_TYPE_BFLOAT16);
static_assert(cu::kTensorMapInterleaveNone == CU_TENSOR_MAP_INTERLEAVE_NONE);
static_assert(cu::kTensorMapSwizzleNone == CU_TENSOR_MAP_SWIZZLE_NONE);
static_assert(cu::kTensorMapSwizzle128B == CU_TENSOR_MAP_SWIZZLE_128B);
static_assert(cu::kTensorMapL2Promotion256B ==
              CU_TENSOR_MAP_L2_PROMOTION_L2_256B);
static_assert(cu::kTensorMapOobFillZeros == CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
static_assert(cu::kLaunchAttributeProgrammaticStreamSerialization ==
              CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
static_assert(sizeof(cu::LaunchAttribute) == sizeof(CUlaunchAttribute));
static_assert(alignof(cu::LaunchAttribute) == alignof(CUlaunchAttribute));
static_assert(offsetof(cu::LaunchAttribute, value) ==
              offsetof(CUlaunchAttribute, value));
static_assert(offsetof(cu::LaunchAttribute,
                       value.programmaticStreamSerializationAllowed) ==
              offsetof(CUlaunchAttribute,
                       value.programmaticStreamSerializationAllowed));
static_assert(sizeof(cu::LaunchConfig) == sizeof(CUlaunchConfig));
static_assert(offsetof(cu::LaunchConfig, sharedMemBytes) ==
              offsetof(CUlaunchConfig, sharedMemBytes));
static_assert(offsetof(cu::LaunchConfig, hStream) ==
              offsetof(CUlaunchConfig, hStream));
static_assert(offsetof(cu::LaunchConfig, attrs) ==
              offsetof(CUlaunchConfig, attrs));
static_assert(offsetof(cu::LaunchConfig, numAttrs) ==
              offsetof(CUlaunchConfig, numAttrs));
#endif

TEST(CudaApiTest, MatchesCudaHeaderWhereInstalled) {
#ifndef LLAMAC_HAVE_CUDA_H
  GTEST_SKIP() << "no cuda.h: the static_asserts above were not compiled";
#endif
}

/// Every symbol of the table, required or optional.
const char *const kSymbols[] = {
#define LLAMAC_CUDA_SYMBOL_NAME(member, symbol, ...) symbol,
    LLAMAC_CUDA_REQUIRED_FUNCTIONS(LLAMAC_CUDA_SYMBOL_NAME)
        LLAMAC_CUDA_OPTIONAL_FUNCTIONS(LLAMAC_CUDA_SYMBOL_NAME)
#undef LLAMAC_CUDA_SYMBOL_NAME
};

// The toolkit's link stub exports exactly the driver's functions, so it
// proves every name in the table (with its _v2 suffix) is a real export. It
// is only dlopen'ed here, never linked.
TEST(CudaApiTest, EveryTableSymbolIsExportedByTheDriverStub) {
#ifndef LLAMAC_CUDA_STUB
  GTEST_SKIP() << "no CUDA toolkit stub libcuda.so";
#else
  void *stub = dlopen(LLAMAC_CUDA_STUB, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(stub, nullptr) << dlerror();
  for (const char *symbol : kSymbols)
    EXPECT_NE(dlsym(stub, symbol), nullptr) << symbol;
  dlclose(stub);
#endif
}

TEST(CudaApiTest, TheStubIsRecognizedAsNotADriver) {
#ifndef LLAMAC_CUDA_STUB
  GTEST_SKIP() << "no CUDA toolkit stub libcuda.so";
#else
  const char *old = std::getenv(kLibcudaEnvVar);
  std::string saved = old ? old : "";
  setenv(kLibcudaEnvVar, LLAMAC_CUDA_STUB, 1);
  StatusOr<std::shared_ptr<CudaDriver>> driver = CudaDriver::load();
  if (old)
    setenv(kLibcudaEnvVar, saved.c_str(), 1);
  else
    unsetenv(kLibcudaEnvVar);
  EXPECT_EQ(driver.message(),
            std::string("no CUDA driver: ") + LLAMAC_CUDA_STUB +
                " is the CUDA toolkit's link stub, not the driver (cuInit: "
                "CUDA_ERROR_STUB_LIBRARY); install the NVIDIA driver, or take "
                "the toolkit's stubs directory off LD_LIBRARY_PATH");
#endif
}

} // namespace
