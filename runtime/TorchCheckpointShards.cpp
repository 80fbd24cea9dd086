//===- TorchCheckpointShards.cpp - Torch checkpoints in several files -----===//
//
// Two ways a torch checkpoint spans files. transformers' index maps each
// tensor to the shard holding it whole. Meta's model-parallel ranks each
// hold a slice of every matrix: fairscale's ColumnParallelLinear splits the
// output rows (wq, wk, wv, w1, w3, the classifier), RowParallelLinear the
// input columns (wo, w2), ParallelEmbedding the embedding's columns, and
// the norms' gains are whole on every rank.
//
//===----------------------------------------------------------------------===//

#include "runtime/CheckpointIndex.h"
#include "runtime/ModelDirectory.h"
#include "runtime/TorchCheckpoint.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <map>

using namespace llamac::runtime;

namespace {

bool endsWith(const std::string &text, const char *suffix) {
  size_t length = std::strlen(suffix);
  return text.size() >= length &&
         text.compare(text.size() - length, length, suffix) == 0;
}

/// How Meta's model code splits `name` (a Meta tensor name) across ranks:
/// the dimension, nullopt for a tensor every rank holds whole, or false
/// for a name Meta's model does not have.
std::optional<std::optional<size_t>> metaSplitDim(const std::string &name) {
  for (const char *rows :
       {"attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
        "feed_forward.w1.weight", "feed_forward.w3.weight"})
    if (endsWith(name, rows))
      return std::optional<size_t>(0);
  if (name == "output.weight")
    return std::optional<size_t>(0);
  if (endsWith(name, "attention.wo.weight") ||
      endsWith(name, "feed_forward.w2.weight") ||
      name == "tok_embeddings.weight")
    return std::optional<size_t>(1);
  if (endsWith(name, "attention_norm.weight") ||
      endsWith(name, "ffn_norm.weight") || name == "norm.weight" ||
      name == "rope.freqs")
    return std::optional<size_t>();
  return std::nullopt;
}

/// The rank NN of a file named consolidated.NN.pth, or -1.
int consolidatedRank(const std::string &fileName) {
  const std::string prefix = "consolidated.", suffix = ".pth";
  if (fileName.size() <= prefix.size() + suffix.size() ||
      fileName.compare(0, prefix.size(), prefix) != 0 ||
      !endsWith(fileName, suffix.c_str()))
    return -1;
  std::string digits = fileName.substr(
      prefix.size(), fileName.size() - prefix.size() - suffix.size());
  if (digits.size() < 2 || digits.size() > 3 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return std::isdigit((unsigned char)c); }))
    return -1;
  return std::stoi(digits);
}

std::string baseName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string rankFileName(int rank) {
  char name[32];
  std::snprintf(name, sizeof(name), "consolidated.%02d.pth", rank);
  return name;
}

/// The paths of every rank beside `path`, in rank order.
StatusOr<std::vector<std::string>> rankFiles(const std::string &path) {
  std::string directory = parentDirectory(path);
  DIR *listing = ::opendir(directory.c_str());
  if (!listing)
    return Status::error(directory + ": cannot list the directory");
  std::map<int, std::string> ranks;
  while (dirent *entry = ::readdir(listing)) {
    int rank = consolidatedRank(entry->d_name);
    if (rank >= 0)
      ranks.emplace(rank, entry->d_name);
  }
  ::closedir(listing);
  std::vector<std::string> paths;
  for (const auto &[rank, name] : ranks) {
    if (rank != int(paths.size()))
      return Status::error(joinPath(directory, name) + ": rank " +
                           std::to_string(rank) + " of a model-parallel " +
                           "checkpoint, but " +
                           rankFileName(int(paths.size())) + " is missing");
    paths.push_back(joinPath(directory, name));
  }
  return paths;
}

