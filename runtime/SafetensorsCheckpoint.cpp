//===- SafetensorsCheckpoint.cpp - One or many .safetensors files ---------===//

#include "runtime/SafetensorsCheckpoint.h"

#include "runtime/AtomicFile.h"
#include "runtime/CheckpointIndex.h"
#include "runtime/Json.h"
#include "runtime/ModelDirectory.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

using namespace llamac::runtime;

namespace {

enum class PathKind { Missing, File, Directory, Other };

PathKind kindOf(const std::string &path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0)
    return PathKind::Missing;
  if (S_ISDIR(info.st_mode))
    return PathKind::Directory;
  return S_ISREG(info.st_mode) ? PathKind::File : PathKind::Other;
}

} // namespace

bool llamac::runtime::looksLikeSafetensorsFile(const MappedFile &file) {
  if (file.size() < 9 || file.data()[8] != '{')
    return false;
  uint64_t headerBytes = 0;
  std::memcpy(&headerBytes, file.data(), 8);
  return headerBytes <= file.size() - 8;
}

namespace {

StatusOr<SafetensorsCheckpoint> openSingleFile(const std::string &path) {
  StatusOr<SafetensorsFile> file = readSafetensors(path);
  if (!file.ok())
    return file.status();
  SafetensorsCheckpoint checkpoint;
  checkpoint.origin = path;
  checkpoint.tensors = std::move(file->tensors);
  checkpoint.files.push_back(std::move(file->file));
  return checkpoint;
}

StatusOr<SafetensorsCheckpoint> openIndex(const MappedFile &indexFile) {
  // Each shard is mapped and validated once.
  std::map<std::string, SafetensorsFile> shards;
  StatusOr<std::vector<const SafetensorsTensor *>> tensors =
      readIndexedTensors(indexFile, shards, readSafetensors);
  if (!tensors.ok())
    return tensors.status();
  SafetensorsCheckpoint checkpoint;
  checkpoint.origin = indexFile.path();
  checkpoint.sharded = true;
  for (const auto &[name, shard] : shards)
    checkpoint.files.push_back(shard.file);
  for (const SafetensorsTensor *tensor : *tensors)
    checkpoint.tensors.push_back(*tensor);
  return checkpoint;
}

} // namespace

StatusOr<SafetensorsCheckpoint>
llamac::runtime::openSafetensorsCheckpoint(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  if (looksLikeJsonObject(**file))
    return openIndex(**file);
  return openSingleFile(path);
}

std::optional<uint64_t>
llamac::runtime::parseByteSize(const std::string &text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit((unsigned char)text[digits]))
    ++digits;
  if (digits == 0 || digits > 19)
    return std::nullopt;
  uint64_t count = std::strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  std::string unit;
  for (char c : text.substr(digits))
    unit += char(std::toupper((unsigned char)c));
  static const std::pair<const char *, uint64_t> kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
      {"KIB", 1024},
      {"MIB", 1024 * 1024},
      {"GIB", 1024 * 1024 * 1024}};
  for (const auto &[name, scale] : kUnits)
    if (unit == name) {
      if (count == 0 || count > UINT64_MAX / scale)
        return std::nullopt;
      return count * scale;
    }
  return std::nullopt;
}

namespace {

/// A directory being filled: removed with what was written to it unless
/// committed.
class StagingDirectory {
public:
  ~StagingDirectory() {
    if (path.empty() || committed)
      return;
    for (const std::string &name : written)
      ::unlink(joinPath(path, name).c_str());
    ::rmdir(path.c_str());
  }

  /// Creates "FINAL.tmp-XXXXXX" beside `finalPath`.
  Status create(const std::string &finalPath) {
    std::string pattern = finalPath + ".tmp-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (!::mkdtemp(buffer.data()))
      return Status::error(
          finalPath +
          ": cannot create a directory beside it: " + std::strerror(errno));
    path = buffer.data();
    return Status::success();
  }

  std::string file(const std::string &name) {
    written.push_back(name);
    return joinPath(path, name);
  }

