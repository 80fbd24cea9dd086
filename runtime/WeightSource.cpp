//===- WeightSource.cpp - Where a session's weights come from -------------===//

#include "runtime/WeightSource.h"

#include "runtime/CheckpointFormat.h"
#include "runtime/Fnv1a.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/Llama2cCheckpoint.h"
#include "runtime/Strings.h"

#include <cmath>
#include <map>

using namespace llamac;
using namespace llamac::runtime;

WeightSource::~WeightSource() = default;

std::optional<LlamaRandomFill>
WeightSource::randomFill(const std::string &,
                         const std::vector<int64_t> &) const {
  return std::nullopt;
}

Status llamac::runtime::missingWeight(const std::string &origin,
                                      const std::string &name) {
  std::string hint;
  if (name == "output.weight")
    hint = "; a checkpoint whose classifier is shared with "
           "tok_embeddings.weight needs an artifact compiled from it";
  return Status::error(origin + ": " + name +
                       ": not found (the artifact needs it)" + hint);
}

namespace {

class Llama2cSource : public WeightSource {
public:
  explicit Llama2cSource(Llama2cCheckpoint checkpoint)
      : checkpoint(std::move(checkpoint)) {}

  std::string origin() const override { return checkpoint.file->path(); }
  std::optional<RopeStyle> qkLayout() const override {
    return RopeStyle::Adjacent;
  }
  StatusOr<WeightData> fetch(const std::string &name,
                             const std::vector<int64_t> &) override {
    const TensorView *tensor = checkpoint.find(name);
    if (!tensor)
      return missingWeight(origin(), name);
    WeightData data;
    data.shape = tensor->shape;
    data.data = tensor->data;
    return data;
  }

private:
  Llama2cCheckpoint checkpoint;
};

/// A checkpoint of named tensors (safetensors or torch.save) under Meta's
/// or Hugging Face's names: one Hugging Face name makes it Hugging Face's,
/// whose wq and wk rows are in half-split order.
class NamedTensorsSource : public WeightSource {
public:
  explicit NamedTensorsSource(StoredTensors opened)
      : checkpoint(std::move(opened)),
        huggingFace(checkpoint.hasHuggingFaceNames()) {
    for (const LazyTensor &tensor : checkpoint.tensors) {
      std::optional<std::string> meta =
          huggingFace ? hfNameToMeta(tensor.name) : tensor.name;
      // Tensors the model does not use (rotary_emb.inv_freq, rope.freqs)
      // stay unbound.
      if (meta)
        byMetaName.emplace(*meta, &tensor);
    }
  }

  std::string origin() const override { return checkpoint.origin; }
  std::optional<RopeStyle> qkLayout() const override {
    return huggingFace ? RopeStyle::HalfSplit : RopeStyle::Adjacent;
  }
  StatusOr<WeightData> fetch(const std::string &name,
                             const std::vector<int64_t> &) override {
    auto found = byMetaName.find(name);
    if (found == byMetaName.end())
      return missingWeight(origin(), name);
    StatusOr<std::vector<float>> values = found->second->read();
    if (!values.ok())
      return values.status();
    WeightData data;
    data.shape = found->second->shape;
    data.storage = std::move(*values);
    data.data = data.storage.data();
    return data;
  }

private:
  StoredTensors checkpoint;
  const bool huggingFace;
  std::map<std::string, const LazyTensor *> byMetaName;
};

class RandomSource : public WeightSource {
public:
  explicit RandomSource(uint64_t seed) : seed(seed) {}

  std::string origin() const override {
    return "random weights (seed " + std::to_string(seed) + ")";
  }
  std::optional<RopeStyle> qkLayout() const override { return std::nullopt; }
  StatusOr<WeightData> fetch(const std::string &name,
                             const std::vector<int64_t> &shape) override {
    LlamaRandomFill fill = *randomFill(name, shape);
    WeightData data;
    data.shape = shape;
    data.storage.resize(size_t(fill.count));
    for (size_t i = 0; i < data.storage.size(); ++i)
      data.storage[i] = llamaRandomFillValue(&fill, i);
    data.data = data.storage.data();
    return data;
  }
  std::optional<LlamaRandomFill>
  randomFill(const std::string &name,
             const std::vector<int64_t> &shape) const override {
    LlamaRandomFill fill{};
    // A stable hash, so that a name gives the same weights everywhere.
    fill.key = fnv1a64(name) ^ (seed * 0x9e3779b97f4a7c15ull);
    fill.count = 1;
    for (int64_t dim : shape)
      fill.count *= dim;
    fill.ones = endsWith(name, "norm.weight");
    fill.bound = 1.0f / std::sqrt(float(shape.empty() ? 1 : shape.back()));
    return fill;
  }

private:
  uint64_t seed;
};

} // namespace

StatusOr<std::unique_ptr<WeightSource>>
llamac::runtime::openWeightFile(const std::string &path) {
  StatusOr<CheckpointLocation> where = locateCheckpoint(path);
  if (!where.ok())
    return where.status();
  if (where->format != CheckpointFormat::Llama2c) {
    StatusOr<StoredTensors> checkpoint = openStoredTensors(*where);
    if (!checkpoint.ok())
      return checkpoint.status();
    return std::unique_ptr<WeightSource>(
        new NamedTensorsSource(std::move(checkpoint).value()));
  }
  StatusOr<Llama2cCheckpoint> checkpoint = readLlama2cCheckpoint(where->path);
  if (!checkpoint.ok())
    return checkpoint.status();
  return std::unique_ptr<WeightSource>(
      new Llama2cSource(std::move(checkpoint).value()));
}

std::unique_ptr<WeightSource>
llamac::runtime::createRandomWeights(uint64_t seed) {
  return std::make_unique<RandomSource>(seed);
}
