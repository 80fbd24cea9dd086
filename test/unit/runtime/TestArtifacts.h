//===- TestArtifacts.h - Hand-built artifacts with real kernels --*- C++
//-*-===//
//
// The executor is tested without the compiler: a tiny artifact is written by
// hand, and its cpu binary is compiled in the test from a few lines of C
// with the host compiler, exactly as llamac's cpu target would ship one.
//
// The toy model (dim 4, vocab 8, max_seq_len 16) computes, per token t at
// absolute position p:
//   x = tok_embeddings[token];  y = x + 2 * norm  (packed by "load");
//   k_cache[p] = y;  logits = sum of k_cache rows 0..p
// so prefill and decode must agree, and every output depends on the cache,
// the position and the load entry.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TEST_UNIT_RUNTIME_TESTARTIFACTS_H
#define LLAMAC_TEST_UNIT_RUNTIME_TESTARTIFACTS_H

#include "runtime/ArtifactSpec.h"
#include "runtime/KernelAbi.h"
#include "runtime/WeightSource.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace llamac::test {

/// Kernel source with the ABI version symbol set to `abiVersion`.
std::string toyKernelSource(int abiVersion = LLAMA_KERNEL_ABI_VERSION);

/// Compiles `source` into a shared object with the host C++ compiler and
/// returns its bytes; empty (with a gtest failure) when compilation fails.
/// Results are cached per source for the life of the process.
std::vector<uint8_t> compileSharedObject(const std::string &source);

/// The toy model's config: dim 4, 2 heads, 1 KV head, vocab 8, seq 16.
ModelConfig toyConfig();

/// The toy artifact with `binary` as its cpu binary ("x86-64").
artifact::ArtifactSpec toyArtifact(std::vector<uint8_t> binary);
/// toyArtifact with the kernels compiled from toyKernelSource().
artifact::ArtifactSpec toyArtifact();

/// The toy artifact as a cuda artifact for FakeCudaDriver.cpp, whose
/// "cubins" are host shared objects: by default one sm_80 cubin holding the
/// toy kernels. k_embed grows its grid by one block per two rows
/// (LaunchGeometry{gridBase {1, 2, 1}, rowsPerBlock {2, 0, 0}, block {32, 4,
/// 1}, 256 shared bytes}); the other kernels use the defaults.
artifact::ArtifactSpec cudaToyArtifact();
artifact::ArtifactSpec
cudaToyArtifact(std::vector<artifact::BinarySpec> binaries);
/// A cuda binary of the toy kernels: format "cubin" holds the shared object,
/// "ptx" holds "FAKEPTX:PATH" of it (see FakeCudaDriver.cpp). With
/// `waitsForPreviousKernel` it exports llama_grid_dependency_wait = 1, as
/// llamac's sm_90 code does (the fake driver runs launches in order, so the
/// toy kernels need no wait). With `runsWgmmaKernels` it exports
/// llama_wgmma_kernels = 1, as llamac's sm_90a code does.
artifact::BinarySpec toyCudaBinary(const std::string &arch,
                                   const std::string &format,
                                   int abiVersion = LLAMA_KERNEL_ABI_VERSION,
                                   bool waitsForPreviousKernel = false,
                                   bool runsWgmmaKernels = false);

/// cudaToyArtifact with an optimizer-state buffer "adamw.m.norm.weight" (f32
/// [4], zeroed at load) and an entry "table" whose one launch names 14
/// buffers, so that they reach the kernel through a device table
/// (KernelAbi.h): output floats 0..12 are element 1 of norm, tok_embeddings,
/// norm.packed and the state in turn (2, 0.5, 4, state[1], 2, ...), float
/// 13 is 1 when the other args.buffers entries are null, and 14, 15 are 0.
artifact::ArtifactSpec tableCudaToyArtifact();

/// An artifact whose one entry, "dump", copies the 64 bytes of weight
/// `weight` (of at most 64 bytes) to its output, to show what was bound. Its
/// config has a single head, so a [4, 4] wq is one head of dim 4.
artifact::ArtifactSpec dumpArtifact(const std::string &weight,
                                    artifact::ElementType type,
                                    std::vector<int64_t> shape);

/// Buffer ids of toyArtifact, for tests that break one on purpose.
enum ToyBuffer : uint32_t {
  kTokens,
  kEmbedding,
  kNorm,
  kPacked,
  kCache,
  kPrefillX,
  kPrefillY,
  kPrefillLogits,
  kDecodeX,
  kDecodeY,
  kDecodeLogits,
};
/// The buffers tableCudaToyArtifact adds.
enum TableToyBuffer : uint32_t { kNormMoment = kDecodeLogits + 1, kTableOut };
/// Entry indices of toyArtifact.
enum ToyEntry : size_t { kLoadEntry, kPrefillEntry, kDecodeEntry };

/// A WeightSource over tensors held in memory (Meta layout).
class MemoryWeights : public runtime::WeightSource {
public:
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>
      tensors;

  std::string origin() const override { return "memory"; }
  std::optional<RopeStyle> qkLayout() const override {
    return RopeStyle::Adjacent;
  }
  runtime::StatusOr<runtime::WeightData>
  fetch(const std::string &name, const std::vector<int64_t> &) override;
};

/// The toy model's weights: embedding row r is (r, r + 0.5, -r, 1), and norm
/// is (1, 2, 3, 4).
MemoryWeights toyWeights();

/// What the toy model's logits are for `tokens` from position 0, one row of
/// 4 per token.
std::vector<std::vector<float>>
toyReference(const std::vector<int32_t> &tokens);

} // namespace llamac::test

#endif // LLAMAC_TEST_UNIT_RUNTIME_TESTARTIFACTS_H
