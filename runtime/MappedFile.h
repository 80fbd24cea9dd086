//===- MappedFile.h - Read-only memory-mapped files --------------*- C++
//-*-===//
//
// Checkpoints are large and read once; mapping them lets tensors view the
// file's bytes without a copy, and lets the OS page them in lazily.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_MAPPEDFILE_H
#define LLAMAC_RUNTIME_MAPPEDFILE_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace llamac::runtime {

/// A whole file mapped read-only. Readers hand out views into it and keep a
/// shared_ptr so the mapping outlives every view.
class MappedFile {
public:
  /// Maps `path`. Fails with "PATH: cannot open: REASON" when it is missing or
  /// unreadable. An empty file maps to size() == 0 and data() == nullptr.
  static StatusOr<std::shared_ptr<const MappedFile>>
  open(const std::string &path);

  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return bytes; }
  size_t size() const { return length; }
  const std::string &path() const { return filePath; }

private:
  MappedFile(std::string path, const uint8_t *bytes, size_t length)
      : filePath(std::move(path)), bytes(bytes), length(length) {}

  std::string filePath;
  const uint8_t *bytes;
  size_t length;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_MAPPEDFILE_H
