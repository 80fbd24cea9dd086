//===- CheckpointIndex.cpp - The index of a sharded checkpoint ------------===//

#include "runtime/CheckpointIndex.h"

#include "runtime/Json.h"
#include "runtime/ModelDirectory.h"

#include <cctype>
#include <string_view>

using namespace llamac::runtime;

namespace {

/// An index names its shards by file name alone, in its own directory; a
/// name that reaches elsewhere is refused rather than followed.
bool isPlainFileName(const std::string &name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

} // namespace

bool llamac::runtime::looksLikeJsonObject(const MappedFile &file) {
  for (size_t i = 0; i < file.size(); ++i) {
    if (file.data()[i] == '{')
      return true;
    if (!std::isspace(file.data()[i]))
      return false;
  }
  return false;
}

StatusOr<std::vector<IndexedTensor>>
llamac::runtime::readCheckpointIndex(const MappedFile &file) {
  const std::string &path = file.path();
  std::string_view text(reinterpret_cast<const char *>(file.data()),
                        file.size());
  StatusOr<JsonValue> parsed = parseJson(text);
  if (!parsed.ok())
    return Status::error(path + ": invalid JSON: " + parsed.message());
  if (!parsed->isObject())
    return Status::error(path + ": not a JSON object");
  const JsonValue *weightMap = parsed->get("weight_map");
  if (!weightMap)
    return Status::error(path + ": weight_map: missing (an index maps each "
                                "tensor to its shard there)");
  if (!weightMap->isObject())
    return Status::error(path + ": weight_map: not a JSON object");
  if (weightMap->object.empty())
    return Status::error(path + ": weight_map: empty");

  const std::string directory = parentDirectory(path);
  std::vector<IndexedTensor> entries;
  for (const auto &[tensor, shard] : weightMap->object) {
    if (!shard.isString())
      return Status::error(path + ": weight_map: " + tensor +
                           ": the shard is not a string");
    if (!isPlainFileName(shard.string))
      return Status::error(path + ": weight_map: " + tensor + ": shard \"" +
                           shard.string +
                           "\" is not a file name in the index's directory");
    entries.push_back(
        {tensor, shard.string, joinPath(directory, shard.string)});
  }
  return entries;
}
