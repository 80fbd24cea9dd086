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

#include <map>
#include <string>
#include <utility>
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

/// The weight_map of the index `file`, in its order. Errors read "INDEX:
/// REASON" or "INDEX: weight_map: TENSOR: REASON": invalid JSON, a missing,
/// malformed or empty weight_map, and a shard that is not a plain file name
/// in the index's directory (an index may not reach elsewhere).
StatusOr<std::vector<IndexedTensor>>
readCheckpointIndex(const MappedFile &file);

/// The tensor of every weight_map entry of the index `file`, in its order,
/// each found in its shard with `Shard::find(name)`. Each shard is opened
/// once, with `open(shardPath)` (a StatusOr<Shard>), into `shards` (by file
/// name), which keeps what the returned pointers point into. Errors read
/// "INDEX: weight_map: TENSOR: " then the opener's message, or "not in
/// SHARD, the shard the index names".
template <class Shard, class Open>
auto readIndexedTensors(const MappedFile &file,
                        std::map<std::string, Shard> &shards, Open open)
    -> StatusOr<std::vector<decltype(std::declval<const Shard &>().find(""))>> {
  StatusOr<std::vector<IndexedTensor>> entries = readCheckpointIndex(file);
  if (!entries.ok())
    return entries.status();
  std::vector<decltype(std::declval<const Shard &>().find(""))> tensors;
  for (const IndexedTensor &entry : *entries) {
    auto found = shards.find(entry.shard);
    if (found == shards.end()) {
      StatusOr<Shard> opened = open(entry.shardPath);
      if (!opened.ok())
        return Status::error(file.path() + ": weight_map: " + entry.tensor +
                             ": " + opened.message());
      found = shards.emplace(entry.shard, std::move(*opened)).first;
    }
    auto stored = found->second.find(entry.tensor);
    if (!stored)
      return Status::error(file.path() + ": weight_map: " + entry.tensor +
                           ": not in " + entry.shard +
                           ", the shard the index names");
    tensors.push_back(stored);
  }
  return tensors;
}

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CHECKPOINTINDEX_H