  /// Moves the directory to `finalPath` (absent, or an empty directory).
  Status commit(const std::string &finalPath) {
    // mkdtemp made it private; give it the mode mkdir would have.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    if (::chmod(path.c_str(), 0777 & ~mask) != 0 ||
        ::rename(path.c_str(), finalPath.c_str()) != 0)
      return Status::error(finalPath +
                           ": cannot move the written directory "
                           "into place: " +
                           std::strerror(errno));
    committed = true;
    return Status::success();
  }

private:
  std::string path;
  std::vector<std::string> written;
  bool committed = false;
};

bool isEmptyDirectory(const std::string &path) {
  DIR *dir = ::opendir(path.c_str());
  if (!dir)
    return false;
  bool empty = true;
  while (dirent *entry = ::readdir(dir))
    if (std::strcmp(entry->d_name, ".") != 0 &&
        std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  ::closedir(dir);
  return empty;
}

Status writeText(const std::string &path, const std::string &text) {
  return writeFileAtomically(path, [&](FileSink &sink) {
    sink.write(text.data(), text.size());
    return Status::success();
  });
}

std::string shardName(size_t index, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors",
                index + 1, count);
  return name;
}

} // namespace

Status llamac::runtime::writeSafetensorsDirectory(
    const std::string &directoryArg,
    const std::vector<SafetensorsTensor> &tensors, uint64_t maxShardBytes,
    const std::vector<std::pair<std::string, std::string>> &extraFiles,
    const std::map<std::string, std::string> &metadata) {
  const std::string directory = withoutTrailingSlashes(directoryArg);
  PathKind kind = kindOf(directory);
  if (kind == PathKind::Directory && !isEmptyDirectory(directory))
    return Status::error(directory +
                         ": exists and is not empty; name a new directory");
  if (kind != PathKind::Missing && kind != PathKind::Directory)
    return Status::error(directory + ": exists and is not a directory");
  if (maxShardBytes == 0)
    return Status::error(directory + ": the shard size must be positive");

  // Shards are filled in order; a tensor that would take the shard past
  // the limit starts the next one.
  std::vector<std::vector<const SafetensorsTensor *>> shards;
  uint64_t shardBytes = 0, totalBytes = 0;
  for (const SafetensorsTensor &tensor : tensors) {
    if (shards.empty() ||
        (shardBytes > 0 && shardBytes + tensor.byteSize > maxShardBytes)) {
      shards.emplace_back();
      shardBytes = 0;
    }
    shards.back().push_back(&tensor);
    shardBytes += tensor.byteSize;
    totalBytes += tensor.byteSize;
  }

  StagingDirectory staging;
  LLAMAC_RETURN_IF_ERROR(staging.create(directory));
  for (const auto &[name, content] : extraFiles)
    LLAMAC_RETURN_IF_ERROR(writeText(staging.file(name), content));
  if (shards.size() <= 1) {
    LLAMAC_RETURN_IF_ERROR(writeSafetensors(
        staging.file(kSafetensorsSingleName), tensors, metadata));
    return staging.commit(directory);
  }

  std::map<std::string, std::string> weightMap; // sorted, as transformers
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = shardName(i, shards.size());
    std::vector<SafetensorsTensor> shard;
    for (const SafetensorsTensor *tensor : shards[i]) {
      shard.push_back(*tensor);
      weightMap[tensor->name] = name;
    }
    LLAMAC_RETURN_IF_ERROR(
        writeSafetensors(staging.file(name), shard, metadata));
  }
  std::string index = "{\n  \"metadata\": {\n    \"total_size\": " +
                      std::to_string(totalBytes) +
                      "\n  },\n  \"weight_map\": {\n";
  size_t entry = 0;
  for (const auto &[tensor, shard] : weightMap)
    index += "    " + quoteJson(tensor) + ": " + quoteJson(shard) +
             (++entry < weightMap.size() ? ",\n" : "\n");
  index += "  }\n}\n";
  LLAMAC_RETURN_IF_ERROR(writeText(staging.file(kSafetensorsIndexName), index));
  return staging.commit(directory);
}
