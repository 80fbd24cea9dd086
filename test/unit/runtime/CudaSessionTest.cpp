//===- CudaSessionTest.cpp - The cuda executor, without a GPU -------------===//
//
// Runs the toy artifact of TestArtifacts.h as a cuda artifact through
// FakeCudaDriver.cpp (LLAMAC_LIBCUDA): the driver calls are real calls
// through the dlopen'ed table, "device memory" is host memory and a launch
// runs the cpu-ABI toy kernel once. What needs a real GPU (the generated
// CUDA kernels themselves) is covered by test/gpu/check.sh.
//
//===----------------------------------------------------------------------===//

#include "runtime/CudaSession.h"
#include "runtime/ArtifactLayout.h"
#include "runtime/CudaDevice.h"
#include "runtime/Executor.h"

#include "TestArtifacts.h"
#include "TestAssets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <dlfcn.h>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;
using namespace llamac::test;
using testing::HasSubstr;
using testing::StartsWith;

namespace {

/// Sets an environment variable for the life of the object.
/// The fake driver's counters, read through its own exports.
struct FakeDriver {
  FakeDriver() {
    handle = dlopen(LLAMAC_FAKE_LIBCUDA, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle, nullptr) << dlerror();
  }
  ~FakeDriver() {
    if (handle)
      dlclose(handle);
  }
  int counter(const char *name) const {
    auto function = reinterpret_cast<int (*)()>(dlsym(handle, name));
    return function ? function() : -1;
  }
  void lastLaunch(unsigned geometry[7], LlamaKernelContext *context) const {
    auto function =
        reinterpret_cast<void (*)(unsigned *, LlamaKernelContext *)>(
            dlsym(handle, "llamacFakeCudaLastLaunch"));
    function(geometry, context);
  }
  /// The last launch's cluster shape, {1, 1, 1} without clusters.
  std::vector<unsigned> lastCluster() const {
    auto function = reinterpret_cast<void (*)(unsigned *)>(
        dlsym(handle, "llamacFakeCudaLastCluster"));
    unsigned cluster[3] = {0, 0, 0};
    function(cluster);
    return {cluster[0], cluster[1], cluster[2]};
  }
  void *handle = nullptr;
};

class CudaSessionTest : public testing::Test {
protected:
  std::unique_ptr<CudaSession> create(ArtifactSpec spec, bool graphs = true,
                                      bool programmatic = true,
                                      CudaCode code = CudaCode::Binary) {
    MemoryWeights weights = toyWeights();
    CudaSessionOptions options;
    options.origin = "m.art";
    options.graphs = graphs;
    options.programmaticLaunch = programmatic;
    options.code = code;
    StatusOr<std::unique_ptr<CudaSession>> session =
        CudaSession::create(std::move(spec), weights, options);
    EXPECT_TRUE(session.ok()) << session.message();
    return session.ok() ? std::move(session).value() : nullptr;
  }

  std::string createError(ArtifactSpec spec) {
    MemoryWeights weights = toyWeights();
    CudaSessionOptions options;
    options.origin = "m.art";
    StatusOr<std::unique_ptr<CudaSession>> session =
        CudaSession::create(std::move(spec), weights, options);
    EXPECT_FALSE(session.ok());
    return session.ok() ? "" : session.message();
  }

  ScopedEnv library{kLibcudaEnvVar, LLAMAC_FAKE_LIBCUDA};
  ScopedEnv devices{"LLAMAC_FAKE_CUDA_DEVICES", nullptr};
  ScopedEnv sm{"LLAMAC_FAKE_CUDA_SM", nullptr};
  FakeDriver fake;
};

std::vector<float> row(const float *data) {
  return std::vector<float>(data, data + 4);
}

TEST_F(CudaSessionTest, DecodeMatchesTheReference) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {1, 5, 7, 0};
  std::vector<std::vector<float>> expected = toyReference(tokens);
  int decode = session->entryIndex("decode");
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    int32_t token = tokens[pos];
    Status status =
        session->run(decode, {{&token, sizeof(token)}}, int32_t(pos), 1);
    ASSERT_TRUE(status.ok()) << status.message();
    StatusOr<const float *> logits = session->lastTokenLogits(decode);
    ASSERT_TRUE(logits.ok()) << logits.message();
    EXPECT_EQ(row(*logits), expected[pos]) << "position " << pos;
  }
}

TEST_F(CudaSessionTest, PrefillMatchesTheReferenceAndDecodeContinuesIt) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  std::vector<int32_t> tokens = {3, 2, 6};
  int prefill = session->entryIndex("prefill");
  ASSERT_TRUE(session->run(prefill, {{tokens.data(), 12}}, 0, 3).ok());
  EXPECT_EQ(session->outputShape(prefill, 0), (std::vector<int64_t>{1, 3, 4}));
  StatusOr<const float *> all = session->outputF32(prefill, 0);
  ASSERT_TRUE(all.ok()) << all.message();
  std::vector<std::vector<float>> expected = toyReference({3, 2, 6, 4});
  for (int t = 0; t < 3; ++t)
    EXPECT_EQ(row(*all + 4 * t), expected[size_t(t)]) << "row " << t;
  StatusOr<const float *> last = session->lastTokenLogits(prefill);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(row(*last), expected[2]);

  // The cache the prefill wrote is on the device, where decode reads it.
  int decode = session->entryIndex("decode");
  int32_t token = 4;
  ASSERT_TRUE(session->run(decode, {{&token, 4}}, 3, 1).ok());
  EXPECT_EQ(row(*session->lastTokenLogits(decode)), expected[3]);
}

TEST_F(CudaSessionTest, ResetCachesStartsOver) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  int decode = session->entryIndex("decode");
  int32_t token = 5;
  ASSERT_TRUE(session->run(decode, {{&token, 4}}, 0, 1).ok());
  std::vector<float> first = row(*session->lastTokenLogits(decode));
  ASSERT_TRUE(session->run(decode, {{&token, 4}}, 1, 1).ok());
  ASSERT_TRUE(session->resetCaches().ok());
  // Position 1 after a reset sees a zero row 0 in the cache.
  ASSERT_TRUE(session->run(decode, {{&token, 4}}, 0, 1).ok());
  EXPECT_EQ(row(*session->lastTokenLogits(decode)), first);
}

