//===- AtomicFile.h - Write a file all at once or not at all -----*- C++
//-*-===//
//
// A crash or a full disk halfway through writing a checkpoint must never leave
// a truncated file under the final name, where a later run would mistake it
// for a real one. Writers therefore fill a temporary file in the same
// directory (so rename cannot cross file systems) and rename it into place.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ATOMICFILE_H
#define LLAMAC_RUNTIME_ATOMICFILE_H

#include "runtime/Status.h"

#include <cstddef>
#include <functional>
#include <string>

namespace llamac::runtime {

/// Appends bytes to the temporary file; errors are remembered and reported
/// once by writeFileAtomically, so callers need not check every write.
class FileSink {
public:
  void write(const void *data, size_t size);
  bool failed() const { return hasFailed; }

private:
  friend Status writeFileAtomically(const std::string &,
                                    const std::function<Status(FileSink &)> &);
  explicit FileSink(int fd) : fd(fd) {}
  int fd;
  bool hasFailed = false;
  int savedErrno = 0;
};

/// Creates `path` with the bytes `produce` writes. Either the complete file
/// appears under `path` or `path` is left as it was.
Status writeFileAtomically(const std::string &path,
                           const std::function<Status(FileSink &)> &produce);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_ATOMICFILE_H
