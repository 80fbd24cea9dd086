//===- Tensor.h - Named f32 tensors as checkpoint readers see them -*- C++
//-*-=//
//
// Checkpoint readers and converters exchange tensors by their Meta names
// ("layers.0.attention.wq.weight"), row-major, in f32. A view borrows its
// floats (usually from a mapped file); a Tensor owns them (after a dtype
// conversion or a row permutation).
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_TENSOR_H
#define LLAMAC_RUNTIME_TENSOR_H

#include <cstdint>
#include <string>
#include <vector>

namespace llamac::runtime {

/// Product of the dimensions; 1 for a scalar (empty shape).
inline int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

/// "[512, 64]", for error messages.
std::string shapeToString(const std::vector<int64_t> &shape);

/// Borrowed row-major f32 data; whoever produced it keeps it alive.
struct TensorView {
  std::string name;
  std::vector<int64_t> shape;
  const float *data = nullptr;

  int64_t numElements() const { return runtime::numElements(shape); }
};

/// Owned row-major f32 data.
struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t numElements() const { return runtime::numElements(shape); }
  TensorView view() const { return {name, shape, data.data()}; }
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_TENSOR_H