TEST_F(CudaSessionTest, GridFollowsTheLaunchGeometry) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  int prefill = session->entryIndex("prefill");
  // Stop after k_embed: its grid is {1 + ceil(rows / 2), 2, 1}.
  ArtifactSpec onlyEmbed = cudaToyArtifact();
  onlyEmbed.entries[kPrefillEntry].launches.resize(1);
  onlyEmbed.entries[kPrefillEntry].outputs = {kPrefillX};
  std::unique_ptr<CudaSession> embed = create(onlyEmbed);
  ASSERT_TRUE(embed);
  unsigned geometry[7];
  LlamaKernelContext context;
  for (int64_t seq : {1, 2, 3, 16}) {
    std::vector<int32_t> tokens(size_t(seq), 1);
    ASSERT_TRUE(
        embed->run(prefill, {{tokens.data(), tokens.size() * 4}}, 0, seq).ok());
    fake.lastLaunch(geometry, &context);
    EXPECT_EQ(geometry[0], unsigned(1 + (seq + 1) / 2)) << "seq " << seq;
    EXPECT_EQ(geometry[1], 2u);
    EXPECT_EQ(geometry[2], 1u);
    EXPECT_EQ(geometry[3], 32u);
    EXPECT_EQ(geometry[4], 4u);
    EXPECT_EQ(geometry[5], 1u);
    EXPECT_EQ(geometry[6], 256u);
    EXPECT_EQ(context.seq, seq);
    EXPECT_EQ(context.batch, 1);
  }
  // A kernel without a geometry launches one block of one thread.
  int32_t token = 2;
  ASSERT_TRUE(
      session->run(session->entryIndex("decode"), {{&token, 4}}, 7, 1).ok());
  fake.lastLaunch(geometry, &context);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(geometry[i], 1u) << i;
  EXPECT_EQ(geometry[6], 0u);
  EXPECT_EQ(context.position, 7);
}

/// The toy artifact with only k_embed in prefill (so that it is the last
/// launch), made persistent: its tiles are {1 + ceil(rows / 2), 2, 1}.
ArtifactSpec persistentEmbedArtifact(ArtifactSpec spec = cudaToyArtifact()) {
  spec.entries[kPrefillEntry].launches.resize(1);
  spec.entries[kPrefillEntry].outputs = {kPrefillX};
  spec.kernels[0].geometry.persistentBlocksPerSm = 2;
  return spec;
}

/// Runs a prefill of `seq` tokens; returns the last launch's grid and block.
std::vector<unsigned> launchedGeometry(CudaSession &session, FakeDriver &fake,
                                       int seq) {
  std::vector<int32_t> tokens(size_t(seq), 1);
  EXPECT_TRUE(session
                  .run(session.entryIndex("prefill"),
                       {{tokens.data(), tokens.size() * 4}}, 0, seq)
                  .ok());
  unsigned geometry[7];
  LlamaKernelContext context;
  fake.lastLaunch(geometry, &context);
  return std::vector<unsigned>(geometry, geometry + 6);
}

/// A persistent kernel's blocks walk its grid of tiles themselves: it is
/// launched in x with as many blocks as the device's SMs hold (the fake
/// driver reports 4 SMs), or fewer where there are fewer tiles.
TEST_F(CudaSessionTest, PersistentKernelsLaunchOnlyTheBlocksThatFit) {
  std::unique_ptr<CudaSession> embed = create(persistentEmbedArtifact());
  ASSERT_TRUE(embed);
  for (auto [seq, blocks] : {std::pair{1, 4}, {3, 6}, {5, 8}, {16, 8}})
    EXPECT_EQ(launchedGeometry(*embed, fake, seq),
              (std::vector<unsigned>{unsigned(blocks), 1, 1, 32, 4, 1}))
        << "seq " << seq;
}

/// LLAMAC_CUDA_PERSISTENT_BLOCKS caps a persistent kernel's blocks below
/// what the SMs hold, so that each walks several tiles on any GPU; a value
/// that is not a positive number refuses the session.
TEST_F(CudaSessionTest, PersistentBlocksCanBeCappedForTests) {
  {
    ScopedEnv cap("LLAMAC_CUDA_PERSISTENT_BLOCKS", "3");
    std::unique_ptr<CudaSession> embed = create(persistentEmbedArtifact());
    ASSERT_TRUE(embed);
    EXPECT_EQ(launchedGeometry(*embed, fake, 16),
              (std::vector<unsigned>{3, 1, 1, 32, 4, 1}));
  }
  for (const char *bad : {"0", "-2", "two", "3x"}) {
    ScopedEnv cap("LLAMAC_CUDA_PERSISTENT_BLOCKS", bad);
    MemoryWeights weights = toyWeights();
    CudaSessionOptions options;
    options.origin = "m.art";
    StatusOr<std::unique_ptr<CudaSession>> session =
        CudaSession::create(persistentEmbedArtifact(), weights, options);
    ASSERT_FALSE(session.ok()) << bad;
    EXPECT_EQ(session.message(), std::string("LLAMAC_CUDA_PERSISTENT_BLOCKS=") +
                                     bad +
                                     ": expected a positive number of blocks");
  }
}

