//===- CheckpointIndex.h - The index of a sharded checkpoint -----*- C++
//-*-===//
//
// transformers' save_pretrained splits a large model into shards and writes
// an index beside them, {"weight_map": {TENSOR: SHARD_FILE}}, in the same
// shape for safetensors (model.safetensors.index.json) and for PyTorch
// pickles (pytorch_model.bin.index.json). Both readers take the map from
// here.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CHECKPOINTINDEX_H
#define LLAMAC_RUNTIME_CHECKPOINTINDEX_H

#include "runtime/MappedFile.h"
#include "runtime/Status.h"

#include <string>
#include <vector>

namespace llamac::runtime {

/// One entry of a weight_map.
struct IndexedTensor {
  std::string tensor;
  /// The shard's file name, as the index writes it.
  std::string shard;
  /// The shard's path: the file name in the index's directory.
  std::string shardPath;
};

/// Whether `file` starts a JSON object (after blanks), as an index does and
/// no binary checkpoint can.
bool looksLikeJsonObject(const MappedFile &file);

/// The directory holding `file`.
std::string parentDirectory(const std::string &file);

/// The weight_map of the index `file`, in its order. Errors read "INDEX:
/// REASON" or "INDEX: weight_map: TENSOR: REASON": invalid JSON, a missing,
/// malformed or empty weight_map, and a shard that is not a plain file name
/// in the index's directory (an index may not reach elsewhere).
StatusOr<std::vector<IndexedTensor>>
readCheckpointIndex(const MappedFile &file);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CHECKPOINTINDEX_H
