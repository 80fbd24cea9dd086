//===- Llama2cCheckpoint.h - llama2.c "legacy" checkpoints -------*- C++
//-*-===//
//
// Reads and writes the version-0 checkpoint that llama2.c's run.c loads: a
// 7 x int32 header, then f32 tensors in run.c's memory_map_weights order. The
// reader names tensors as Meta's checkpoints do, so the compiler sees the same
// names whichever format a model came from.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_LLAMA2CCHECKPOINT_H
#define LLAMAC_RUNTIME_LLAMA2CCHECKPOINT_H

#include "runtime/MappedFile.h"
#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

/// The header exactly as stored. `vocabSize` keeps its sign: negative means
/// the classifier is stored separately (unshared) and the vocabulary is
/// |vocabSize|.
struct Llama2cHeader {
  int32_t dim = 0;
  int32_t hiddenDim = 0;
  int32_t nLayers = 0;
  int32_t nHeads = 0;
  int32_t nKvHeads = 0;
  int32_t vocabSize = 0;
  int32_t seqLen = 0;

  bool sharedClassifier() const { return vocabSize > 0; }
  int64_t vocab() const {
    return vocabSize < 0 ? -int64_t(vocabSize) : vocabSize;
  }
  int64_t headSize() const { return dim / nHeads; }
  int64_t kvDim() const { return headSize() * nKvHeads; }
};

/// Size in bytes of the header: 7 x int32.
constexpr int64_t kLlama2cHeaderBytes = 28;

/// The invariants run.c silently assumes. `origin` (usually the file) starts
/// the message: "ORIGIN: n_heads: must be positive, got 0".
Status validateLlama2cHeader(const Llama2cHeader &header,
                             const std::string &origin);

/// Total file size (header included) that a valid header implies, counting the
/// skipped freq_cis block and the classifier when unshared.
int64_t llama2cFileBytes(const Llama2cHeader &header);

/// The tensors of a header, in file order, with Meta names and shapes (data
/// left null). "output.weight" appears only for an unshared classifier.
std::vector<TensorView> llama2cTensorLayout(const Llama2cHeader &header);

/// A checkpoint whose tensors view into the mapped file.
struct Llama2cCheckpoint {
  Llama2cHeader header;
  std::vector<TensorView> tensors;
  /// Keeps the tensors' bytes alive.
  std::shared_ptr<const MappedFile> file;

  /// Null when absent (e.g. "output.weight" of a shared classifier).
  const TensorView *find(const std::string &name) const;
};

/// Maps `path` and checks its size against its header. Errors name the file
/// and field: missing file, header shorter than 28 bytes, invalid fields,
/// and "PATH: truncated: expected N bytes for the weights of this header,
/// found M" (or "too long: ...").
StatusOr<Llama2cCheckpoint> readLlama2cCheckpoint(const std::string &path);

/// Writes `tensors` (Meta names, any order) as a llama2.c checkpoint. Every
/// tensor of llama2cTensorLayout(header) must be present with that shape, and
/// no other. The freq_cis block is filled with the cos/sin table older run.c
/// versions read. Atomic: the file appears complete or not at all.
Status writeLlama2cCheckpoint(const std::string &path,
                              const Llama2cHeader &header,
                              const std::vector<TensorView> &tensors);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_LLAMA2CCHECKPOINT_H