/// A persistent kernel whose geometry asks for clusters is launched in them
/// on sm_90 and later (through cuLaunchKernelEx), with a grid of whole
/// clusters: as many as the SMs hold (the fake driver has 4 SMs and no
/// cuOccupancyMaxActiveClusters, so 4 * 2 / 2 clusters of 2) or as the
/// tiles need, and a cap of LLAMAC_CUDA_PERSISTENT_BLOCKS rounded up to a
/// whole cluster. Not before sm_90, nor with CudaSessionOptions::clusters
/// off (llama-run --no-clusters).
TEST_F(CudaSessionTest, ClusteredKernelsLaunchWholeClustersOnHopper) {
  ArtifactSpec clustered = persistentEmbedArtifact(cudaToyArtifact(
      {toyCudaBinary("sm_80", "cubin"), toyCudaBinary("sm_90", "cubin")}));
  clustered.kernels[0].geometry.clusterBlocks = 2;
  auto open = [&](bool clusters) {
    MemoryWeights weights = toyWeights();
    CudaSessionOptions options;
    options.origin = "m.art";
    options.clusters = clusters;
    StatusOr<std::unique_ptr<CudaSession>> session =
        CudaSession::create(clustered, weights, options);
    EXPECT_TRUE(session.ok()) << session.message();
    return session.ok() ? std::move(session).value() : nullptr;
  };
  {
    ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
    std::unique_ptr<CudaSession> hopper = open(true);
    ASSERT_TRUE(hopper);
    EXPECT_THAT(hopper->describe(),
                testing::EndsWith(", 1 kernel(s) launched in clusters that "
                                  "share tiles"));
    int before = fake.counter("llamacFakeCudaClusterLaunches");
    // Tiles {1 + ceil(seq / 2), 2, 1}: 4, 6, 8 and 18 of them.
    for (auto [seq, blocks] : {std::pair{1, 4}, {3, 6}, {5, 8}, {16, 8}})
      EXPECT_EQ(launchedGeometry(*hopper, fake, seq),
                (std::vector<unsigned>{unsigned(blocks), 1, 1, 32, 4, 1}))
          << "seq " << seq;
    EXPECT_EQ(fake.counter("llamacFakeCudaClusterLaunches") - before, 4);
    EXPECT_EQ(fake.lastCluster(), (std::vector<unsigned>{2, 1, 1}));
  }
  for (auto [cap, blocks] : {std::pair{"3", 2}, {"1", 2}, {"5", 4}}) {
    ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
    ScopedEnv capped("LLAMAC_CUDA_PERSISTENT_BLOCKS", cap);
    std::unique_ptr<CudaSession> hopper = open(true);
    ASSERT_TRUE(hopper);
    EXPECT_EQ(launchedGeometry(*hopper, fake, 16),
              (std::vector<unsigned>{unsigned(blocks), 1, 1, 32, 4, 1}))
        << "cap " << cap;
  }
  int before = fake.counter("llamacFakeCudaClusterLaunches");
  for (auto [sm, clusters] : {std::pair{"86", true}, {"90", false}}) {
    ScopedEnv gpu("LLAMAC_FAKE_CUDA_SM", sm);
    std::unique_ptr<CudaSession> plain = open(clusters);
    ASSERT_TRUE(plain);
    EXPECT_THAT(plain->describe(),
                testing::Not(testing::HasSubstr("clusters")));
    // Without clusters, blocks as the SMs hold: the persistent grid.
    EXPECT_EQ(launchedGeometry(*plain, fake, 3),
              (std::vector<unsigned>{6, 1, 1, 32, 4, 1}));
    EXPECT_EQ(fake.lastCluster(), (std::vector<unsigned>{1, 1, 1}));
  }
  EXPECT_EQ(fake.counter("llamacFakeCudaClusterLaunches"), before);
}

/// A binary that runs the wgmma variants (sm_90a code) launches the kernels
/// that have a wgmma geometry with it, opting in to its shared memory; other
/// binaries, and kernels without one, launch with the geometry.
TEST_F(CudaSessionTest, WgmmaBinariesLaunchWithTheWgmmaGeometry) {
  ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
  // Only k_embed, so that it is the last launch.
  auto artifact = [](bool wgmmaBinary) {
    ArtifactSpec spec = cudaToyArtifact({toyCudaBinary(
        "sm_90a", "cubin", LLAMA_KERNEL_ABI_VERSION, false, wgmmaBinary)});
    spec.entries[kPrefillEntry].launches.resize(1);
    spec.entries[kPrefillEntry].outputs = {kPrefillX};
    spec.kernels[0].wgmmaGeometry =
        LaunchGeometry{{3, 1, 1}, {4, 0, 0}, {64, 2, 1}, 193 * 1024};
    return spec;
  };
  for (bool wgmmaBinary : {true, false}) {
    std::unique_ptr<CudaSession> session = create(artifact(wgmmaBinary));
    ASSERT_TRUE(session);
    std::vector<int32_t> tokens(9, 1);
    ASSERT_TRUE(session
                    ->run(session->entryIndex("prefill"),
                          {{tokens.data(), tokens.size() * 4}}, 0, 9)
                    .ok());
    unsigned geometry[7];
    LlamaKernelContext context;
    fake.lastLaunch(geometry, &context);
    std::vector<unsigned> launched(geometry, geometry + 7);
    if (wgmmaBinary)
      EXPECT_EQ(launched,
                (std::vector<unsigned>{3 + 3, 1, 1, 64, 2, 1, 193 * 1024}));
    else
      EXPECT_EQ(launched, (std::vector<unsigned>{1 + 5, 2, 1, 32, 4, 1, 256}));
  }
}

