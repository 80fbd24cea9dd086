//===- CudaJitTest.cpp - llama-run --jit's compile and cache --------------===//
//
// The real NVRTC, which needs no GPU, compiles small sources into a cache
// in a scratch directory: what is compiled, what is reused, and what goes
// wrong. Skipped, saying so, where NVRTC is not installed. Running the
// cubin needs a GPU (test/gpu/check.sh runs stories260K with --jit); the
// fake driver only shows that a session hands it the JIT cubin.
//
//===----------------------------------------------------------------------===//

#include "runtime/CudaJit.h"
#include "runtime/CudaSession.h"
#include "runtime/NvrtcOptions.h"

#include "TestArtifacts.h"
#include "TestAssets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <regex>

using namespace llamac;
using namespace llamac::runtime;
using namespace llamac::test;
using testing::HasSubstr;
using testing::StartsWith;

namespace {

const char *const kSource = R"(#include <cuda_bf16.h>
extern "C" __global__ void fill(__nv_bfloat16 *out) {
  out[threadIdx.x] = __float2bfloat16_rn(1.0f);
}
)";

constexpr SmVersion kSm80{8, 0}, kSm90{9, 0};

class CudaJitTest : public testing::Test {
protected:
  void SetUp() override {
    void *nvrtc = dlopen("libnvrtc.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!nvrtc)
      nvrtc =
          dlopen("/usr/local/cuda/lib64/libnvrtc.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!nvrtc)
      GTEST_SKIP() << "NVRTC (libnvrtc.so.13) is not installed";
    dlclose(nvrtc);
  }

  /// The one file in the cache.
  std::string cachedFile() const {
    std::vector<std::string> files = listFiles(dir.file("cubin"));
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? "" : files[0];
  }

  TempDir dir;
  ScopedEnv cache{"LLAMAC_CACHE_DIR", dir.path().c_str()};
  ScopedEnv library{"LLAMAC_LIBNVRTC", nullptr};
  ScopedEnv include{"LLAMAC_CUDA_INCLUDE", nullptr};
};

TEST_F(CudaJitTest, CompilesOnceThenLoadsFromTheCache) {
  StatusOr<JitCubin> first = jitCompileCubin(kSource, kSm80);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(first->compiled);
  std::string file = cachedFile();
  // Named by the source and options hash, the arch and NVRTC's version.
  EXPECT_TRUE(std::regex_match(
      file, std::regex("[0-9a-f]{16}-sm_80-nvrtc[0-9]+\\.[0-9]+\\.cubin")))
      << file;
  EXPECT_THAT(first->description, StartsWith("JIT cubin sm_80 (NVRTC "));
  EXPECT_THAT(first->description,
              HasSubstr("s, cached as " + dir.file("cubin/" + file) + ")"));
  // NVRTC's output: an ELF file for EM_CUDA (190).
  ASSERT_GT(first->cubin.size(), 64u);
  EXPECT_EQ(first->cubin[18] | first->cubin[19] << 8, 190);
  EXPECT_EQ(readBytes(dir.file("cubin/" + file)), first->cubin);

  StatusOr<JitCubin> second = jitCompileCubin(kSource, kSm80);
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_FALSE(second->compiled);
  EXPECT_EQ(second->cubin, first->cubin);
  EXPECT_THAT(second->description, HasSubstr(", cached as "));
  EXPECT_THAT(second->description, testing::Not(HasSubstr("compiled")));
}

TEST_F(CudaJitTest, AnotherArchOrSourceIsAnotherEntry) {
  ASSERT_TRUE(jitCompileCubin(kSource, kSm80).ok());
  StatusOr<JitCubin> hopper = jitCompileCubin(kSource, kSm90);
  ASSERT_TRUE(hopper.ok()) << hopper.message();
  EXPECT_TRUE(hopper->compiled);
  StatusOr<JitCubin> edited =
      jitCompileCubin(std::string(kSource) + "// edited\n", kSm80);
  ASSERT_TRUE(edited.ok()) << edited.message();
  EXPECT_TRUE(edited->compiled);
  EXPECT_EQ(listFiles(dir.file("cubin")).size(), 3u);
  // Hopper compiles for sm_90a, as llamac's default archs do, so that the
  // GEMMs take wgmma.
  EXPECT_THAT(hopper->description, StartsWith("JIT cubin sm_90a (NVRTC "));
}

TEST(NvrtcArchTest, HopperIsArchSpecificEveryOtherGpuPlain) {
  EXPECT_EQ(nvrtcArchFor(8, 0), "sm_80");
  EXPECT_EQ(nvrtcArchFor(8, 9), "sm_89");
  EXPECT_EQ(nvrtcArchFor(9, 0), "sm_90a");
  EXPECT_EQ(nvrtcArchFor(10, 0), "sm_100");
}

TEST_F(CudaJitTest, ACorruptEntryIsCompiledAgain) {
  ASSERT_TRUE(jitCompileCubin(kSource, kSm80).ok());
  std::string path = dir.file("cubin/" + cachedFile());
  std::vector<uint8_t> good = readBytes(path);
  writeBytes(path, std::vector<uint8_t>(good.begin(), good.begin() + 40));
  StatusOr<JitCubin> again = jitCompileCubin(kSource, kSm80);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_TRUE(again->compiled);
  EXPECT_EQ(readBytes(path), good);
}

TEST_F(CudaJitTest, AnUnwritableCacheIsReportedNotFatal) {
  writeBytes(dir.file("blocked"), {1});
  ScopedEnv blocked("LLAMAC_CACHE_DIR", dir.file("blocked").c_str());
  StatusOr<JitCubin> cubin = jitCompileCubin(kSource, kSm80);
  ASSERT_TRUE(cubin.ok()) << cubin.message();
  EXPECT_THAT(cubin->description,
              HasSubstr("not cached: " + dir.file("blocked/cubin") + ": "));
}

TEST_F(CudaJitTest, CompileErrorsCarryNvrtcsLog) {
  StatusOr<JitCubin> cubin = jitCompileCubin(
      "extern \"C\" __global__ void k() { int x = ; }\n", kSm80);
  ASSERT_FALSE(cubin.ok());
  EXPECT_THAT(cubin.message(), StartsWith("--jit: NVRTC "));
  EXPECT_THAT(cubin.message(),
              HasSubstr(" failed for sm_80: NVRTC_ERROR_COMPILATION\n"));
  EXPECT_THAT(cubin.message(), HasSubstr("llamac_kernels.cu(1): error"));
  EXPECT_TRUE(listFiles(dir.file("cubin")).empty());
}

TEST_F(CudaJitTest, MissingPiecesAreNamed) {
  EXPECT_EQ(jitCompileCubin("", kSm80).message(),
            "--jit: the artifact embeds no CUDA source");
  {
    ScopedEnv missing("LLAMAC_LIBNVRTC", "/nonexistent/libnvrtc.so");
    StatusOr<JitCubin> cubin = jitCompileCubin(kSource, kSm80);
    ASSERT_FALSE(cubin.ok());
    EXPECT_THAT(cubin.message(),
                StartsWith("--jit: cannot load NVRTC: /nonexistent/"
                           "libnvrtc.so: cannot open shared object file"));
    EXPECT_THAT(cubin.message(), HasSubstr("set LLAMAC_LIBNVRTC"));
  }
  ScopedEnv headers("LLAMAC_CUDA_INCLUDE", dir.path().c_str());
  EXPECT_EQ(jitCompileCubin(kSource, kSm80).message(),
            "--jit: LLAMAC_CUDA_INCLUDE=" + dir.path() + " has no cuda_fp16.h");
}

/// A cuda session with --jit compiles the artifact's source for the
/// device's arch (the fake driver's sm_86) and loads that cubin instead of
/// the artifact's; the fake driver, which runs host shared objects, then
/// refuses the real cubin, naming it.
TEST_F(CudaJitTest, ASessionLoadsTheJitCubin) {
  ScopedEnv driver(runtime::kLibcudaEnvVar, LLAMAC_FAKE_LIBCUDA);
  ScopedEnv sm("LLAMAC_FAKE_CUDA_SM", "86");
  artifact::ArtifactSpec spec = cudaToyArtifact();
  spec.kernelSource = kSource;
  MemoryWeights weights = toyWeights();
  CudaSessionOptions options;
  options.origin = "m.art";
  options.code = CudaCode::Source;
  StatusOr<std::unique_ptr<CudaSession>> session =
      CudaSession::create(spec, weights, options);
  ASSERT_FALSE(session.ok());
  EXPECT_THAT(session.message(), StartsWith("m.art: JIT cubin sm_86 (NVRTC "));
  EXPECT_THAT(session.message(),
              HasSubstr("): cuModuleLoadData: CUDA_ERROR_INVALID_IMAGE"));
  EXPECT_THAT(cachedFile(), HasSubstr("-sm_86-nvrtc"));
}

} // namespace
