//===- WeightBinding.h - A weight in the artifact's layout ------*- C++ -*-===//
//
// Every executor binds weights the same way: fetch by name, check the
// shape, put wq/wk rows in the artifact's RoPE order and convert f32 to the
// buffer's element type. The cpu session does it in place; the cuda session
// into a host staging buffer that it then uploads.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_WEIGHTBINDING_H
#define LLAMAC_RUNTIME_WEIGHTBINDING_H

#include "frontend/ModelConfig.h"
#include "runtime/ArtifactSpec.h"
#include "runtime/Status.h"
#include "runtime/WeightSource.h"

#include <cstdint>

namespace llamac::runtime {

/// Writes weight buffer `buffer` from `weights` into `destination`, which
/// holds bufferBytes(buffer) bytes. Errors start with the source's origin:
/// "w.bin: norm.weight: shape [4] expected by the artifact, found [8]".
Status bindWeight(const ModelConfig &config, const artifact::BufferSpec &buffer,
                  WeightSource &weights, uint8_t *destination);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_WEIGHTBINDING_H