/// --portable-kernels: the kernels it names run the artifact's PTX, with
/// their portable geometry, beside an sm_90a cubin's wgmma kernels; since
/// this PTX's kernels do not wait for the previous one, nothing is launched
/// while another drains. A word in no kernel's name, and a binary without
/// wgmma kernels, are refused.
TEST_F(CudaSessionTest, PortableKernelsRunThePtxBesideTheWgmmaCubin) {
  ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
  // Only k_embed, so that it is the last launch.
  auto artifact = [](bool wgmmaBinary) {
    ArtifactSpec spec = cudaToyArtifact(
        {toyCudaBinary("sm_90a", "cubin", LLAMA_KERNEL_ABI_VERSION, true,
                       wgmmaBinary),
         toyCudaBinary("compute_80", "ptx")});
    spec.entries[kPrefillEntry].launches.resize(1);
    spec.entries[kPrefillEntry].outputs = {kPrefillX};
    spec.kernels[0].wgmmaGeometry =
        LaunchGeometry{{3, 1, 1}, {4, 0, 0}, {64, 2, 1}, 193 * 1024};
    return spec;
  };
  // Both before any session: writing the toy PTX's shared object again
  // would overwrite a loaded one.
  const ArtifactSpec wgmmaSpec = artifact(true), plainSpec = artifact(false);
  auto open = [&](ArtifactSpec spec, std::vector<std::string> portable) {
    MemoryWeights weights = toyWeights();
    CudaSessionOptions options;
    options.origin = "m.art";
    options.portableKernels = std::move(portable);
    return CudaSession::create(std::move(spec), weights, options);
  };

  const int jitLoads = fake.counter("llamacFakeCudaJitLoads");
  StatusOr<std::unique_ptr<CudaSession>> session = open(wgmmaSpec, {"embed"});
  ASSERT_TRUE(session.ok()) << session.message();
  EXPECT_EQ(fake.counter("llamacFakeCudaJitLoads"), jitLoads + 1);
  const std::string described = (*session)->describe();
  EXPECT_THAT(described, HasSubstr("cubin sm_90a"));
  EXPECT_THAT(described, HasSubstr("compute_80"));
  EXPECT_THAT(described, HasSubstr("for 1 kernel(s) (--portable-kernels)"));
  EXPECT_THAT(described,
              testing::Not(HasSubstr("programmatic dependent launch")));
  std::vector<int32_t> tokens(9, 1);
  ASSERT_TRUE((*session)
                  ->run((*session)->entryIndex("prefill"),
                        {{tokens.data(), tokens.size() * 4}}, 0, 9)
                  .ok());
  unsigned geometry[7];
  LlamaKernelContext context;
  fake.lastLaunch(geometry, &context);
  EXPECT_EQ(std::vector<unsigned>(geometry, geometry + 7),
            (std::vector<unsigned>{1 + 5, 2, 1, 32, 4, 1, 256}));

  StatusOr<std::unique_ptr<CudaSession>> typo =
      open(wgmmaSpec, {"embed", "atention"});
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.message(),
            "m.art: --portable-kernels: no kernel's name contains 'atention' "
            "(its kernels: k_embed, k_pack, k_add, k_accumulate)");
  StatusOr<std::unique_ptr<CudaSession>> plain = open(plainSpec, {"embed"});
  ASSERT_FALSE(plain.ok());
  EXPECT_THAT(plain.message(),
              HasSubstr("--portable-kernels: this binary runs no sm_90a "
                        "(wgmma) kernels, so every kernel already runs its "
                        "portable code"));
}

/// A kernel that needs more than 48 KiB of shared memory opts in when it is
/// loaded (the fake driver, like a GPU, fails its launch otherwise), and a
/// GPU with less than it needs refuses the artifact, naming the kernel.
TEST_F(CudaSessionTest, LargeSharedMemoryIsOptedIntoAtLoad) {
  // Only k_embed, so that it is the last launch.
  ArtifactSpec spec = cudaToyArtifact();
  spec.kernels[0].geometry.sharedBytes = 99 * 1024;
  spec.entries[kPrefillEntry].launches.resize(1);
  spec.entries[kPrefillEntry].outputs = {kPrefillX};
  {
    std::unique_ptr<CudaSession> session = create(spec);
    ASSERT_TRUE(session);
    std::vector<int32_t> tokens = {1, 5};
    ASSERT_TRUE(session
                    ->run(session->entryIndex("prefill"),
                          {{tokens.data(), tokens.size() * 4}}, 0, 2)
                    .ok());
    unsigned geometry[7];
    LlamaKernelContext context;
    fake.lastLaunch(geometry, &context);
    EXPECT_EQ(geometry[6], 99u * 1024);
  }
  ScopedEnv optIn{"LLAMAC_FAKE_CUDA_SHARED_OPTIN", "65536"};
  EXPECT_THAT(createError(spec),
              HasSubstr("m.art: kernel 0 '" + spec.kernels[0].symbol +
                        "' needs 101376 bytes of shared memory per block, but "
                        "this sm_80 GPU allows 65536; recompile the model for "
                        "this GPU's arch"));
}

/// A block larger than the driver allows a function (launch bounds, or
/// registers) would fail every launch; the artifact is refused at load,
/// naming the kernel.
TEST_F(CudaSessionTest, BlocksLargerThanTheDriverAllowsAreRefusedAtLoad) {
  ArtifactSpec spec = cudaToyArtifact();
  spec.kernels[0].geometry.block[0] = 256;
  spec.kernels[0].geometry.block[1] = 2;
  ASSERT_TRUE(create(spec));
  ScopedEnv limit{"LLAMAC_FAKE_CUDA_MAX_THREADS", "384"};
  EXPECT_THAT(createError(spec),
              HasSubstr("m.art: kernel 0 '" + spec.kernels[0].symbol +
                        "' launches blocks of 512 threads, but the driver "
                        "runs it with at most 384 on this GPU"));
}

/// A model that does not fit the GPU is refused before any allocation,
/// with all it needs; one that runs out of memory anyway (another process
/// took it meanwhile) says the same after the buffer that failed.
TEST_F(CudaSessionTest, AModelLargerThanTheGpuIsRefusedWithItsNeeds) {
  ArtifactSpec spec = cudaToyArtifact();
  const std::string need =
      memoryPlan(spec, bufferUses(spec)).describe() + " of GPU memory";
  EXPECT_THAT(need, HasSubstr("(weights "));
  {
    ScopedEnv memory{"LLAMAC_FAKE_CUDA_MEMORY", "1024"};
    EXPECT_THAT(createError(spec),
                HasSubstr("m.art: the session needs " + need +
                          ", but the GPU has 1.00 KiB free of 1.00 KiB; "
                          "compile a smaller model"));
    ScopedEnv reported{"LLAMAC_FAKE_CUDA_REPORTED_FREE", "1000000000"};
    std::string error = createError(spec);
    EXPECT_THAT(error, HasSubstr("CUDA_ERROR_OUT_OF_MEMORY"));
    EXPECT_THAT(error, HasSubstr("; the session needs " + need + " in all"));
  }
  EXPECT_EQ(fake.counter("llamacFakeCudaLiveAllocations"), 0);
  EXPECT_TRUE(create(spec));
}

