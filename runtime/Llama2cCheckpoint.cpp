//===- Llama2cCheckpoint.cpp - llama2.c "legacy" checkpoints --------------===//

#include "runtime/Llama2cCheckpoint.h"

#include "runtime/AtomicFile.h"

#include <cmath>
#include <cstring>
#include <map>

using namespace llamac::runtime;

namespace {

/// One tensor of the file with its position, in floats from the end of the
/// header.
struct Placement {
  TensorView tensor;
  int64_t floatOffset;
};

/// Floats run.c skips after the final norm: the old freq_cis_real and
/// freq_cis_imag tables, seq_len * head_size / 2 each (run.c's arithmetic).
int64_t freqCisFloats(const Llama2cHeader &header) {
  return 2 * (int64_t(header.seqLen) * header.headSize() / 2);
}

/// The file's tensors in run.c's memory_map_weights order. Per-layer weights
/// are stored as one [n_layers][...] block per kind, so all layers' wq come
/// before any wk.
std::vector<Placement> placements(const Llama2cHeader &header) {
  const int64_t dim = header.dim, hidden = header.hiddenDim,
                vocab = header.vocab(), headSize = header.headSize(),
                qDim = int64_t(header.nHeads) * headSize,
                kvDim = header.kvDim();
  std::vector<Placement> result;
  int64_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    TensorView view{std::move(name), std::move(shape), nullptr};
    int64_t count = view.numElements();
    result.push_back({std::move(view), offset});
    offset += count;
  };
  auto addPerLayer = [&](const char *suffix, std::vector<int64_t> shape) {
    for (int32_t layer = 0; layer < header.nLayers; ++layer)
      add("layers." + std::to_string(layer) + "." + suffix, shape);
  };
  add("tok_embeddings.weight", {vocab, dim});
  addPerLayer("attention_norm.weight", {dim});
  addPerLayer("attention.wq.weight", {qDim, dim});
  addPerLayer("attention.wk.weight", {kvDim, dim});
  addPerLayer("attention.wv.weight", {kvDim, dim});
  addPerLayer("attention.wo.weight", {dim, qDim});
  addPerLayer("ffn_norm.weight", {dim});
  addPerLayer("feed_forward.w1.weight", {hidden, dim});
  addPerLayer("feed_forward.w2.weight", {dim, hidden});
  addPerLayer("feed_forward.w3.weight", {hidden, dim});
  add("norm.weight", {dim});
  offset += freqCisFloats(header);
  if (!header.sharedClassifier())
    add("output.weight", {vocab, dim});
  return result;
}

/// The file size a header implies, computed without building the layout (a
/// corrupt header may claim billions of layers). long double keeps it exact
/// for any plausible checkpoint and finite for any header.
long double fileBytesEstimate(const Llama2cHeader &header) {
  const long double dim = header.dim, hidden = header.hiddenDim,
                    vocab = header.vocab(), layers = header.nLayers,
                    qDim = (long double)header.nHeads * header.headSize(),
                    kvDim = header.kvDim();
  long double perLayer =
      2 * dim + qDim * dim + 2 * kvDim * dim + dim * qDim + 3 * hidden * dim;
  long double floats = vocab * dim + layers * perLayer + dim +
                       (long double)freqCisFloats(header);
  if (!header.sharedClassifier())
    floats += vocab * dim;
  return kLlama2cHeaderBytes + 4 * floats;
}

Status fieldError(const std::string &origin, const char *field,
                  const std::string &reason) {
  return Status::error(origin + ": " + field + ": " + reason);
}

} // namespace

Status llamac::runtime::validateLlama2cHeader(const Llama2cHeader &header,
                                              const std::string &origin) {
  struct Field {
    const char *name;
    int32_t value;
  };
  const Field positive[] = {{"dim", header.dim},
                            {"hidden_dim", header.hiddenDim},
                            {"n_layers", header.nLayers},
                            {"n_heads", header.nHeads},
                            {"n_kv_heads", header.nKvHeads},
                            {"seq_len", header.seqLen}};
  for (const Field &field : positive)
    if (field.value <= 0)
      return fieldError(origin, field.name,
                        "must be positive, got " + std::to_string(field.value));
  if (header.vocabSize == 0)
    return fieldError(origin, "vocab_size",
                      "must be non-zero (negative means an unshared "
                      "classifier), got 0");
  if (header.dim % header.nHeads != 0)
    return fieldError(origin, "dim",
                      std::to_string(header.dim) +
                          " is not divisible by n_heads " +
                          std::to_string(header.nHeads));
  if (header.nHeads % header.nKvHeads != 0)
    return fieldError(origin, "n_kv_heads",
                      "n_heads " + std::to_string(header.nHeads) +
                          " is not divisible by n_kv_heads " +
                          std::to_string(header.nKvHeads));
  // Beyond this no file can exist, and int64 size arithmetic would overflow.
  if (fileBytesEstimate(header) > (long double)(int64_t(1) << 60))
    return fieldError(origin, "header",
                      "its sizes imply more than 2^60 bytes of weights");
  return Status::success();
}

int64_t llamac::runtime::llama2cFileBytes(const Llama2cHeader &header) {
  return int64_t(fileBytesEstimate(header));
}

std::vector<TensorView>
llamac::runtime::llama2cTensorLayout(const Llama2cHeader &header) {
  std::vector<TensorView> result;
  for (Placement &placement : placements(header))
    result.push_back(std::move(placement.tensor));
  return result;
}

