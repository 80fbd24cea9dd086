//===- SafetensorsCheckpoint.h - One or many .safetensors files --*- C++
//-*-===//
//
// Hugging Face publishes Llama 2 as a model directory: config.json and the
// weights, either in one model.safetensors or, for anything past a few GB
// (all of 7B, 13B and 70B), in shards model-0000i-of-0000n.safetensors that
// model.safetensors.index.json lists ({"weight_map": {TENSOR: SHARD}}).
// This reads any of the three spellings (a file, an index, a directory) as
// one list of tensors, and writes a directory the way transformers'
// save_pretrained does, so that transformers loads what llamac writes.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_SAFETENSORSCHECKPOINT_H
#define LLAMAC_RUNTIME_SAFETENSORSCHECKPOINT_H

#include "runtime/Safetensors.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace llamac::runtime {

inline constexpr char kSafetensorsIndexName[] = "model.safetensors.index.json";
inline constexpr char kSafetensorsSingleName[] = "model.safetensors";

/// A checkpoint's tensors, from one file or from the shards an index lists.
struct SafetensorsCheckpoint {
  /// The file that defines the checkpoint (the .safetensors file or the
  /// index), which errors about its tensors name.
  std::string origin;
  /// Every tensor: a single file's in data order, an index's in its
  /// weight_map's order. Each views bytes that `files` keeps mapped.
  std::vector<SafetensorsTensor> tensors;
  std::vector<std::shared_ptr<const MappedFile>> files;
  /// Whether the tensors come from shards through an index.
  bool sharded = false;
};

/// Whether `file` is a .safetensors file: a little-endian header length
/// within the file, then the header's '{' (a llama2.c header there would
/// need dim, hidden_dim and n_layers to spell that).
bool looksLikeSafetensorsFile(const MappedFile &file);

/// Opens an index or a single .safetensors file, told apart by content (a
/// model directory's is found by findCheckpointIn, CheckpointFormat.h). Every
/// shard the index names is mapped and validated (readSafetensors), and every
/// tensor of its weight_map must be in the shard it names. Errors read "INDEX:
/// REASON", "INDEX: weight_map: TENSOR: REASON" or the shard reader's "SHARD:
/// ...".
StatusOr<SafetensorsCheckpoint>
openSafetensorsCheckpoint(const std::string &path);

/// Parses a size such as 5GB, 500MB, 2GiB or 1000000 (bytes): KB, MB and GB
/// are powers of 1000 and KiB, MiB and GiB powers of 1024, as in
/// transformers' max_shard_size. Nullopt for anything else, or 0.
std::optional<uint64_t> parseByteSize(const std::string &text);

/// Writes `tensors` into `directory` (created; it must not exist or be
/// empty) with `extraFiles` (name, content) beside them: one
/// model.safetensors when they fit in `maxShardBytes`, else shards of at
/// most that many bytes each (a larger tensor gets a shard of its own),
/// filled in order, with model.safetensors.index.json. Everything is
/// written into a temporary directory beside it that is renamed into place,
/// so the directory appears complete or not at all.
Status writeSafetensorsDirectory(
    const std::string &directory, const std::vector<SafetensorsTensor> &tensors,
    uint64_t maxShardBytes,
    const std::vector<std::pair<std::string, std::string>> &extraFiles,
    const std::map<std::string, std::string> &metadata = {});

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_SAFETENSORSCHECKPOINT_H
