//===- Safetensors.h - Hugging Face .safetensors files -----------*- C++
//-*-===//
//
// The format: an 8-byte little-endian header length, a JSON header mapping
// each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets
// relative to the byte buffer after the header) plus an optional
// "__metadata__" object of strings, then the buffer. The reader validates
// every offset before any tensor is viewed, so a corrupt file is an error,
// never an out-of-bounds read.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_SAFETENSORS_H
#define LLAMAC_RUNTIME_SAFETENSORS_H

#include "runtime/MappedFile.h"
#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llamac::runtime {

/// The element types Llama checkpoints use. Others (I64, F64, ...) are
/// rejected by name.
enum class ElementType { F32, F16, BF16 };

/// "F32", "F16", "BF16": the safetensors spelling.
const char *toSafetensorsName(ElementType type);
std::optional<ElementType> parseSafetensorsDType(const std::string &name);
size_t elementSize(ElementType type);

/// Converts `count` elements of `type` at `bytes` (any alignment) to f32.
std::vector<float> convertToF32(ElementType type, const uint8_t *bytes,
                                int64_t count);
/// The little-endian bytes of `data` stored as `type` (rounding to nearest
/// even for F16/BF16).
std::vector<uint8_t> convertFromF32(ElementType type, const float *data,
                                    int64_t count);

/// One tensor's raw bytes, borrowed from a mapped file or from the caller,
/// or (for writing) made when written.
struct SafetensorsTensor {
  std::string name;
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  size_t byteSize = 0;
  /// For a tensor to write with no `data`: makes its byteSize bytes when
  /// the writer reaches it, so that a checkpoint larger than memory is
  /// written one tensor at a time.
  std::function<StatusOr<std::vector<uint8_t>>()> produce;

  int64_t numElements() const { return runtime::numElements(shape); }
  /// The values as an owned f32 tensor of the same name and shape.
  Tensor toF32() const;
};

struct SafetensorsFile {
  /// In data-offset order, which is the order writers lay tensors out.
  std::vector<SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;
  /// Keeps the tensors' bytes alive.
  std::shared_ptr<const MappedFile> file;

  const SafetensorsTensor *find(const std::string &name) const;
};

/// Maps and validates `path`. Errors read "PATH: TENSOR: REASON" (or
/// "PATH: header: REASON"): header length beyond the file, malformed JSON,
/// unknown dtype, offsets out of range or overlapping, and a shape whose
/// element count times the dtype size differs from its offset span.
StatusOr<SafetensorsFile> readSafetensors(const std::string &path);

/// F32 views of `tensors`, which must outlive them: what writeSafetensors
/// takes.
std::vector<SafetensorsTensor> f32Views(const std::vector<Tensor> &tensors);

/// Writes `tensors` in the given order, with the header padded by spaces to
/// a multiple of 8 bytes so every tensor starts 8-byte aligned (as the
/// reference writer does); a tensor with `produce` is made as it is
/// written, and its error ends the write. Atomic: the file appears complete
/// or not at all.
Status
writeSafetensors(const std::string &path,
                 const std::vector<SafetensorsTensor> &tensors,
                 const std::map<std::string, std::string> &metadata = {});

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_SAFETENSORS_H