TEST_F(CudaSessionTest, EveryLaunchIsCountedAndNothingLeaks) {
  int before = fake.counter("llamacFakeCudaLaunches");
  {
    std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
    ASSERT_TRUE(session);
    // The load entry ran once at creation.
    EXPECT_EQ(fake.counter("llamacFakeCudaLaunches"), before + 1);
    int32_t token = 1;
    ASSERT_TRUE(
        session->run(session->entryIndex("decode"), {{&token, 4}}, 0, 1).ok());
    EXPECT_EQ(fake.counter("llamacFakeCudaLaunches"), before + 4);
    EXPECT_GT(fake.counter("llamacFakeCudaLiveAllocations"), 0);
    EXPECT_EQ(fake.counter("llamacFakeCudaRetainedContexts"), 1);
  }
  EXPECT_EQ(fake.counter("llamacFakeCudaLiveAllocations"), 0);
  EXPECT_EQ(fake.counter("llamacFakeCudaRetainedContexts"), 0);
}

TEST_F(CudaSessionTest, ALaunchOfManyBuffersReadsThemFromATable) {
  {
    std::unique_ptr<CudaSession> session = create(tableCudaToyArtifact());
    ASSERT_TRUE(session);
    int table = session->entryIndex("table");
    const std::vector<float> expected = {2, 0.5f, 4, 0, 2, 0.5f, 4, 0,
                                         2, 0.5f, 4, 0, 2, 1,    0, 0};
    // Launched directly, then captured into a graph and launched from it,
    // then replayed: the table written at creation serves all three.
    for (int call = 0; call < 3; ++call) {
      ASSERT_TRUE(session->run(table, {}, 0, 1).ok());
      StatusOr<const float *> out = session->outputF32(table, 0);
      ASSERT_TRUE(out.ok()) << out.message();
      EXPECT_EQ(std::vector<float>(*out, *out + 16), expected)
          << "call " << call;
    }
    EXPECT_EQ(session->graphsCaptured(), 1);
    EXPECT_EQ(session->graphLaunches(), 2);
  }
  // The table is freed with the session.
  EXPECT_EQ(fake.counter("llamacFakeCudaLiveAllocations"), 0);
}

TEST_F(CudaSessionTest, PersistentBuffersAreCopiedOutAndIn) {
  std::unique_ptr<CudaSession> session = create(tableCudaToyArtifact());
  ASSERT_TRUE(session);
  std::vector<float> norm(4);
  Status status = session->copyPersistentOut(kNorm, norm.data(), 16);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(norm, (std::vector<float>{1, 2, 3, 4}));
  // State starts zeroed, and what is copied in is what kernels read.
  std::vector<float> moment(4, -1);
  ASSERT_TRUE(session->copyPersistentOut(kNormMoment, moment.data(), 16).ok());
  EXPECT_EQ(moment, (std::vector<float>{0, 0, 0, 0}));
  const std::vector<float> written = {5, 6, 7, 8};
  status = session->copyPersistentIn(kNormMoment, written.data(), 16);
  ASSERT_TRUE(status.ok()) << status.message();
  int table = session->entryIndex("table");
  ASSERT_TRUE(session->run(table, {}, 0, 1).ok());
  EXPECT_EQ((*session->outputF32(table, 0))[3], 6);
  ASSERT_TRUE(session->copyPersistentOut(kNormMoment, moment.data(), 16).ok());
  EXPECT_EQ(moment, written);
}

TEST_F(CudaSessionTest, OnlyWholeWeightAndStateBuffersAreCopied) {
  std::unique_ptr<CudaSession> session = create(tableCudaToyArtifact());
  ASSERT_TRUE(session);
  float data[4];
  EXPECT_EQ(session->copyPersistentOut(kPacked, data, 16).message(),
            "m.art: buffers[3] 'norm.packed': packed, not a weight or state "
            "buffer; only those are copied to or from the host");
  EXPECT_EQ(session->copyPersistentIn(kNormMoment, data, 8).message(),
            "m.art: buffers[11] 'adamw.m.norm.weight': 8 bytes given, but "
            "the buffer has 16 (f32 [4])");
  EXPECT_EQ(session->copyPersistentOut(99, data, 16).message(),
            "m.art: buffer id 99 out of range (the artifact has 13 buffers)");
}

TEST_F(CudaSessionTest, ProfileCountsEveryKernel) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  session->setProfiling(true);
  int32_t token = 1;
  for (int32_t pos = 0; pos < 3; ++pos)
    ASSERT_TRUE(
        session->run(session->entryIndex("decode"), {{&token, 4}}, pos, 1)
            .ok());
  const std::vector<KernelTime> &profile = session->profile();
  ASSERT_EQ(profile.size(), 4u);
  EXPECT_EQ(profile[0].calls, 3u);
  EXPECT_EQ(profile[1].calls, 0u); // k_pack runs in "load", before profiling.
  EXPECT_EQ(profile[2].calls, 3u);
  EXPECT_EQ(profile[3].calls, 3u);
  session->clearProfile();
  EXPECT_EQ(session->profile()[0].calls, 0u);
}

/// Decodes `tokens` from position 0, checking every token's logits.
void decodeAndCheck(CudaSession &session, const std::vector<int32_t> &tokens) {
  std::vector<std::vector<float>> expected = toyReference(tokens);
  int decode = session.entryIndex("decode");
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    int32_t token = tokens[pos];
    Status status =
        session.run(decode, {{&token, sizeof(token)}}, int32_t(pos), 1);
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(row(*session.lastTokenLogits(decode)), expected[pos])
        << "position " << pos;
  }
}

TEST_F(CudaSessionTest, RepeatedDecodeIsCapturedOnceAndReplayed) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  int captures = fake.counter("llamacFakeCudaGraphCaptures");
  int replays = fake.counter("llamacFakeCudaGraphLaunches");
  // The first call launches directly; the second, with the same seq,
  // captures; every later one replays the graph at its own position.
  decodeAndCheck(*session, {1, 5, 7, 0, 3});
  EXPECT_EQ(session->graphsCaptured(), 1);
  EXPECT_EQ(session->graphLaunches(), 4);
  EXPECT_EQ(fake.counter("llamacFakeCudaGraphCaptures"), captures + 1);
  EXPECT_EQ(fake.counter("llamacFakeCudaGraphLaunches"), replays + 4);
  unsigned geometry[7];
  LlamaKernelContext context;
  fake.lastLaunch(geometry, &context);
  EXPECT_EQ(context.position, 4);
}

