//===- NvrtcCompilerTest.cpp - The NVRTC KernelCompiler -------------------===//

#include "codegen/cuda/NvrtcCompiler.h"

#include "llvm/ADT/StringRef.h"

#include <gtest/gtest.h>

using namespace llamac;

namespace {

const char *const tinySource = R"(
extern "C" __global__ void axpy(float a, const float *x, float *y) {
  y[threadIdx.x] += a * x[threadIdx.x];
}
)";

TEST(NvrtcCompilerTest, VersionNamesNvrtc) {
  std::string version = codegen::createNvrtcCompiler()->version();
  EXPECT_TRUE(llvm::StringRef(version).starts_with("NVRTC "));
  EXPECT_NE(version.find('.'), std::string::npos) << version;
}

TEST(NvrtcCompilerTest, RealArchsGetPtxOfTheLowest) {
  auto binaries =
      codegen::createNvrtcCompiler({"sm_90", "sm_86"})->compile(tinySource);
  ASSERT_TRUE(bool(binaries)) << llvm::toString(binaries.takeError());
  ASSERT_EQ(binaries->size(), 3u);
  EXPECT_EQ((*binaries)[0].arch, "sm_90");
  EXPECT_EQ((*binaries)[0].format, "cubin");
  EXPECT_EQ((*binaries)[1].arch, "sm_86");
  EXPECT_EQ((*binaries)[2].arch, "compute_86");
  EXPECT_EQ((*binaries)[2].format, "ptx");
  for (const artifact::BinarySpec &binary : *binaries) {
    EXPECT_EQ(binary.target, "cuda");
    EXPECT_FALSE(binary.data.empty());
  }
}

TEST(NvrtcCompilerTest, DefaultIsFourCubinsAndPtx) {
  std::vector<std::string> archs = codegen::defaultCudaArchs();
  EXPECT_EQ(archs, (std::vector<std::string>{"sm_80", "sm_86", "sm_89",
                                             "sm_90a", "compute_80"}));
}

TEST(NvrtcCompilerTest, ErrorsCarryTheLog) {
  auto binaries = codegen::createNvrtcCompiler({"sm_80"})->compile(
      "extern \"C\" __global__ void broken() { undeclaredName = 1; }\n");
  ASSERT_FALSE(bool(binaries));
  std::string message = llvm::toString(binaries.takeError());
  EXPECT_NE(message.find("sm_80"), std::string::npos) << message;
  EXPECT_NE(message.find("undeclaredName"), std::string::npos) << message;
}

TEST(NvrtcCompilerTest, RejectsUnknownArchs) {
  auto binaries = codegen::createNvrtcCompiler({"gfx90a"})->compile(tinySource);
  ASSERT_FALSE(bool(binaries));
  EXPECT_NE(llvm::toString(binaries.takeError()).find("gfx90a"),
            std::string::npos);
}

} // namespace
