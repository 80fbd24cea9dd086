//===- ArtifactVerifier.h - Semantic checks of an artifact -------*- C++
//-*-===//
//
// FlatBuffers verification proves only that a file can be read without going
// out of bounds. The executor also trusts every index, shape and arena offset
// to pass raw pointers to kernels, so one wrong number in an artifact would
// be a wild write. Every such fact is checked here once, before anything
// runs; the compiler can call it too, before writing.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ARTIFACTVERIFIER_H
#define LLAMAC_RUNTIME_ARTIFACTVERIFIER_H

#include "runtime/ArtifactSpec.h"
#include "runtime/Status.h"

#include <string>

namespace llamac::runtime {

/// Largest buffer or arena the runtime accepts (256 TiB): far beyond any
/// model, and small enough that no size arithmetic on it overflows.
inline constexpr uint64_t kMaxBufferBytes = uint64_t(1) << 48;

/// Checks that every buffer id and kernel index is in range, every launch
/// names buffers, shapes are positive (-1 only as the sequence dimension of
/// input and activation buffers), activations are 64-byte aligned and fit
/// their entry's arena at its longest call, each activation belongs to one
/// entry, the config is valid and no binary is empty. When the artifact has
/// a cuda binary, every kernel's launch geometry must also be one CUDA
/// accepts at every call length (block of at most 1024 threads, each
/// dimension at least 1, at most 48 KiB of shared memory, no grid dimension
/// that is ever 0 or too large) and no launch may name more than
/// LLAMA_MAX_TABLE_BUFFERS buffers (beyond LLAMA_MAX_KERNEL_BUFFERS they go
/// through a device table, KernelAbi.h). Messages read
/// "ORIGIN: entries[1] 'decode': launches[3]: REASON".
Status verifyArtifact(const artifact::ArtifactSpec &spec,
                      const std::string &origin);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_ARTIFACTVERIFIER_H