TEST_F(CudaSessionTest, PrefillOfChangingLengthsIsNeverCaptured) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  int prefill = session->entryIndex("prefill");
  std::vector<int32_t> tokens = {3, 2, 6, 4};
  for (int64_t seq : {4, 2, 3}) {
    ASSERT_TRUE(session->resetCaches().ok());
    ASSERT_TRUE(session->run(prefill, {{tokens.data(), size_t(seq) * 4}}, 0,
                             seq)
                    .ok());
  }
  EXPECT_EQ(session->graphsCaptured(), 0);
  // A repeated length is captured, and a new one launches directly again.
  ASSERT_TRUE(session->run(prefill, {{tokens.data(), 12}}, 0, 3).ok());
  ASSERT_TRUE(session->run(prefill, {{tokens.data(), 8}}, 0, 2).ok());
  EXPECT_EQ(session->graphsCaptured(), 1);
  EXPECT_EQ(session->graphLaunches(), 1);
  std::vector<std::vector<float>> expected = toyReference({3, 2});
  EXPECT_EQ(row(*session->lastTokenLogits(prefill)), expected[1]);
}

TEST_F(CudaSessionTest, GraphsOffAndProfilingLaunchDirectly) {
  std::unique_ptr<CudaSession> off = create(cudaToyArtifact(), false);
  ASSERT_TRUE(off);
  decodeAndCheck(*off, {1, 5, 7});
  EXPECT_EQ(off->graphsCaptured(), 0);
  std::unique_ptr<CudaSession> profiled = create(cudaToyArtifact());
  ASSERT_TRUE(profiled);
  profiled->setProfiling(true);
  decodeAndCheck(*profiled, {1, 5, 7});
  EXPECT_EQ(profiled->graphsCaptured(), 0);
  EXPECT_EQ(profiled->profile()[0].calls, 3u);
}

TEST_F(CudaSessionTest, FailedCaptureNamesTheCallAndTheWayAround) {
  ScopedEnv capture("LLAMAC_FAKE_CUDA_CAPTURE", "fails");
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  int decode = session->entryIndex("decode");
  int32_t token = 1;
  ASSERT_TRUE(session->run(decode, {{&token, 4}}, 0, 1).ok());
  Status status = session->run(decode, {{&token, 4}}, 1, 1);
  EXPECT_EQ(status.message(),
            "m.art: entry 'decode': cuStreamBeginCapture (llama-run "
            "--no-cuda-graphs launches the kernels directly): "
            "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (fake driver error)");
  EXPECT_FALSE(session->lastTokenLogits(decode).ok());
}

TEST_F(CudaSessionTest, BadCallsAreRefusedBeforeAnyLaunch) {
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  int decode = session->entryIndex("decode");
  int before = fake.counter("llamacFakeCudaLaunches");
  int32_t token = 8;
  Status status = session->run(decode, {{&token, 4}}, 0, 1);
  EXPECT_EQ(status.message(),
            "m.art: entry 'decode': input 0 'tokens': token id 8 at index 0 "
            "is outside the vocabulary of 8");
  token = 1;
  status = session->run(decode, {{&token, 4}}, 16, 1);
  EXPECT_THAT(status.message(), HasSubstr("exceeds the KV cache capacity 16"));
  EXPECT_EQ(fake.counter("llamacFakeCudaLaunches"), before);
  EXPECT_THAT(session->lastTokenLogits(decode).message(),
              HasSubstr("outputs read before a successful run"));
}

TEST_F(CudaSessionTest, DescribesTheDeviceAndTheChoice) {
  ScopedEnv sm86("LLAMAC_FAKE_CUDA_SM", "86");
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact());
  ASSERT_TRUE(session);
  EXPECT_EQ(session->binaryChoice(),
            "cubin sm_80 (binary compatible with sm_86)");
  EXPECT_EQ(session->describe(),
            "cuda Fake GPU (sm_86, 4 SMs, driver 13.0), cubin sm_80 (binary "
            "compatible with sm_86), repeated calls replayed as CUDA graphs");
  std::unique_ptr<CudaSession> off = create(cudaToyArtifact(), false);
  ASSERT_TRUE(off);
  EXPECT_THAT(off->describe(), testing::EndsWith(", launched one by one "
                                                 "(graphs off)"));
}

TEST_F(CudaSessionTest, ProgrammaticLaunchWhereGpuDriverAndBinaryAllow) {
  ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
  auto waiting = [] {
    return cudaToyArtifact(
        {toyCudaBinary("sm_90", "cubin", LLAMA_KERNEL_ABI_VERSION, true)});
  };
  // Every launch, direct or captured into the graph, asks for programmatic
  // stream serialization, and the results are the same.
  std::unique_ptr<CudaSession> session = create(waiting());
  ASSERT_TRUE(session);
  EXPECT_THAT(session->describe(),
              testing::EndsWith(", kernels launched while the previous one "
                                "drains (programmatic dependent launch)"));
  int before = fake.counter("llamacFakeCudaProgrammaticLaunches");
  int launches = fake.counter("llamacFakeCudaLaunches");
  decodeAndCheck(*session, {1, 5, 7});
  EXPECT_EQ(session->graphsCaptured(), 1);
  int programmatic = fake.counter("llamacFakeCudaProgrammaticLaunches");
  EXPECT_GT(programmatic, before);
  // The direct call and the capture each launch the decode kernels once.
  EXPECT_EQ(programmatic - before,
            2 * (fake.counter("llamacFakeCudaLaunches") - launches) / 3);

  // Not for a binary whose kernels do not wait, nor when turned off.
  for (bool waits : {false, true}) {
    std::unique_ptr<CudaSession> plain =
        waits ? create(waiting(), true, /*programmatic=*/false)
              : create(cudaToyArtifact({toyCudaBinary("sm_90", "cubin")}));
    ASSERT_TRUE(plain);
    EXPECT_THAT(plain->describe(),
                testing::EndsWith("repeated calls replayed as CUDA graphs"));
    decodeAndCheck(*plain, {1, 5, 7});
  }
  EXPECT_EQ(fake.counter("llamacFakeCudaProgrammaticLaunches"), programmatic);
}

