//===- LlamaRunTest.cpp - The llama-run command line ----------------------===//
//
// Runs the built llama-run on the toy artifact of TestArtifacts.h with a
// llama2.c checkpoint of the toy config whose weights are all 0.25: then
// y = 0.25 + 2 * 0.25 = 0.75 in every column, and the logits after token t
// (from 0) are 0.75 * (t + 1).
//
//===----------------------------------------------------------------------===//

#include "runtime/ArtifactIO.h"
#include "runtime/Llama2cCheckpoint.h"

#include "TestArtifacts.h"
#include "TestAssets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <dlfcn.h>
#include <sys/wait.h>

using namespace llamac;
using namespace llamac::runtime;
using namespace llamac::test;
using testing::HasSubstr;

namespace {

struct Result {
  int exitCode = -1;
  std::string output;
};

/// Runs llama-run with `args`, capturing stdout (and stderr when asked).
/// `environment` prefixes the command ("LLAMAC_LIBCUDA=x", "env -u X").
Result llamaRun(const std::string &args, bool withStderr = false,
                const std::string &environment = "") {
  std::string command = environment + " " + std::string(LLAMA_RUN_PATH) + " " +
                        args + (withStderr ? " 2>&1" : " 2>/dev/null");
  Result result;
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe)
    return result;
  char buffer[4096];
  size_t read;
  while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    result.output.append(buffer, read);
  int status = pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class LlamaRunTest : public testing::Test {
protected:
  void SetUp() override {
    artifact = dir.file("toy.art");
    ASSERT_TRUE(writeArtifact(toyArtifact(), artifact).ok());
    weights = dir.file("toy.bin");
    Llama2cHeader header{4, 8, 1, 2, 1, 8, 16};
    std::vector<Tensor> tensors;
    for (const TensorView &layout : llama2cTensorLayout(header))
      tensors.push_back(
          {layout.name, layout.shape,
           std::vector<float>(size_t(layout.numElements()), 0.25f)});
    std::vector<TensorView> views;
    for (const Tensor &tensor : tensors)
      views.push_back(tensor.view());
    ASSERT_TRUE(writeLlama2cCheckpoint(weights, header, views).ok());
  }

  TempDir dir;
  std::string artifact;
  std::string weights;
};

const char kThreeRows[] =
    "7.50000000e-01 7.50000000e-01 7.50000000e-01 7.50000000e-01\n"
    "1.50000000e+00 1.50000000e+00 1.50000000e+00 1.50000000e+00\n"
    "2.25000000e+00 2.25000000e+00 2.25000000e+00 2.25000000e+00\n";

TEST_F(LlamaRunTest, LogitsByDecode) {
  Result result = llamaRun("logits --artifact " + artifact + " --weights " +
                           weights + " --tokens 1,5,2 --threads 1");
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.output, kThreeRows);
}

TEST_F(LlamaRunTest, LogitsByPrefillMatchDecode) {
  Result result = llamaRun("logits --artifact " + artifact + " --weights " +
                           weights + " --tokens 1,5,2 --mode=prefill");
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.output, kThreeRows);
}

TEST_F(LlamaRunTest, InfoDescribesTheArtifact) {
  Result result = llamaRun("info --artifact " + artifact);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output, HasSubstr("kernels: 4"));
  EXPECT_THAT(result.output, HasSubstr("cpu   x86-64"));
  EXPECT_THAT(result.output, HasSubstr("decode"));
}

TEST_F(LlamaRunTest, BenchPrintsSpeedAndBreakdown) {
  Result result = llamaRun("bench --artifact " + artifact +
                           " --random-weights --steps 8 --prompt-len 4");
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output, HasSubstr("prefill: 4 tokens"));
  EXPECT_THAT(result.output, HasSubstr("decode: 8 tokens"));
  EXPECT_THAT(result.output, HasSubstr("attention"));
  EXPECT_THAT(result.output, HasSubstr("layers.*.attention"));
}

TEST_F(LlamaRunTest, InfoAsJson) {
  Result result = llamaRun("info --json --artifact " + artifact);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output,
              testing::StartsWith(
                  "{\"name\": \"toy\", \"dim\": 4, \"n_layers\": 1, "
                  "\"n_heads\": 2, \"n_kv_heads\": 1, \"ffn_dim\": 8, "
                  "\"vocab_size\": 8, \"max_seq_len\": 16, \"rope_theta\": "
                  "10000, \"norm_eps\": 1.0000000000000001e-05, "
                  "\"rope_style\": \"adjacent\", \"dtype\": \"f32\", "
                  "\"shared_classifier\": true, \"binaries\": [{\"target\": "
                  "\"cpu\", \"arch\": \"x86-64\", \"format\": "
                  "\"elf-shared-object\"}], \"entries\": [{\"name\": "
                  "\"load\""));
}

