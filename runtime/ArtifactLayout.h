//===- ArtifactLayout.h - Sizes and names of artifact buffers ----*- C++
//-*-===//
//
// The arithmetic the verifier, the executor and the tools all need on an
// ArtifactSpec: how many bytes a buffer takes at a given sequence length, and
// how to print its enums. Kept apart from ArtifactSpec.h, which is the
// contract with the compiler and holds data only.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ARTIFACTLAYOUT_H
#define LLAMAC_RUNTIME_ARTIFACTLAYOUT_H

#include "runtime/ArtifactSpec.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llamac::artifact {

size_t elementBytes(ElementType type);
/// "f32", "f16", "bf16", "i32".
const char *toString(ElementType type);
/// "input", "weight", "packed", "cache", "activation".
const char *toString(BufferKind kind);

/// True when the shape holds the dynamic sequence dimension (-1).
bool isDynamic(const BufferSpec &buffer);
/// The shape with -1 replaced by `seq`.
std::vector<int64_t> resolveShape(const BufferSpec &buffer, int64_t seq);
/// Bytes the buffer takes when the sequence dimension is `seq`. Only for
/// verified artifacts, whose sizes cannot overflow.
uint64_t bufferBytes(const BufferSpec &buffer, int64_t seq);

/// The longest call an entry accepts: its fixed `seq`, or `maxSeq`.
int64_t entryMaxSeq(const EntrySpec &entry);
/// Null when the artifact has no entry of that name.
const EntrySpec *findEntry(const ArtifactSpec &spec, const std::string &name);
/// The first binary for `target` ("cpu", "cuda"), or null.
const BinarySpec *findBinary(const ArtifactSpec &spec,
                             const std::string &target);

/// How the entries use one buffer, which decides where executors put it.
struct BufferUse {
  /// The longest call of any entry that names it (1 when none does); an
  /// input's storage is sized for it.
  int64_t longestCall = 1;
  /// The last entry that names it, or -1: for an activation, the entry
  /// whose arena holds it (verified to be the only one).
  int owner = -1;
};
/// One BufferUse per buffer id.
std::vector<BufferUse> bufferUses(const ArtifactSpec &spec);

/// Which weights only the "load" entry reads (no other entry names them):
/// those it packs into other buffers (the fused GEMMs' concatenated
/// weights), which a session needs only while they are packed. None where
/// a load launch passes its buffers through a table (more than
/// LLAMA_MAX_KERNEL_BUFFERS) or reads one by a tensor map, whose addresses
/// are fixed before any launch.
std::vector<bool> loadOnlyWeights(const ArtifactSpec &spec);
/// What one launch of the load entry does to the load-only weights: binds
/// those it is the first to read before it runs, and frees those it is the
/// last to read once it ran.
struct LoadStep {
  std::vector<uint32_t> arriving, leaving;
};
/// One step per launch of the load entry (none without one).
std::vector<LoadStep> loadSchedule(const ArtifactSpec &spec,
                                   const std::vector<bool> &loadOnly);

/// The memory a session allocates for an artifact, by what it holds: each
/// entry's arena, and every other buffer sized for the longest call that
/// names it. Load-only weights are held only while the load entry runs,
/// each from the first of its launches that names it to the last.
struct MemoryPlan {
  /// Weights the entries read, and what the load entry packs.
  uint64_t weights = 0;
  /// KV caches.
  uint64_t caches = 0;
  /// Optimizer state (AdamW moments).
  uint64_t state = 0;
  /// The entries' arenas and their inputs.
  uint64_t activations = 0;
  /// Load-only weights: all of them, and the most held at once.
  uint64_t unpacked = 0, unpackedPeak = 0;
  /// What a session holds once loaded, and at most while loading.
  uint64_t total() const { return weights + caches + state + activations; }
  uint64_t peak() const { return total() + unpackedPeak; }
  /// "13.21 GiB (weights 12.55 GiB, KV caches 0.50 GiB, activations
  /// 160.00 MiB)", naming only what is there, and ending "; 1.00 GiB more
  /// while the weights are packed)" where loading takes more.
  std::string describe() const;
};
MemoryPlan memoryPlan(const ArtifactSpec &spec,
                      const std::vector<BufferUse> &uses);
/// "512 bytes", "1.50 KiB", "12.55 GiB".
std::string formatBytes(uint64_t bytes);
/// "buffers[3] 'layers.0.attention.wq'": how errors name buffer `id`.
std::string bufferLabel(const ArtifactSpec &spec, uint32_t id);

/// The position of the input buffer called `name` among the inputs of entry
/// `entry`, or -1.
int inputIndex(const ArtifactSpec &spec, int entry, const std::string &name);

/// "layers.*.attention" for "layers.3.attention": every purely numeric
/// dot-separated component becomes "*", so profiles can sum over layers.
std::string originFamily(const std::string &origin);

} // namespace llamac::artifact

#endif // LLAMAC_RUNTIME_ARTIFACTLAYOUT_H