TEST_F(CudaSessionTest, NoProgrammaticLaunchBeforeHopper) {
  ScopedEnv sm86("LLAMAC_FAKE_CUDA_SM", "86");
  int before = fake.counter("llamacFakeCudaProgrammaticLaunches");
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact(
      {toyCudaBinary("sm_80", "cubin", LLAMA_KERNEL_ABI_VERSION, true)}));
  ASSERT_TRUE(session);
  decodeAndCheck(*session, {1, 5, 7});
  EXPECT_EQ(fake.counter("llamacFakeCudaProgrammaticLaunches"), before);
}

TEST_F(CudaSessionTest, ExactCubinIsLoaded) {
  ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
  // The sm_80 "cubin" is broken: loading it would fail.
  std::unique_ptr<CudaSession> session =
      create(cudaToyArtifact({{"cuda", "sm_80", "cubin", {1, 2, 3}},
                              toyCudaBinary("sm_90", "cubin")}));
  ASSERT_TRUE(session);
  EXPECT_EQ(session->binaryChoice(), "cubin sm_90 (exact match)");
}

TEST_F(CudaSessionTest, PtxIsJittedForANewerMajor) {
  ScopedEnv sm100("LLAMAC_FAKE_CUDA_SM", "100");
  int jitted = fake.counter("llamacFakeCudaJitLoads");
  std::unique_ptr<CudaSession> session = create(cudaToyArtifact(
      {toyCudaBinary("sm_90", "cubin"), toyCudaBinary("compute_80", "ptx")}));
  ASSERT_TRUE(session);
  EXPECT_EQ(session->binaryChoice(),
            "PTX compute_80 (JIT-compiled for sm_100)");
  EXPECT_EQ(fake.counter("llamacFakeCudaJitLoads"), jitted + 1);
  decodeAndCheck(*session, {3});
}

TEST_F(CudaSessionTest, PtxCodeIsJittedWhereACubinMatches) {
  // llama-run --ptx on a Hopper GPU: the sm_90 cubin is passed over.
  ScopedEnv sm90("LLAMAC_FAKE_CUDA_SM", "90");
  int jitted = fake.counter("llamacFakeCudaJitLoads");
  std::unique_ptr<CudaSession> session =
      create(cudaToyArtifact({toyCudaBinary("sm_90", "cubin"),
                              toyCudaBinary("compute_80", "ptx")}),
             /*graphs=*/true, /*programmatic=*/true, CudaCode::Ptx);
  ASSERT_TRUE(session);
  EXPECT_EQ(session->binaryChoice(), "PTX compute_80 (JIT-compiled for sm_90)");
  EXPECT_EQ(fake.counter("llamacFakeCudaJitLoads"), jitted + 1);
  decodeAndCheck(*session, {3});
}

TEST_F(CudaSessionTest, PtxJitErrorShowsTheLog) {
  std::string text = "FAKEPTX-ERROR";
  EXPECT_EQ(createError(cudaToyArtifact(
                {{"cuda", "compute_80", "ptx", {text.begin(), text.end()}}})),
            "m.art: cuda binary (PTX compute_80 (JIT-compiled for sm_80)): "
            "cuModuleLoadDataEx (PTX JIT): CUDA_ERROR_INVALID_PTX (fake "
            "driver error); JIT log: line 3: syntax error");
}

TEST_F(CudaSessionTest, NoMatchingArch) {
  ScopedEnv sm75("LLAMAC_FAKE_CUDA_SM", "75");
  std::vector<BinarySpec> binaries;
  for (const char *arch : {"sm_80", "sm_86", "sm_89", "sm_90"})
    binaries.push_back(toyCudaBinary(arch, "cubin"));
  binaries.push_back(toyCudaBinary("compute_80", "ptx"));
  // llamac compiles for nothing older than sm_80, so neither another
  // --cuda-arch nor --jit would help.
  EXPECT_EQ(createError(cudaToyArtifact(binaries)),
            "m.art: the device is sm_75, and llamac's CUDA kernels need sm_80 "
            "or newer (cp.async and bf16 tensor cores); compile the model "
            "with --target=cpu to run it on this machine's CPU");
  ScopedEnv sm86("LLAMAC_FAKE_CUDA_SM", "86");
  EXPECT_EQ(createError(cudaToyArtifact({toyCudaBinary("sm_90", "cubin")})),
            "m.art: no matching arch: the device is sm_86; the artifact has "
            "cubins for sm_90 and no PTX; recompile with --cuda-arch=sm_86, "
            "or run with --jit");
}

TEST_F(CudaSessionTest, KernelAbiMismatch) {
  EXPECT_EQ(
      createError(cudaToyArtifact({toyCudaBinary("sm_80", "cubin", 99)})),
      "m.art: cuda binary (cubin sm_80 (exact match)): kernel ABI version 99, "
      "but this runtime calls 2; recompile the model with a matching llamac");
}

TEST_F(CudaSessionTest, MissingKernel) {
  ArtifactSpec spec = cudaToyArtifact();
  spec.kernels[2].symbol = "k_missing";
  EXPECT_EQ(createError(spec),
            "m.art: kernel 2 'k_missing': cuModuleGetFunction: "
            "CUDA_ERROR_NOT_FOUND (fake driver error)");
}

/// Random weights are generated by the binary's fill kernel, one launch
/// per weight reading its rule from one uploaded table: the same bits as
/// the host's.
TEST_F(CudaSessionTest, RandomWeightsAreFilledOnTheDevice) {
  std::unique_ptr<WeightSource> weights = createRandomWeights(7);
  CudaSessionOptions options;
  options.origin = "m.art";
  int launches = fake.counter("llamacFakeCudaLaunches");
  StatusOr<std::unique_ptr<CudaSession>> session =
      CudaSession::create(cudaToyArtifact(), *weights, options);
  ASSERT_TRUE(session.ok()) << session.message();
  const ArtifactSpec &spec = (*session)->spec();
  int filled = 0;
  for (uint32_t id = 0; id < spec.buffers.size(); ++id) {
    const BufferSpec &buffer = spec.buffers[id];
    if (buffer.kind != BufferKind::Weight)
      continue;
    ++filled;
    StatusOr<WeightData> host = weights->fetch(buffer.name, buffer.shape);
    ASSERT_TRUE(host.ok());
    std::vector<float> device(host->storage.size());
    Status copied =
        (*session)->copyPersistentOut(id, device.data(), device.size() * 4);
    if (buffer.name == "norm.weight") {
      // Only the load entry reads it: freed once packed (the logits tests
      // see its packed copy).
      EXPECT_THAT(copied.message(),
                  HasSubstr("'norm.weight': a weight only the load entry "
                            "reads, freed once packed"));
      continue;
    }
    ASSERT_TRUE(copied.ok()) << copied.message();
    EXPECT_EQ(device, host->storage) << buffer.name;
  }
  EXPECT_EQ(filled, 2);
  // The fills, then the load entry's k_pack.
  EXPECT_EQ(fake.counter("llamacFakeCudaLaunches") - launches, filled + 1);
}