const TensorView *Llama2cCheckpoint::find(const std::string &name) const {
  for (const TensorView &tensor : tensors)
    if (tensor.name == name)
      return &tensor;
  return nullptr;
}

StatusOr<Llama2cCheckpoint>
llamac::runtime::readLlama2cCheckpoint(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> mapped = MappedFile::open(path);
  if (!mapped.ok())
    return mapped.status();
  std::shared_ptr<const MappedFile> file = std::move(mapped).value();
  if (file->size() < size_t(kLlama2cHeaderBytes))
    return Status::error(path + ": header: file has " +
                         std::to_string(file->size()) +
                         " bytes, fewer than the 28 of the 7 x int32 header");

  Llama2cCheckpoint checkpoint;
  int32_t fields[7];
  std::memcpy(fields, file->data(), sizeof(fields));
  Llama2cHeader &header = checkpoint.header;
  header.dim = fields[0];
  header.hiddenDim = fields[1];
  header.nLayers = fields[2];
  header.nHeads = fields[3];
  header.nKvHeads = fields[4];
  header.vocabSize = fields[5];
  header.seqLen = fields[6];
  LLAMAC_RETURN_IF_ERROR(validateLlama2cHeader(header, path));

  int64_t expected = llama2cFileBytes(header);
  int64_t found = int64_t(file->size());
  if (found != expected)
    return Status::error(path + ": " +
                         (found < expected ? "truncated" : "too long") +
                         ": expected " + std::to_string(expected) +
                         " bytes for the weights of this header, found " +
                         std::to_string(found));

  // The header is 28 bytes and the mapping page-aligned, so the floats are
  // 4-byte aligned and can be viewed in place.
  const float *weights =
      reinterpret_cast<const float *>(file->data() + kLlama2cHeaderBytes);
  for (Placement &placement : placements(header)) {
    placement.tensor.data = weights + placement.floatOffset;
    checkpoint.tensors.push_back(std::move(placement.tensor));
  }
  checkpoint.file = std::move(file);
  return checkpoint;
}

Status llamac::runtime::writeLlama2cCheckpoint(
    const std::string &path, const Llama2cHeader &header,
    const std::vector<TensorView> &tensors) {
  LLAMAC_RETURN_IF_ERROR(validateLlama2cHeader(header, path));
  std::vector<Placement> layout = placements(header);

  std::map<std::string, const TensorView *> byName;
  for (const TensorView &tensor : tensors)
    if (!byName.emplace(tensor.name, &tensor).second)
      return Status::error(path + ": " + tensor.name +
                           ": tensor given more than once");
  for (const Placement &placement : layout) {
    auto found = byName.find(placement.tensor.name);
    if (found == byName.end())
      return Status::error(path + ": " + placement.tensor.name +
                           ": missing; this header needs it");
    if (found->second->shape != placement.tensor.shape)
      return Status::error(path + ": " + placement.tensor.name + ": shape " +
                           shapeToString(found->second->shape) +
                           " does not match the header's " +
                           shapeToString(placement.tensor.shape));
    if (!found->second->data)
      return Status::error(path + ": " + placement.tensor.name + ": no data");
  }
  if (byName.size() != layout.size()) {
    for (const auto &[name, tensor] : byName) {
      bool expected = false;
      for (const Placement &placement : layout)
        expected |= placement.tensor.name == name;
      if (expected)
        continue;
      std::string reason =
          name == "output.weight"
              ? "given, but vocab_size > 0 says the classifier is shared"
              : "not part of a llama2.c checkpoint";
      return Status::error(path + ": " + name + ": " + reason);
    }
  }

  // Computed as Meta's precompute_freqs_cis does, in f32, so a file written
  // here matches what export.py's legacy_export writes. An odd head size
  // (which no RoPE model has) only pads the block to run.c's length.
  const int64_t half = header.headSize() / 2;
  std::vector<float> freqCos, freqSin;
  for (int32_t pos = 0; pos < header.seqLen; ++pos) {
    for (int64_t i = 0; i < half; ++i) {
      float freq =
          1.0f / std::pow(10000.0f, float(2 * i) / float(header.headSize()));
      float angle = float(pos) * freq;
      freqCos.push_back(std::cos(angle));
      freqSin.push_back(std::sin(angle));
    }
  }
  freqCos.resize(size_t(freqCisFloats(header) / 2), 0.0f);
  freqSin.resize(size_t(freqCisFloats(header) / 2), 0.0f);

  return writeFileAtomically(path, [&](FileSink &sink) {
    int32_t fields[7] = {header.dim,    header.hiddenDim, header.nLayers,
                         header.nHeads, header.nKvHeads,  header.vocabSize,
                         header.seqLen};
    sink.write(fields, sizeof(fields));
    for (const Placement &placement : layout) {
      if (placement.tensor.name == "output.weight") {
        sink.write(freqCos.data(), freqCos.size() * sizeof(float));
        sink.write(freqSin.data(), freqSin.size() * sizeof(float));
      }
      const TensorView *tensor = byName.at(placement.tensor.name);
      sink.write(tensor->data, size_t(tensor->numElements()) * sizeof(float));
    }
    if (header.sharedClassifier()) {
      sink.write(freqCos.data(), freqCos.size() * sizeof(float));
      sink.write(freqSin.data(), freqSin.size() * sizeof(float));
    }
    return Status::success();
  });
}
