//===- CheckpointFormat.cpp - Which reader a checkpoint needs -------------===//

#include "runtime/CheckpointFormat.h"

#include "runtime/CheckpointIndex.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/ModelDirectory.h"
#include "runtime/Safetensors.h"
#include "runtime/SafetensorsCheckpoint.h"
#include "runtime/Strings.h"
#include "runtime/TorchCheckpoint.h"

using namespace llamac::runtime;

namespace {

constexpr const char *kDirectoryCheckpoints[] = {
    kSafetensorsIndexName, kSafetensorsSingleName,
    "pytorch_model.bin.index.json", "pytorch_model.bin", "consolidated.00.pth"};

/// The format of a checkpoint file that is not an index: by content, else
/// (a corrupt file) by a name only one format uses, so that the right
/// reader says what is wrong. `fromDirectory` says the name is one of
/// kDirectoryCheckpoints, none of which is llama2.c's.
CheckpointFormat formatOfData(const MappedFile &file, bool fromDirectory) {
  if (looksLikeTorchFile(file))
    return CheckpointFormat::Torch;
  if (looksLikeSafetensorsFile(file))
    return CheckpointFormat::Safetensors;
  const std::string &path = file.path();
  if (endsWith(path, ".safetensors"))
    return CheckpointFormat::Safetensors;
  if (endsWith(path, ".pth") || endsWith(path, ".pt") || fromDirectory)
    return CheckpointFormat::Torch;
  return CheckpointFormat::Llama2c;
}

} // namespace

StatusOr<std::string>
llamac::runtime::findCheckpointIn(const std::string &directory) {
  for (const char *name : kDirectoryCheckpoints)
    if (std::optional<std::string> found = firstFileIn(directory, {name}))
      return *found;
  std::string names;
  for (const char *name : kDirectoryCheckpoints)
    names += std::string(names.empty() ? "" : ", ") + name;
  return Status::error(directory + ": no checkpoint in this directory (" +
                       names + ")");
}

StatusOr<CheckpointLocation>
llamac::runtime::locateCheckpoint(const std::string &path) {
  CheckpointLocation location{path, CheckpointFormat::Llama2c};
  const bool fromDirectory = isDirectory(path);
  if (fromDirectory) {
    StatusOr<std::string> found = findCheckpointIn(path);
    if (!found.ok())
      return found.status();
    location.path = *found;
  }
  StatusOr<std::shared_ptr<const MappedFile>> file =
      MappedFile::open(location.path);
  // An unreadable file is the llama2.c reader's to report, as before.
  if (!file.ok())
    return location;
  if (!looksLikeJsonObject(**file)) {
    location.format = formatOfData(**file, fromDirectory);
    return location;
  }
  // An index: its shards say which format it indexes.
  StatusOr<std::vector<IndexedTensor>> entries = readCheckpointIndex(**file);
  if (!entries.ok())
    return entries.status();
  StatusOr<std::shared_ptr<const MappedFile>> shard =
      MappedFile::open(entries->front().shardPath);
  if (!shard.ok())
    return Status::error(location.path + ": weight_map: " +
                         entries->front().tensor + ": " + shard.message());
  location.format = formatOfData(**shard, true) == CheckpointFormat::Torch
                        ? CheckpointFormat::Torch
                        : CheckpointFormat::Safetensors;
  return location;
}

bool StoredTensors::hasHuggingFaceNames() const {
  for (const LazyTensor &tensor : tensors)
    if (isHuggingFaceName(tensor.name))
      return true;
  return false;
}

StatusOr<StoredTensors>
llamac::runtime::openStoredTensors(const CheckpointLocation &where) {
  StoredTensors result;
  if (where.format == CheckpointFormat::Safetensors) {
    StatusOr<SafetensorsCheckpoint> opened =
        openSafetensorsCheckpoint(where.path);
    if (!opened.ok())
      return opened.status();
    auto checkpoint =
        std::make_shared<SafetensorsCheckpoint>(std::move(*opened));
    result.origin = checkpoint->origin;
    for (const SafetensorsTensor &tensor : checkpoint->tensors)
      result.tensors.push_back(
          {tensor.name, tensor.shape,
           [checkpoint, &tensor]() -> StatusOr<std::vector<float>> {
             return convertToF32(tensor.type, tensor.data,
                                 tensor.numElements());
           }});
    return result;
  }
  if (where.format != CheckpointFormat::Torch)
    return Status::error(where.path +
                         ": a llama2.c checkpoint, not named tensors");
  StatusOr<TorchCheckpoint> opened = openTorchCheckpoint(where.path);
  if (!opened.ok())
    return opened.status();
  auto checkpoint = std::make_shared<TorchCheckpoint>(std::move(*opened));
  result.origin = checkpoint->origin;
  for (const TorchCheckpointTensor &tensor : checkpoint->tensors)
    result.tensors.push_back({tensor.name, tensor.shape, [checkpoint, &tensor] {
                                return tensor.toF32();
                              }});
  return result;
}