/// A binary without the fill kernel of a weight's type (one built before
/// they existed) runs file weights, not random ones.
TEST_F(CudaSessionTest, RandomWeightsNeedTheBinarysFillKernels) {
  ArtifactSpec spec = cudaToyArtifact();
  for (BufferSpec &buffer : spec.buffers)
    if (buffer.name == "norm.weight")
      buffer.type = ElementType::BF16;
  std::unique_ptr<WeightSource> weights = createRandomWeights(7);
  CudaSessionOptions options;
  options.origin = "m.art";
  StatusOr<std::unique_ptr<CudaSession>> session =
      CudaSession::create(spec, *weights, options);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.message(),
            "m.art: cuda binary (cubin sm_80 (exact match)) has no kernel "
            "'llama_fill_random_bf16' (built by an older llamac); recompile "
            "the model");
}

TEST_F(CudaSessionTest, ArtifactWithoutCudaBinaries) {
  EXPECT_EQ(createError(toyArtifact()),
            "m.art: has no cuda binaries; recompile with --target=cuda, or "
            "run it with --device cpu");
}

TEST_F(CudaSessionTest, NoDriver) {
  ScopedEnv missing(kLibcudaEnvVar, "/nonexistent/libcuda.so.1");
  EXPECT_THAT(createError(cudaToyArtifact()),
              StartsWith("m.art: no CUDA driver: "
                         "dlopen(/nonexistent/libcuda.so.1) failed: "
                         "/nonexistent/libcuda.so.1: cannot open shared "
                         "object file"));
}

TEST_F(CudaSessionTest, DriverWithoutTheApi) {
  // Any shared object that is not a CUDA driver: the C library.
  ScopedEnv notCuda(kLibcudaEnvVar, "libc.so.6");
  EXPECT_EQ(createError(cudaToyArtifact()),
            "m.art: no CUDA driver: libc.so.6 lacks cuInit (driver too old?)");
}

TEST_F(CudaSessionTest, NoGpu) {
  ScopedEnv none("LLAMAC_FAKE_CUDA_DEVICES", "0");
  EXPECT_EQ(createError(cudaToyArtifact()),
            "m.art: no GPU: the CUDA driver reports 0 devices");
}

TEST_F(CudaSessionTest, NoGpuReportedByCuInit) {
  ScopedEnv none("LLAMAC_FAKE_CUDA_DEVICES", "init-fails");
  EXPECT_EQ(createError(cudaToyArtifact()),
            "m.art: no GPU: the CUDA driver reports 0 devices (cuInit: "
            "CUDA_ERROR_NO_DEVICE (fake driver error))");
}

TEST_F(CudaSessionTest, DeviceOrdinalOutOfRange) {
  StatusOr<std::unique_ptr<CudaDevice>> device = CudaDevice::open(1);
  EXPECT_EQ(device.message(),
            "no GPU: device 1 requested, the CUDA driver reports 1 device");
}

//===----------------------------------------------------------------------===//
// createExecutor: choosing the backend
//===----------------------------------------------------------------------===//

std::string backendOf(ArtifactSpec spec, Device device) {
  MemoryWeights weights = toyWeights();
  ExecutorOptions options;
  options.origin = "m.art";
  options.device = device;
  StatusOr<std::unique_ptr<Executor>> executor =
      createExecutor(std::move(spec), weights, options);
  return executor.ok() ? (*executor)->describe() : executor.message();
}

TEST_F(CudaSessionTest, AutoRunsACudaOnlyArtifactOnTheGpu) {
  EXPECT_THAT(backendOf(cudaToyArtifact(), Device::Auto),
              StartsWith("cuda Fake GPU"));
}

TEST_F(CudaSessionTest, AutoRunsACpuOnlyArtifactOnTheCpu) {
  EXPECT_THAT(backendOf(toyArtifact(), Device::Auto), StartsWith("cpu x86-64"));
}

TEST_F(CudaSessionTest, AutoPrefersAUsableGpuForAnArtifactWithBoth) {
  ArtifactSpec both = cudaToyArtifact();
  both.binaries.push_back({"cpu", "x86-64", "elf-shared-object",
                           compileSharedObject(toyKernelSource())});
  EXPECT_THAT(backendOf(both, Device::Auto), StartsWith("cuda Fake GPU"));
  ScopedEnv missing(kLibcudaEnvVar, "/nonexistent/libcuda.so.1");
  EXPECT_THAT(backendOf(both, Device::Auto), StartsWith("cpu x86-64"));
  EXPECT_THAT(backendOf(both, Device::Cuda), HasSubstr("no CUDA driver"));
}

TEST_F(CudaSessionTest, ExplicitDeviceThatTheArtifactLacks) {
  EXPECT_THAT(backendOf(cudaToyArtifact(), Device::Cpu),
              HasSubstr("m.art: compiled for cuda (sm_80), not for the cpu "
                        "target; recompile with --target=cpu"));
  EXPECT_EQ(backendOf(toyArtifact(), Device::Cuda),
            "m.art: has no cuda binaries; recompile with --target=cuda, or "
            "run it with --device cpu");
}

TEST_F(CudaSessionTest, CudaArtifactWithoutADriverFailsClearly) {
  ScopedEnv missing(kLibcudaEnvVar, "/nonexistent/libcuda.so.1");
  EXPECT_THAT(backendOf(cudaToyArtifact(), Device::Auto),
              StartsWith("m.art: no CUDA driver: dlopen("));
}

} // namespace
