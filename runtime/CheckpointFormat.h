//===- CheckpointFormat.h - Which reader a checkpoint needs ------*- C++
//-*-===//
//
// Users point llamac at a checkpoint however they got it: a llama2.c .bin,
// a .safetensors file, a torch.save archive (Meta's consolidated.00.pth,
// transformers' pytorch_model.bin), a sharded checkpoint's index, or the
// model directory that holds one of these. This tells them apart by
// content, not by name, and finds the checkpoint in a directory.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CHECKPOINTFORMAT_H
#define LLAMAC_RUNTIME_CHECKPOINTFORMAT_H

#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <functional>
#include <string>
#include <vector>

namespace llamac::runtime {

enum class CheckpointFormat { Llama2c, Safetensors, Torch };

/// A checkpoint's defining file and how to read it.
struct CheckpointLocation {
  std::string path;
  CheckpointFormat format = CheckpointFormat::Llama2c;
};

/// The checkpoint a model directory holds, preferring safetensors as
/// transformers does: model.safetensors.index.json, model.safetensors,
/// pytorch_model.bin.index.json, pytorch_model.bin, then Meta's
/// consolidated.00.pth (with its sibling ranks). An error lists these names
/// when there is none.
StatusOr<std::string> findCheckpointIn(const std::string &directory);

/// Where `path` (a file, an index or a directory) leads, by content: a zip
/// (or a pre-1.6 torch file) is Torch; a .safetensors header is
/// Safetensors; an index is the format of its first shard; anything else is
/// left to the llama2.c reader, which says what is wrong with it.
StatusOr<CheckpointLocation> locateCheckpoint(const std::string &path);

/// A tensor read when asked for: a checkpoint larger than memory converts
/// one tensor at a time.
struct LazyTensor {
  std::string name;
  std::vector<int64_t> shape;
  /// The row-major f32 values; may be called more than once.
  std::function<StatusOr<std::vector<float>>()> read;
};

/// A safetensors or torch checkpoint's tensors under their stored names, in
/// the checkpoint's order (what `llamac convert` works on). The readers keep
/// the files mapped for as long as any tensor lives.
struct StoredTensors {
  std::string origin;
  std::vector<LazyTensor> tensors;

  /// Whether the tensors carry Hugging Face's Llama names (one such
  /// name makes a checkpoint HF's, with wq/wk rows in half-split order).
  bool hasHuggingFaceNames() const;
};
StatusOr<StoredTensors> openStoredTensors(const CheckpointLocation &where);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CHECKPOINTFORMAT_H
