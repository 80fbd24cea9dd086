//===- CudaCompileTest.cpp - Every preset's kernels compile with NVRTC ----===//
//
// For each preset, dtype and fusion setting, the deduplicated kernels of the
// prefill and decode entries form one translation unit, as in an artifact;
// it must compile for every architecture an artifact carries. One test per
// (unit, architecture), so ctest -j spreads NVRTC over the cores.
//
//===----------------------------------------------------------------------===//

#include "test/unit/codegen-cuda/CudaTestModels.h"

#include "codegen/cuda/NvrtcCompiler.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

using namespace llamac;
using namespace llamac::test;

namespace {

/// Every preset, decode and prefill, f32 and bf16, for every architecture;
/// the unfused ops of tiny and of the GQA preset too.
const ModelCase cases[] = {
    {"tiny", DType::F32, true},         {"tiny", DType::BF16, true},
    {"tiny", DType::F32, false},        {"tiny", DType::BF16, false},
    {"llama2-7b", DType::F32, true},    {"llama2-7b", DType::BF16, true},
    {"llama2-13b", DType::F32, true},   {"llama2-13b", DType::BF16, true},
    {"llama2-70b", DType::F32, true},   {"llama2-70b", DType::BF16, true},
    {"llama2-70b", DType::BF16, false},
};

/// Other kernel variants (f16, the training entry with its separate gains
/// and cross-entropy, the backward and optimizer kernels of train_step)
/// share the code paths above but for their types and operands: one
/// architecture (and its PTX) is enough.
const ModelCase variants[] = {
    {"tiny", DType::F16, true},
    {"tiny", DType::F32, true, /*training=*/true},
    {"tiny", DType::BF16, true, /*training=*/true},
    {"tiny", DType::F32, false, /*training=*/true},
    {"tiny", DType::F32, true, /*training=*/true, /*backward=*/true},
    {"tiny", DType::BF16, true, /*training=*/true, /*backward=*/true},
    {"llama2-7b", DType::F32, true, /*training=*/true, /*backward=*/true},
    // matmul_grad on the tensor cores, for every GEMM (tiny's 172-wide FFN
    // keeps its TF32 tiles), in both 16-bit types.
    {"llama2-7b", DType::BF16, true, /*training=*/true, /*backward=*/true},
    {"tiny", DType::F16, true, /*training=*/true, /*backward=*/true},
};

/// compute_80's PTX comes from the sm_80 compilation (NvrtcCompiler takes
/// it from there too), so sm_80 covers it. sm_90a is Hopper with wgmma;
/// its PTX fallback is compute_90's portable code, compiled apart.
const char *const archs[] = {"sm_80", "sm_86", "sm_89", "sm_90a"};

class CudaCompileTest
    : public ::testing::TestWithParam<std::tuple<ModelCase, const char *>> {};

/// The lines of a ptxas report that warn of lost performance (those that
/// concern one kernel name it).
std::vector<std::string> ptxasAdvisories(const std::string &report) {
  std::vector<std::string> found;
  llvm::SmallVector<llvm::StringRef> lines;
  llvm::StringRef(report).split(lines, '\n');
  for (llvm::StringRef line : lines)
    if (line.contains("Potential Performance Loss"))
      found.push_back(line.trim().str());
  return found;
}

/// Bytes of spill stores per kernel, from ptxas's "Function properties for
/// K" lines and the "N bytes spill stores" line after each.
std::map<std::string, int> ptxasSpillStores(const std::string &report) {
  std::map<std::string, int> spills;
  llvm::SmallVector<llvm::StringRef> lines;
  llvm::StringRef(report).split(lines, '\n');
  const llvm::StringRef properties = "Function properties for ";
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    size_t at = lines[i].find(properties);
    if (at == llvm::StringRef::npos)
      continue;
    llvm::StringRef kernel = lines[i].substr(at + properties.size()).trim();
    llvm::StringRef next = lines[i + 1];
    size_t comma = next.find("bytes stack frame, ");
    int bytes = -1;
    if (comma != llvm::StringRef::npos)
      next.substr(comma + 19).split(' ').first.getAsInteger(10, bytes);
    spills[kernel.str()] = bytes;
  }
  return spills;
}

/// The kernels whose signature asks ptxas for several resident blocks
/// (`__launch_bounds__(threads, blocks)` with a literal blocks over 1).
std::vector<std::string> kernelsWithMinBlocks(const std::string &source) {
  std::vector<std::string> found;
  llvm::SmallVector<llvm::StringRef> lines;
  llvm::StringRef(source).split(lines, '\n');
  for (llvm::StringRef line : lines) {
    if (!line.contains("__global__ void __launch_bounds__("))
      continue;
    // "threads, blocks) symbol(args..."
    auto [bounds, rest] = line.split("__launch_bounds__(").second.split(") ");
    unsigned blocks = 0;
    if (!bounds.contains(',') ||
        bounds.split(',').second.trim().getAsInteger(10, blocks) || blocks < 2)
      continue;
    found.push_back(rest.split('(').first.trim().str());
  }
  return found;
}

