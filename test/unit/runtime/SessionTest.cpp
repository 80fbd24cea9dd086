//===- SessionTest.cpp - Loading kernels and running entries --------------===//
//
// Runs the toy artifact of TestArtifacts.h: its kernels are a real shared
// object, loaded from memory, called through the kernel ABI.
//
//===----------------------------------------------------------------------===//

#include "runtime/Session.h"
#include "runtime/CpuKernels.h"
#include "runtime/Executor.h"

#include "TestArtifacts.h"
#include "TestAssets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dirent.h>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;
using namespace llamac::test;
using testing::HasSubstr;

namespace {

std::unique_ptr<Session> createToySession(ArtifactSpec spec) {
  MemoryWeights weights = toyWeights();
  SessionOptions options;
  options.origin = "m.art";
  StatusOr<std::unique_ptr<Session>> session =
      Session::create(std::move(spec), weights, options);
  EXPECT_TRUE(session.ok()) << session.message();
  return session.ok() ? std::move(session).value() : nullptr;
}

std::string createError(ArtifactSpec spec, WeightSource &weights) {
  SessionOptions options;
  options.origin = "m.art";
  StatusOr<std::unique_ptr<Session>> session =
      Session::create(std::move(spec), weights, options);
  EXPECT_FALSE(session.ok());
  return session.ok() ? "" : session.message();
}

std::string createError(ArtifactSpec spec) {
  MemoryWeights weights = toyWeights();
  return createError(std::move(spec), weights);
}

std::vector<float> row(const float *data) {
  return std::vector<float>(data, data + 4);
}

Status decodeToken(Session &session, int32_t token, int32_t position) {
  return session.run("decode", {{&token, sizeof(token)}}, position, 1);
}

TEST(SessionTest, DecodeMatchesTheReference) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {1, 5, 7, 0};
  std::vector<std::vector<float>> expected = toyReference(tokens);
  int decode = session->entryIndex("decode");
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    Status status = decodeToken(*session, tokens[pos], int32_t(pos));
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(row(session->lastTokenLogits(decode)), expected[pos]);
    EXPECT_EQ(session->outputShape(decode, 0), (std::vector<int64_t>{1, 1, 4}));
  }
}

TEST(SessionTest, PrefillMatchesDecode) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {3, 2, 6};
  Status status = session->run("prefill", {{tokens.data(), tokens.size() * 4}},
                               0, int64_t(tokens.size()));
  ASSERT_TRUE(status.ok()) << status.message();
  int prefill = session->entryIndex("prefill");
  EXPECT_EQ(session->outputShape(prefill, 0), (std::vector<int64_t>{1, 3, 4}));
  const float *logits = session->outputF32(prefill, 0);
  std::vector<std::vector<float>> expected = toyReference(tokens);
  for (size_t t = 0; t < tokens.size(); ++t)
    EXPECT_EQ(row(logits + 4 * t), expected[t]);
  EXPECT_EQ(row(session->lastTokenLogits(prefill)), expected.back());

  // Decode continues where prefill left the cache.
  ASSERT_TRUE(decodeToken(*session, 4, 3).ok());
  expected = toyReference({3, 2, 6, 4});
  EXPECT_EQ(row(session->lastTokenLogits(session->entryIndex("decode"))),
            expected.back());
}

TEST(SessionTest, ResetCachesStartsOver) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  ASSERT_TRUE(decodeToken(*session, 5, 0).ok());
  ASSERT_TRUE(decodeToken(*session, 6, 1).ok());
  session->resetCaches();
  // Position 1 after a reset sees a zero row 0.
  ASSERT_TRUE(decodeToken(*session, 6, 1).ok());
  std::vector<float> only6 = toyReference({6})[0];
  EXPECT_EQ(row(session->lastTokenLogits(session->entryIndex("decode"))),
            only6);
}

TEST(SessionTest, ProfilesEveryLaunch) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  session->setProfiling(true);
  ASSERT_TRUE(decodeToken(*session, 1, 0).ok());
  ASSERT_TRUE(decodeToken(*session, 2, 1).ok());
  const std::vector<KernelTime> &profile = session->profile();
  ASSERT_EQ(profile.size(), 4u);
  EXPECT_EQ(profile[0].calls, 2u); // embed
  EXPECT_EQ(profile[1].calls, 0u); // pack ran in "load", before profiling
  EXPECT_EQ(profile[2].calls, 2u);
  EXPECT_EQ(profile[3].calls, 2u);
  session->clearProfile();
  EXPECT_EQ(session->profile()[0].calls, 0u);
}

