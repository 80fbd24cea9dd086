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
#include "runtime/Strings.h"
#include "runtime/TorchCheckpoint.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <dirent.h>
#include <map>

using namespace llamac::runtime;

namespace {

/// How Meta's model code splits a tensor across ranks.
enum class MetaSplit { Rows, Columns, Whole, Unknown };

/// The split of `name`, a Meta tensor name; Unknown for a name Meta's
/// model does not have.
MetaSplit metaSplit(const std::string &name) {
  for (const char *rows :
       {"attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
        "feed_forward.w1.weight", "feed_forward.w3.weight"})
    if (endsWith(name, rows))
      return MetaSplit::Rows;
  if (name == "output.weight")
    return MetaSplit::Rows;
  if (endsWith(name, "attention.wo.weight") ||
      endsWith(name, "feed_forward.w2.weight") ||
      name == "tok_embeddings.weight")
    return MetaSplit::Columns;
  if (endsWith(name, "attention_norm.weight") ||
      endsWith(name, "ffn_norm.weight") || name == "norm.weight" ||
      name == "rope.freqs")
    return MetaSplit::Whole;
  return MetaSplit::Unknown;
}

/// The rank NN of a file named consolidated.NN.pth, or -1.
int consolidatedRank(const std::string &fileName) {
  const std::string prefix = "consolidated.", suffix = ".pth";
  if (fileName.size() <= prefix.size() + suffix.size() ||
      fileName.compare(0, prefix.size(), prefix) != 0 ||
      !endsWith(fileName, suffix))
    return -1;
  std::string digits = fileName.substr(
      prefix.size(), fileName.size() - prefix.size() - suffix.size());
  if (digits.size() < 2 || digits.size() > 3 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return std::isdigit((unsigned char)c); }))
    return -1;
  return std::stoi(digits);
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
  for (size_t r = 1; r < ranks.size(); ++r) {
    for (const TorchCheckpointTensor &tensor : ranks[r].tensors)
      if (!ranks[0].find(tensor.name))
        return Status::error(ranks[r].origin + ": " + tensor.name +
                             ": not in " + ranks[0].origin +
                             ", though every rank holds the same tensors");
    if (ranks[r].tensors.size() != ranks[0].tensors.size())
      for (const TorchCheckpointTensor &tensor : ranks[0].tensors)
        if (!ranks[r].find(tensor.name))
          return Status::error(ranks[r].origin + ": " + tensor.name +
                               ": missing, though " + ranks[0].origin +
                               " and every other rank hold it");
  }

  for (const TorchCheckpointTensor &first : ranks[0].tensors) {
    MetaSplit split = metaSplit(first.name);
    if (split == MetaSplit::Unknown)
      return Status::error(
          ranks[0].origin + ": " + first.name +
          ": not a tensor of Meta's Llama, so how its model-parallel ranks "
          "split it is unknown");
    TorchCheckpointTensor tensor;
    tensor.name = first.name;
    if (split != MetaSplit::Whole)
      tensor.joinDim = split == MetaSplit::Rows ? 0 : 1;
    tensor.shape = first.shape;
    for (size_t r = 0; r < ranks.size(); ++r) {
      const TorchCheckpointTensor &piece = *ranks[r].find(first.name);
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
  std::map<std::string, TorchCheckpoint> shards;
  StatusOr<std::vector<const TorchCheckpointTensor *>> tensors =
      readIndexedTensors(indexFile, shards, readTorchArchive);
  if (!tensors.ok())
    return tensors.status();
  TorchCheckpoint checkpoint;
  checkpoint.origin = indexFile.path();
  for (const auto &[name, shard] : shards)
    for (const auto &file : shard.files)
      checkpoint.files.push_back(file);
  for (const TorchCheckpointTensor *tensor : *tensors)
    checkpoint.tensors.push_back(*tensor);
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
  if (consolidatedRank(fileName(path)) >= 0)
    return openRanks(path);
  return readTorchArchive(path);
}
