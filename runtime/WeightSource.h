//===- WeightSource.h - Where a session's weights come from ------*- C++
//-*-===//
//
// An artifact names every weight it needs by its Meta name and shape; a
// source hands them out as f32. The sources: a llama2.c checkpoint; a
// safetensors or torch.save checkpoint (Meta or Hugging Face names), one file
// or several (SafetensorsCheckpoint.h, TorchCheckpoint.h); and deterministic
// random weights for benchmarking shapes no trained checkpoint exists for.
// The session checks shapes and converts to the artifact's element type.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_WEIGHTSOURCE_H
#define LLAMAC_RUNTIME_WEIGHTSOURCE_H

#include "frontend/ModelConfig.h"
#include "runtime/RandomWeights.h"
#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llamac::runtime {

/// One f32 row-major tensor as a source hands it out.
struct WeightData {
  std::vector<int64_t> shape;
  const float *data = nullptr;
  /// Owns `data` when the source converted or generated it; empty when
  /// `data` points into a mapped file.
  std::vector<float> storage;
};

class WeightSource {
public:
  virtual ~WeightSource();

  /// Starts messages: the file path, or "random weights (seed 7)".
  virtual std::string origin() const = 0;
  /// The row order of wq and wk as stored: Adjacent for Meta and llama2.c
  /// files, HalfSplit for Hugging Face's. Nullopt when any order is as good
  /// (random weights).
  virtual std::optional<RopeStyle> qkLayout() const = 0;
  /// The tensor `name`. `expectedShape` is the artifact's; only generated
  /// weights use it, files report what they hold. A missing tensor fails
  /// with "ORIGIN: NAME: not found (the artifact needs it)".
  virtual StatusOr<WeightData>
  fetch(const std::string &name, const std::vector<int64_t> &expectedShape) = 0;
  /// For a tensor the source generates rather than reads (random weights),
  /// the rule of its elements (RandomWeights.h), so that an executor can
  /// generate it where it lives, as the cuda session does on the GPU;
  /// fetch() gives the same values on the host. Nullopt for file tensors.
  virtual std::optional<LlamaRandomFill>
  randomFill(const std::string &name,
             const std::vector<int64_t> &expectedShape) const;
};

/// Opens a llama2.c checkpoint, a .safetensors file, a torch.save archive
/// (Meta's consolidated.NN.pth ranks are joined), a sharded checkpoint's
/// index, or a model directory holding one of these (CheckpointFormat.h),
/// told apart by content. Errors are the readers' ("w.bin: truncated:
/// expected ... bytes").
StatusOr<std::unique_ptr<WeightSource>> openWeightFile(const std::string &path);

/// Weights that depend only on each tensor's name and `seed`: gains ("...norm
/// .weight") are 1, everything else uniform in +-1/sqrt(last dim)
/// (RandomWeights.h). Generated on demand in memory, never written; the
/// cuda session generates them on the GPU.
std::unique_ptr<WeightSource> createRandomWeights(uint64_t seed);

/// The message every source gives for a tensor it lacks.
Status missingWeight(const std::string &origin, const std::string &name);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_WEIGHTSOURCE_H