/// Joins the ranks' state dicts into one, each tensor along the dimension
/// Meta's model split it on.
StatusOr<TorchCheckpoint> joinRanks(std::vector<TorchCheckpoint> ranks) {
  TorchCheckpoint joined;
  joined.origin = ranks[0].origin;
  for (TorchCheckpoint &rank : ranks)
    for (auto &file : rank.files)
      joined.files.push_back(file);
  std::vector<std::map<std::string, const TorchCheckpointTensor *>> byName(
      ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r)
    for (const TorchCheckpointTensor &tensor : ranks[r].tensors)
      byName[r][tensor.name] = &tensor;
  for (size_t r = 1; r < ranks.size(); ++r) {
    for (const auto &[name, tensor] : byName[r])
      if (!byName[0].count(name))
        return Status::error(ranks[r].origin + ": " + name + ": not in " +
                             ranks[0].origin +
                             ", though every rank holds the same tensors");
    if (byName[r].size() != byName[0].size())
      for (const auto &[name, tensor] : byName[0])
        if (!byName[r].count(name))
          return Status::error(ranks[r].origin + ": " + name +
                               ": missing, though " + ranks[0].origin +
                               " and every other rank hold it");
  }

  for (const TorchCheckpointTensor &first : ranks[0].tensors) {
    std::optional<std::optional<size_t>> split = metaSplitDim(first.name);
    if (!split)
      return Status::error(
          ranks[0].origin + ": " + first.name +
          ": not a tensor of Meta's Llama, so how its model-parallel ranks "
          "split it is unknown");
    TorchCheckpointTensor tensor;
    tensor.name = first.name;
    tensor.joinDim = *split;
    tensor.shape = first.shape;
    for (size_t r = 0; r < ranks.size(); ++r) {
      const TorchCheckpointTensor &piece = *byName[r][first.name];
      const std::vector<int64_t> &shape = piece.shape;
      bool fits = shape.size() == first.shape.size();
      for (size_t d = 0; fits && d < shape.size(); ++d)
        fits = d == tensor.joinDim || shape[d] == first.shape[d];
      if (!fits || (tensor.joinDim && *tensor.joinDim >= shape.size()))
        return Status::error(
            ranks[r].origin + ": " + first.name + ": shape " +
            shapeToString(shape) + " does not fit " + ranks[0].origin + "'s " +
            shapeToString(first.shape) +
            (tensor.joinDim ? " (the ranks split dimension " +
                                  std::to_string(*tensor.joinDim) + ")"
                            : " (every rank holds it whole)"));
      if (r > 0 && tensor.joinDim)
        tensor.shape[*tensor.joinDim] += shape[*tensor.joinDim];
      tensor.pieces.push_back(piece.pieces[0]);
      tensor.pieceFiles.push_back(ranks[r].origin);
    }
    joined.tensors.push_back(std::move(tensor));
  }
  return joined;
}

StatusOr<TorchCheckpoint> openRanks(const std::string &path) {
  StatusOr<std::vector<std::string>> paths = rankFiles(path);
  if (!paths.ok())
    return paths.status();
  std::vector<TorchCheckpoint> ranks;
  for (const std::string &rankPath : *paths) {
    StatusOr<TorchCheckpoint> rank = readTorchArchive(rankPath);
    if (!rank.ok())
      return rank.status();
    ranks.push_back(std::move(*rank));
  }
  if (ranks.size() == 1)
    return std::move(ranks[0]);
  return joinRanks(std::move(ranks));
}

StatusOr<TorchCheckpoint> openIndex(const MappedFile &indexFile) {
  const std::string &path = indexFile.path();
  StatusOr<std::vector<IndexedTensor>> weightMap =
      readCheckpointIndex(indexFile);
  if (!weightMap.ok())
    return weightMap.status();
  std::map<std::string, TorchCheckpoint> shards;
  std::map<std::string, std::map<std::string, const TorchCheckpointTensor *>>
      shardTensors;
  TorchCheckpoint checkpoint;
  checkpoint.origin = path;
  for (const IndexedTensor &entry : *weightMap) {
    auto found = shards.find(entry.shard);
    if (found == shards.end()) {
      StatusOr<TorchCheckpoint> shard = readTorchArchive(entry.shardPath);
      if (!shard.ok())
        return Status::error(path + ": weight_map: " + entry.tensor + ": " +
                             shard.message());
      for (auto &file : shard->files)
        checkpoint.files.push_back(file);
      found = shards.emplace(entry.shard, std::move(*shard)).first;
      for (const TorchCheckpointTensor &tensor : found->second.tensors)
        shardTensors[entry.shard][tensor.name] = &tensor;
    }
    auto stored = shardTensors[entry.shard].find(entry.tensor);
    if (stored == shardTensors[entry.shard].end())
      return Status::error(path + ": weight_map: " + entry.tensor +
                           ": not in " + entry.shard +
                           ", the shard the index names");
    checkpoint.tensors.push_back(*stored->second);
  }
  return checkpoint;
}

} // namespace

StatusOr<TorchCheckpoint>
llamac::runtime::openTorchCheckpoint(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  if (looksLikeJsonObject(**file))
    return openIndex(**file);
  if (consolidatedRank(baseName(path)) >= 0)
    return openRanks(path);
  return readTorchArchive(path);
}
