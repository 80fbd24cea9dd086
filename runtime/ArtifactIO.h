//===- ArtifactIO.h - Artifacts to and from .art files -----------*- C++
//-*-===//
//
// An artifact file is one FlatBuffer (schema Artifact.fbs, identifier
// "LLMA") followed by a 16-byte trailer: the FNV-1a 64 of the FlatBuffer's
// bytes (little-endian), then the tag "LLMAfnv1". Reading never trusts the
// file: it checks the identifier and the checksum, runs the FlatBuffers
// verifier, checks the schema version and then every index, shape and
// offset (verifyArtifact), so that a corrupt or foreign file is an error
// message, never a crash or a wrong answer. The checksum catches what the
// structural checks cannot: a flipped bit in a kernel binary, a float of
// the config or a launch geometry. Files of schema version 3 and older end
// with the FlatBuffer.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ARTIFACTIO_H
#define LLAMAC_RUNTIME_ARTIFACTIO_H

#include "runtime/ArtifactSpec.h"
#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llamac::runtime {

/// The FlatBuffers file identifier of every artifact.
inline constexpr char kArtifactIdentifier[] = "LLMA";
/// The last 8 bytes of an artifact of schema version 4 or later.
inline constexpr char kArtifactChecksumTag[] = "LLMAfnv1";
/// The checksum and the tag.
inline constexpr size_t kArtifactTrailerBytes = 16;

/// Serializes `spec` as it is, with the checksum trailer (it does not
/// verify it; the compiler should call verifyArtifact first).
StatusOr<std::vector<uint8_t>>
serializeArtifact(const artifact::ArtifactSpec &spec);

/// Writes `spec` to `path`: the complete file appears or nothing does.
Status writeArtifact(const artifact::ArtifactSpec &spec,
                     const std::string &path);

/// Reads and fully verifies an artifact file. Errors start with `path`:
/// "m.art: not a llamac artifact (identifier 'XXXX', expected 'LLMA')",
/// "m.art: truncated or corrupt: ..." (the checksum, the FlatBuffers
/// verifier, or a missing trailer), "m.art: schema_version: ...", or a
/// verifyArtifact message.
StatusOr<artifact::ArtifactSpec> readArtifact(const std::string &path);

/// The same checks on bytes in memory; `origin` starts every message.
StatusOr<artifact::ArtifactSpec>
readArtifactFromMemory(const uint8_t *bytes, size_t size,
                       const std::string &origin);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_ARTIFACTIO_H