TEST_P(CudaCompileTest, CompilesEveryKernel) {
  auto [modelCase, arch] = GetParam();
  std::string error;
  artifact::ArtifactSpec spec = lowerCase(modelCase, error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_FALSE(spec.kernels.empty());
  // For inspecting what NVRTC compiles (e.g. with nvcc -Xptxas -v).
  if (const char *dir = std::getenv("LLAMAC_CUDA_DUMP_DIR"))
    std::ofstream(std::string(dir) + "/" + caseName(modelCase) + ".cu")
        << spec.kernelSource;

  // sm_XY also brings compute_XY's PTX, from the same compilation; ptxas
  // reports on the cubin's kernels.
  std::string report;
  auto compiler = codegen::createNvrtcCompiler({arch}, &report);
  auto start = std::chrono::steady_clock::now();
  auto binaries = compiler->compile(spec.kernelSource);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (!binaries) {
    std::string path = "/tmp/llamac-cuda-" + caseName(modelCase) + ".cu";
    std::ofstream(path) << spec.kernelSource;
    FAIL() << llvm::toString(binaries.takeError()) << "\n(source in " << path
           << ")";
  }
  std::printf("[ timing ] %s %s: %zu kernels, %.2f s\n",
              caseName(modelCase).c_str(), arch, spec.kernels.size(), seconds);
  RecordProperty("nvrtc_seconds", std::to_string(seconds));

  bool real = llvm::StringRef(arch).starts_with("sm_");
  ASSERT_EQ(binaries->size(), real ? 2u : 1u);
  if (real) {
    const artifact::BinarySpec &cubin = binaries->front();
    EXPECT_EQ(cubin.target, "cuda");
    EXPECT_EQ(cubin.arch, arch);
    EXPECT_EQ(cubin.format, "cubin");
    ASSERT_GE(cubin.data.size(), 4u);
    EXPECT_EQ(std::string(cubin.data.begin(), cubin.data.begin() + 4), "\x7f"
                                                                       "ELF");
  }
  const artifact::BinarySpec &ptx = binaries->back();
  EXPECT_EQ(ptx.format, "ptx");
  std::string digits =
      std::string(arch).substr(std::string(arch).find('_') + 1);
  if (digits.back() == 'a')
    digits.pop_back();
  EXPECT_EQ(ptx.arch, "compute_" + digits);
  ASSERT_FALSE(ptx.data.empty());
  EXPECT_EQ(ptx.data.back(), 0) << "PTX goes to the driver as a C string";
  // Every kernel is an entry, and the ABI marker is there.
  std::string text(ptx.data.begin(), ptx.data.end());
  EXPECT_NE(text.find("llama_kernel_abi_version"), std::string::npos);
  for (const artifact::KernelSpec &kernel : spec.kernels)
    EXPECT_NE(text.find(".entry " + kernel.symbol + "("), std::string::npos)
        << kernel.symbol;
  // No tensor has 1-byte elements, so no kernel stores to global memory a
  // byte at a time. The backward GEMM once stored each bf16 pair by memcpy,
  // which became four st.global.u8 that wrote wrong low bytes on an H100.
  EXPECT_EQ(text.find("st.global.u8"), std::string::npos);
  // ptxas keeps every kernel's design: no "Potential Performance Loss"
  // advisory (setmaxnreg ignored where a kernel's register count at entry
  // is unknown, wgmma serialized, ...), which compiles and runs but slower.
  for (const std::string &line : ptxasAdvisories(report))
    ADD_FAILURE() << arch << ": " << line;
  // Kernels that must not spill: a kernel that asks for several resident
  // blocks (the decode GEMV: 8, so 32 registers a thread), where a spill in
  // its loop would cost more than the occupancy gains; and the sm_90a
  // kernels' wgmma variants (those with a geometry of their own), which
  // keep their 128 accumulators a thread in registers, where a spill in a
  // main loop would cost more than the tiles save.
  std::vector<std::string> spillFree = kernelsWithMinBlocks(spec.kernelSource);
  if (llvm::StringRef(arch) == "sm_90a")
    for (const artifact::KernelSpec &kernel : spec.kernels)
      if (kernel.wgmmaGeometry)
        spillFree.push_back(kernel.symbol);
  std::map<std::string, int> spills = ptxasSpillStores(report);
  for (const std::string &symbol : spillFree) {
    auto found = spills.find(symbol);
    ASSERT_NE(found, spills.end()) << symbol << " not in\n" << report;
    EXPECT_EQ(found->second, 0)
        << arch << " " << symbol << ": bytes of spill stores";
  }
}

std::string testName(
    const ::testing::TestParamInfo<std::tuple<ModelCase, const char *>> &info) {
  return caseName(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Presets, CudaCompileTest,
                         ::testing::Combine(::testing::ValuesIn(cases),
                                            ::testing::ValuesIn(archs)),
                         testName);
INSTANTIATE_TEST_SUITE_P(Variants, CudaCompileTest,
                         ::testing::Combine(::testing::ValuesIn(variants),
                                            ::testing::Values("sm_80")),
                         testName);
/// The wgmma GEMM with a separate gain (training's forward), in f16.
const ModelCase wgmmaVariants[] = {
    {"tiny", DType::F16, true},
    {"tiny", DType::BF16, true, /*training=*/true},
    // The backward's wgmma kernels: matmul_grad and attention_grad at head
    // size 128.
    {"llama2-7b", DType::BF16, true, /*training=*/true, /*backward=*/true},
};
INSTANTIATE_TEST_SUITE_P(Wgmma, CudaCompileTest,
                         ::testing::Combine(::testing::ValuesIn(wgmmaVariants),
                                            ::testing::Values("sm_90a")),
                         testName);

} // namespace
