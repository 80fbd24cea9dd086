//===- AlignedBuffer.h - Zeroed, cache-line aligned memory -------*- C++
//-*-===//
//
// Kernels are compiled assuming every buffer starts on a 64-byte boundary
// (512-bit vectors, no false sharing between threads), which new[] does not
// promise.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ALIGNEDBUFFER_H
#define LLAMAC_RUNTIME_ALIGNEDBUFFER_H

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace llamac::runtime {

inline constexpr size_t kBufferAlignment = 64;

class AlignedBuffer {
public:
  AlignedBuffer() = default;
  /// Zero-filled. Null when the allocation fails; a size of 0 still gets a
  /// distinct aligned address, so kernels never see null.
  explicit AlignedBuffer(size_t bytes) {
    size_t rounded =
        (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    if (rounded == 0)
      rounded = kBufferAlignment;
    memory.reset(
        static_cast<uint8_t *>(std::aligned_alloc(kBufferAlignment, rounded)));
    if (memory) {
      std::memset(memory.get(), 0, rounded);
      length = bytes;
    }
  }

  uint8_t *data() const { return memory.get(); }
  size_t size() const { return length; }
  explicit operator bool() const { return memory != nullptr; }
  void clear() {
    if (memory)
      std::memset(memory.get(), 0, length);
  }

private:
  struct Free {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> memory;
  size_t length = 0;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_ALIGNEDBUFFER_H