TEST_F(LlamaRunTest, BenchWritesJsonForEveryPromptLength) {
  std::string json = dir.file("bench.json");
  Result result = llamaRun("bench --artifact " + artifact +
                           " --random-weights --steps 3 --prompt-len 2,5 "
                           "--repeats 1 --json " +
                           json);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output, HasSubstr("prefill: 2 tokens"));
  EXPECT_THAT(result.output, HasSubstr("prefill: 5 tokens"));
  std::vector<uint8_t> bytes = readBytes(json);
  std::string text(bytes.begin(), bytes.end());
  EXPECT_THAT(text, HasSubstr("\"prefill\": [{\"tokens\": 2, \"seconds\": "));
  EXPECT_THAT(text, HasSubstr("\"decode\": {\"tokens\": 3, "));
  // Weight and packed buffers the decode launches name: tok_embeddings (8x4
  // f32) and norm.packed (4 f32).
  EXPECT_THAT(text, HasSubstr("\"decode\": 144}"));
  EXPECT_THAT(text, HasSubstr("{\"entry\": \"prefill\", \"seq\": 5, "));
  EXPECT_THAT(text,
              HasSubstr("{\"symbol\": \"k_accumulate\", \"op\": "
                        "\"attention\", \"origin\": \"layers.0.attention\", "
                        "\"calls\": 3, \"ns\": "));
  EXPECT_THAT(text, HasSubstr("{\"name\": \"k_cache.0\", \"kind\": "
                              "\"cache\", \"type\": \"f32\", \"shape\": "
                              "[16, 4]}"));
}

TEST_F(LlamaRunTest, ErrorsGoToStderrWithExitCode1) {
  Result result = llamaRun("logits --artifact " + dir.file("none.art") +
                               " --random-weights --tokens 1",
                           /*withStderr=*/true);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr("llama-run: error: " +
                                       dir.file("none.art") + ": cannot open"));
}

TEST_F(LlamaRunTest, WeightsAreRequired) {
  Result result = llamaRun("logits --artifact " + artifact + " --tokens 1",
                           /*withStderr=*/true);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(result.output, "llama-run: error: --weights: required (or "
                           "--random-weights)\n");
}

TEST_F(LlamaRunTest, UnknownFlag) {
  Result result = llamaRun("bench --bogus 3", /*withStderr=*/true);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(result.output, "llama-run: error: unknown flag '--bogus' (see "
                           "llama-run bench --help)\n");
}

TEST_F(LlamaRunTest, HelpListsEveryFlag) {
  Result result = llamaRun("generate --help");
  EXPECT_EQ(result.exitCode, 0);
  for (const char *flag :
       {"--artifact", "--weights", "--random-weights", "--weights-seed",
        "--threads", "--tokenizer", "--prompt", "--steps", "--temperature",
        "--top-p", "--seed", "--no-prefill"})
    EXPECT_THAT(result.output, HasSubstr(flag));
}

//===----------------------------------------------------------------------===//
// Cuda artifacts: FakeCudaDriver.cpp stands in for libcuda.so.1
//===----------------------------------------------------------------------===//

const std::string kFakeDriver =
    std::string("LLAMAC_LIBCUDA=") + LLAMAC_FAKE_LIBCUDA;

class LlamaRunCudaTest : public LlamaRunTest {
protected:
  void SetUp() override {
    LlamaRunTest::SetUp();
    cudaArtifact = dir.file("toy-cuda.art");
    ASSERT_TRUE(writeArtifact(cudaToyArtifact(), cudaArtifact).ok());
  }
  std::string cudaArtifact;
};

TEST_F(LlamaRunCudaTest, LogitsOnTheGpuMatchTheCpu) {
  Result result = llamaRun("logits --artifact " + cudaArtifact + " --weights " +
                               weights + " --tokens 1,5,2",
                           false, kFakeDriver);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.output, kThreeRows);
  result =
      llamaRun("logits --artifact " + cudaArtifact + " --weights " + weights +
                   " --tokens 1,5,2 --mode prefill --device cuda",
               false, kFakeDriver);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(result.output, kThreeRows);
}

