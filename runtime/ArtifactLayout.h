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

/// The position of the input buffer called `name` among the inputs of entry
/// `entry`, or -1.
int inputIndex(const ArtifactSpec &spec, int entry, const std::string &name);

/// "layers.*.attention" for "layers.3.attention": every purely numeric
/// dot-separated component becomes "*", so profiles can sum over layers.
std::string originFamily(const std::string &origin);

} // namespace llamac::artifact

#endif // LLAMAC_RUNTIME_ARTIFACTLAYOUT_H
