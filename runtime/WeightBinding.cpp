//===- WeightBinding.cpp - A weight in the artifact's layout --------------===//

#include "runtime/WeightBinding.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/HalfFloat.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/Tensor.h"

#include <cstring>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

/// Puts wq/wk rows in the order the artifact's RoPE expects. Hugging Face
/// files store them permuted for half-split RoPE; Meta files in adjacent
/// order. Other tensors are the same either way.
Status matchRopeLayout(const std::string &origin, const std::string &name,
                       const ModelConfig &config,
                       std::optional<RopeStyle> stored, WeightData &data) {
  if (!stored || *stored == config.ropeStyle)
    return {};
  int64_t heads = ropeHeads(name, config.nHeads, config.nKvHeads);
  if (heads == 0)
    return {};
  if (data.shape.size() != 2 || data.shape[0] % (2 * heads) != 0)
    return Status::error(origin + ": " + name + ": shape " +
                         shapeToString(data.shape) +
                         " cannot be re-ordered for RoPE: rows are not a "
                         "multiple of 2 * " +
                         std::to_string(heads) + " heads");
  int64_t rows = data.shape[0], cols = data.shape[1];
  data.storage = config.ropeStyle == RopeStyle::HalfSplit
                     ? permuteForHalfSplitRope(data.data, heads, rows, cols)
                     : unpermuteFromHalfSplitRope(data.data, heads, rows, cols);
  data.data = data.storage.data();
  return {};
}

/// Stores f32 values as the buffer's element type.
void storeAs(ElementType type, const float *values, int64_t count,
             uint8_t *destination) {
  switch (type) {
  case ElementType::F32:
  case ElementType::I32:
    std::memcpy(destination, values, size_t(count) * 4);
    return;
  case ElementType::F16: {
    auto *out = reinterpret_cast<uint16_t *>(destination);
    for (int64_t i = 0; i < count; ++i)
      out[i] = f32ToF16(values[i]);
    return;
  }
  case ElementType::BF16: {
    auto *out = reinterpret_cast<uint16_t *>(destination);
    for (int64_t i = 0; i < count; ++i)
      out[i] = f32ToBf16(values[i]);
    return;
  }
  }
}

} // namespace

Status llamac::runtime::bindWeight(const ModelConfig &config,
                                   const BufferSpec &buffer,
                                   WeightSource &weights,
                                   uint8_t *destination) {
  const std::string origin = weights.origin();
  StatusOr<WeightData> fetched = weights.fetch(buffer.name, buffer.shape);
  if (!fetched.ok())
    return fetched.status();
  WeightData &data = *fetched;
  if (data.shape != buffer.shape)
    return Status::error(
        origin + ": " + buffer.name + ": shape " + shapeToString(buffer.shape) +
        " expected by the artifact, found " + shapeToString(data.shape));
  LLAMAC_RETURN_IF_ERROR(
      matchRopeLayout(origin, buffer.name, config, weights.qkLayout(), data));
  storeAs(buffer.type, data.data, numElements(buffer.shape), destination);
  return {};
}