TEST(SessionTest, LeavesNoFilesBehind) {
  // The kernels are loaded from a memfd: nothing appears in $TMPDIR.
  ArtifactSpec spec = toyArtifact(); // compiled before TMPDIR moves
  TempDir dir;
  std::string previous = getenv("TMPDIR") ? getenv("TMPDIR") : "";
  setenv("TMPDIR", dir.path().c_str(), 1);
  std::unique_ptr<Session> session = createToySession(std::move(spec));
  if (previous.empty())
    unsetenv("TMPDIR");
  else
    setenv("TMPDIR", previous.c_str(), 1);
  ASSERT_TRUE(session);
  DIR *listing = opendir(dir.path().c_str());
  ASSERT_NE(listing, nullptr);
  int entries = 0;
  while (dirent *entry = readdir(listing))
    if (std::string(entry->d_name) != "." && std::string(entry->d_name) != "..")
      ++entries;
  closedir(listing);
  EXPECT_EQ(entries, 0);
}

TEST(SessionTest, TwoSessionsWithDifferentKernelsStayApart) {
  // glibc finds loaded libraries by path; two memfd-loaded binaries must
  // never be mistaken for each other.
  std::string doubled = toyKernelSource();
  doubled.replace(doubled.find("packed[j] = 2 * norm[j]"),
                  std::string("packed[j] = 2 * norm[j]").size(),
                  "packed[j] = 4 * norm[j]");
  std::unique_ptr<Session> first = createToySession(toyArtifact());
  std::unique_ptr<Session> second =
      createToySession(toyArtifact(compileSharedObject(doubled)));
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(decodeToken(*first, 0, 0).ok());
  ASSERT_TRUE(decodeToken(*second, 0, 0).ok());
  EXPECT_EQ(row(first->lastTokenLogits(first->entryIndex("decode"))),
            (std::vector<float>{2, 4.5f, 6, 9}));
  EXPECT_EQ(row(second->lastTokenLogits(second->entryIndex("decode"))),
            (std::vector<float>{4, 8.5f, 12, 17}));
  // Load again after the first is gone: still its own kernels.
  first.reset();
  std::unique_ptr<Session> third = createToySession(toyArtifact());
  ASSERT_TRUE(third);
  ASSERT_TRUE(decodeToken(*third, 0, 0).ok());
  EXPECT_EQ(row(third->lastTokenLogits(third->entryIndex("decode"))),
            (std::vector<float>{2, 4.5f, 6, 9}));
}

TEST(SessionTest, CpuExecutorCopiesWeightsOutAndIn) {
  MemoryWeights weights = toyWeights();
  ExecutorOptions options;
  options.origin = "m.art";
  options.device = Device::Cpu;
  StatusOr<std::unique_ptr<Executor>> created =
      createExecutor(toyArtifact(), weights, options);
  ASSERT_TRUE(created.ok()) << created.message();
  Executor &executor = **created;
  std::vector<float> norm(4);
  // Only the load entry reads the norm: freed once packed into 2 * norm.
  EXPECT_EQ(executor.copyPersistentOut(kNorm, norm.data(), 16).message(),
            "m.art: buffers[2] 'norm.weight': a weight only the load entry "
            "reads, freed once packed");
  // Embedding row 0 becomes (9, 9, 9, 9); decode adds the packed 2 * norm,
  // (2, 4, 6, 8).
  std::vector<float> table(32, 9);
  Status status = executor.copyPersistentIn(kEmbedding, table.data(), 128);
  ASSERT_TRUE(status.ok()) << status.message();
  int32_t token = 0;
  int decode = executor.entryIndex("decode");
  ASSERT_TRUE(executor.run(decode, {{&token, 4}}, 0, 1).ok());
  EXPECT_EQ(row(*executor.lastTokenLogits(decode)),
            (std::vector<float>{11, 13, 15, 17}));
  EXPECT_EQ(executor.copyPersistentOut(kCache, table.data(), 256).message(),
            "m.art: buffers[4] 'k_cache.0': cache, not a weight or state "
            "buffer; only those are copied to or from the host");
  EXPECT_EQ(executor.copyPersistentIn(kNorm, norm.data(), 12).message(),
            "m.art: buffers[2] 'norm.weight': 12 bytes given, but the buffer "
            "has 16 (f32 [4])");
}

TEST(SessionTest, PositionBeyondTheCache) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {1, 2, 3, 4};
  Status status = session->run("prefill", {{tokens.data(), 16}}, 14, 4);
  EXPECT_EQ(status.message(), "m.art: entry 'prefill': position 14 + 4 tokens "
                              "exceeds the KV cache capacity 16");
}