TEST_F(LlamaRunCudaTest, BenchNamesTheBackend) {
  Result result = llamaRun("bench --artifact " + cudaArtifact +
                               " --random-weights --steps 4 --prompt-len 3",
                           false, "LLAMAC_FAKE_CUDA_SM=86 " + kFakeDriver);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output,
              HasSubstr("backend: cuda Fake GPU (sm_86, 4 SMs, driver 13.0), "
                        "cubin sm_80 (binary compatible with sm_86), repeated "
                        "calls replayed as CUDA graphs\n"));
  EXPECT_THAT(result.output, HasSubstr("decode: 4 tokens"));
  EXPECT_THAT(result.output, HasSubstr("layers.*.attention"));

  Result direct = llamaRun("bench --artifact " + cudaArtifact +
                               " --random-weights --steps 4 --prompt-len 0 "
                               "--no-cuda-graphs",
                           false, kFakeDriver);
  EXPECT_EQ(direct.exitCode, 0);
  EXPECT_THAT(direct.output, HasSubstr("launched one by one (graphs off)\n"));
  EXPECT_THAT(direct.output, HasSubstr("decode: 4 tokens"));
}

TEST_F(LlamaRunCudaTest, MissingDriverIsAClearError) {
  Result result = llamaRun("logits --artifact " + cudaArtifact +
                               " --random-weights --tokens 1",
                           true, "LLAMAC_LIBCUDA=/nonexistent");
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(
      result.output,
      testing::StartsWith("llama-run: error: " + cudaArtifact +
                          ": no CUDA driver: dlopen(/nonexistent) failed: "
                          "/nonexistent: cannot open shared object file"));
  EXPECT_THAT(result.output,
              HasSubstr("; install the NVIDIA driver, or run a cpu artifact "
                        "(llamac --target=cpu)\n"));
}

TEST_F(LlamaRunCudaTest, RealDriverLookupWithoutAGpu) {
  // What a user without the NVIDIA driver sees: the default soname.
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
    GTEST_SKIP() << "this machine has a CUDA driver";
  }
  Result result = llamaRun("generate --artifact " + cudaArtifact +
                               " --random-weights --tokenizer x.bin",
                           true, "env -u LLAMAC_LIBCUDA");
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output,
              HasSubstr("llama-run: error: " + cudaArtifact +
                        ": no CUDA driver: dlopen(libcuda.so.1) failed: "
                        "libcuda.so.1: cannot open shared object file: No "
                        "such file or directory; install the NVIDIA driver"));
}

TEST_F(LlamaRunCudaTest, NoGpu) {
  Result result = llamaRun("logits --artifact " + cudaArtifact +
                               " --random-weights --tokens 1",
                           true, "LLAMAC_FAKE_CUDA_DEVICES=0 " + kFakeDriver);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(result.output, "llama-run: error: " + cudaArtifact +
                               ": no GPU: the CUDA driver reports 0 devices\n");
}

TEST_F(LlamaRunCudaTest, DeviceFlag) {
  Result result = llamaRun("logits --artifact " + cudaArtifact +
                               " --random-weights --tokens 1 --device cpu",
                           true, kFakeDriver);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr("not for the cpu target"));
  result = llamaRun("logits --artifact " + artifact +
                        " --random-weights --tokens 1 --device gpu",
                    true);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(result.output, "llama-run: error: --device: 'gpu' is not cpu, "
                           "cuda or auto\n");
}

TEST_F(LlamaRunCudaTest, InfoShowsWhichBinaryTheGpuWouldRun) {
  Result result = llamaRun("info --artifact " + cudaArtifact, false,
                           "LLAMAC_FAKE_CUDA_SM=89 " + kFakeDriver);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output, HasSubstr("cuda  sm_80"));
  EXPECT_THAT(result.output,
              HasSubstr("this machine: Fake GPU (sm_89, 4 SMs, driver 13.0): "
                        "runs cubin sm_80 (binary compatible with sm_89)"));
  result = llamaRun("info --artifact " + cudaArtifact, false,
                    "LLAMAC_FAKE_CUDA_SM=75 " + kFakeDriver);
  EXPECT_THAT(result.output,
              HasSubstr("this machine: Fake GPU (sm_75, 4 SMs, driver 13.0): "
                        "no matching arch: the device is sm_75"));
  result = llamaRun("info --artifact " + cudaArtifact, false,
                    "LLAMAC_LIBCUDA=/nonexistent");
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output,
              HasSubstr("this machine: none runs (no CUDA driver: "
                        "dlopen(/nonexistent) failed"));
}

} // namespace
