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
Result llamaRun(const std::string &args, bool withStderr = false) {
  std::string command = std::string(LLAMA_RUN_PATH) + " " + args +
                        (withStderr ? " 2>&1" : " 2>/dev/null");
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

} // namespace
