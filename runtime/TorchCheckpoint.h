//===- TorchCheckpoint.h - Checkpoints written by torch.save -----*- C++
//-*-===//
//
// Meta publishes Llama 2 as consolidated.NN.pth, one file per
// model-parallel rank (7B: 1, 13B: 2, 70B: 8), and transformers' older
// checkpoints are pytorch_model.bin, possibly sharded under
// pytorch_model.bin.index.json. Both are torch.save archives: a zip holding
// a pickled state dict (data.pkl) whose tensors are strided views of raw
// storages stored beside it (data/KEY). This reads them without Python and
// without running the pickle (Pickle.h), and joins Meta's model-parallel
// shards along the dimension each layer was split on.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_TORCHCHECKPOINT_H
#define LLAMAC_RUNTIME_TORCHCHECKPOINT_H

#include "runtime/MappedFile.h"
#include "runtime/Safetensors.h"
#include "runtime/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llamac::runtime {

/// One tensor of a torch.save archive: a strided view of a storage.
struct TorchTensor {
  std::string name;
  /// The archive holding it, which errors name.
  std::string file;
  /// The storage's class, such as "torch.BFloat16Storage".
  std::string storageType;
  /// Nullopt for storages of elements llamac does not read (int64, f64,
  /// bool, ...): such a tensor is listed, and only reading it fails.
  std::optional<ElementType> type;
  std::vector<int64_t> shape;
  /// In elements, as torch counts them.
  std::vector<int64_t> strides;
  /// The tensor's first element (its storage offset applied); every
  /// element the strides reach lies within the storage. Null when `type`
  /// is.
  const uint8_t *data = nullptr;

  int64_t numElements() const { return runtime::numElements(shape); }
  /// The values in row-major order as f32; an error "FILE: NAME: ..." for
  /// an element type llamac does not read.
  StatusOr<std::vector<float>> toF32() const;
};

/// A tensor of a checkpoint: one stored tensor, or the model-parallel
/// pieces of one, joined along `joinDim`.
struct TorchCheckpointTensor {
  std::string name;
  /// The joined shape.
  std::vector<int64_t> shape;
  std::vector<TorchTensor> pieces;
  /// The dimension the pieces are concatenated on; nullopt when every
  /// piece holds the whole tensor (a norm's gain, replicated on each rank).
  std::optional<size_t> joinDim;

  /// The joined values as f32. Replicated pieces must agree.
  StatusOr<std::vector<float>> toF32() const;
};

struct TorchCheckpoint {
  /// The file that defines the checkpoint (the archive, the index, or
  /// consolidated.00.pth), which errors name.
  std::string origin;
  /// In the order the state dict (or the index) lists them.
  std::vector<TorchCheckpointTensor> tensors;
  std::vector<std::shared_ptr<const MappedFile>> files;

  /// The tensor named `name`, or nullptr.
  const TorchCheckpointTensor *find(const std::string &name) const;
};

/// Reads one torch.save archive's state dict. Errors read "PATH: REASON" or
/// "PATH: data.pkl: byte N: REASON": not a zip (with advice for the legacy
/// pre-1.6 format), a zip torch did not write, a big-endian archive, a
/// pickle that is not a flat dict of tensors or names any function besides
/// torch's tensor and storage rebuilders, and a view that reaches past its
/// storage.
StatusOr<TorchCheckpoint> readTorchArchive(const std::string &path);

/// Opens a torch checkpoint: an archive; Meta's consolidated.NN.pth, which
/// brings in its siblings consolidated.00.pth, consolidated.01.pth, ... as
/// model-parallel ranks (they must be numbered without gaps and hold the
/// same tensors, split as Meta's model code splits each layer); or
/// pytorch_model.bin.index.json and its shards.
StatusOr<TorchCheckpoint> openTorchCheckpoint(const std::string &path);

/// Whether `file` is a torch.save archive: a zip, or the legacy format
/// (a pickled magic number), which openTorchCheckpoint explains.
bool looksLikeTorchFile(const MappedFile &file);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_TORCHCHECKPOINT_H