TEST(SessionTest, FixedSeqMismatch) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {1, 2};
  Status status = session->run("decode", {{tokens.data(), 8}}, 0, 2);
  EXPECT_EQ(status.message(), "m.art: entry 'decode': seq 2: the entry takes "
                              "exactly 1 tokens per call");
}

TEST(SessionTest, DynamicSeqOutOfRange) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  Status status = session->run("prefill", {{nullptr, 0}}, 0, 0);
  EXPECT_EQ(status.message(),
            "m.art: entry 'prefill': seq 0: must be between 1 and 16");
}

TEST(SessionTest, InputOfTheWrongSize) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {1, 2, 3};
  Status status = session->run("prefill", {{tokens.data(), 12}}, 0, 2);
  EXPECT_EQ(status.message(), "m.art: entry 'prefill': input 0 'tokens': got "
                              "12 bytes, expected 8 (i32 [1, 2])");
}

TEST(SessionTest, TokenOutsideTheVocabulary) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  Status status = decodeToken(*session, 8, 0);
  EXPECT_EQ(status.message(), "m.art: entry 'decode': input 0 'tokens': token "
                              "id 8 at index 0 is outside the vocabulary of 8");
}

TEST(SessionTest, UnknownEntry) {
  std::unique_ptr<Session> session = createToySession(toyArtifact());
  ASSERT_TRUE(session);
  EXPECT_EQ(session->run("forward_loss", {}, 0, 1).message(),
            "m.art: entry 'forward_loss': not in the artifact");
}

TEST(SessionTest, NoCpuBinary) {
  ArtifactSpec spec = toyArtifact({1});
  spec.binaries = {{"cuda", "sm_80", "cubin", {1}},
                   {"cuda", "sm_90", "cubin", {1}},
                   {"cuda", "compute_90", "ptx", {1}}};
  EXPECT_EQ(createError(spec),
            "m.art: compiled for cuda (sm_80, sm_90, ptx), not for the cpu "
            "target; recompile with --target=cpu");
}

TEST(SessionTest, UnknownCpuArch) {
  ArtifactSpec spec = toyArtifact();
  spec.binaries[0].arch = "pentium-mmx";
  EXPECT_THAT(createError(spec),
              HasSubstr("m.art: the cpu binary for pentium-mmx is not an arch "
                        "this runtime knows"));
}

TEST(SessionTest, BinaryThatIsNotElf) {
  ArtifactSpec spec = toyArtifact({'n', 'o', 'p', 'e'});
  EXPECT_EQ(createError(spec), "m.art: cpu binary: data is not an ELF file");
}

TEST(SessionTest, MissingKernelSymbol) {
  ArtifactSpec spec = toyArtifact();
  spec.kernels[3].symbol = "k3_fused_matmul";
  EXPECT_EQ(createError(spec), "m.art: kernel 3 'k3_fused_matmul': symbol not "
                               "found in the cpu binary");
}

TEST(SessionTest, KernelAbiVersionMismatch) {
  ArtifactSpec spec = toyArtifact(compileSharedObject(toyKernelSource(1)));
  EXPECT_THAT(createError(spec),
              HasSubstr("m.art: cpu binary: kernel ABI version 1, but this "
                        "runtime calls 2"));
}

TEST(SessionTest, MissingAbiVersionSymbol) {
  std::string source = toyKernelSource();
  size_t at = source.find("extern \"C\" const int llama_kernel_abi_version");
  source.replace(at, 6, "static");
  source.replace(source.find("static \"C\" "), 11, "static ");
  ArtifactSpec spec = toyArtifact(compileSharedObject(source));
  EXPECT_THAT(createError(spec),
              HasSubstr("m.art: cpu binary: symbol llama_kernel_abi_version "
                        "not found"));
}

TEST(SessionTest, WeightShapeMismatch) {
  MemoryWeights weights = toyWeights();
  weights.tensors["tok_embeddings.weight"].first = {4, 8};
  EXPECT_EQ(createError(toyArtifact(), weights),
            "memory: tok_embeddings.weight: shape [8, 4] expected by the "
            "artifact, found [4, 8]");
}

TEST(SessionTest, MissingWeight) {
  MemoryWeights weights = toyWeights();
  weights.tensors.erase("norm.weight");
  EXPECT_EQ(createError(toyArtifact(), weights),
            "memory: norm.weight: not found (the artifact needs it)");
}

} // namespace
