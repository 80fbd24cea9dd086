//===- MappedFile.cpp - Read-only memory-mapped files ---------------------===//

#include "runtime/MappedFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace llamac::runtime;

StatusOr<std::shared_ptr<const MappedFile>>
MappedFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::error(path + ": cannot open: " + std::strerror(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    int saved = errno;
    ::close(fd);
    return Status::error(path + ": cannot stat: " + std::strerror(saved));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status::error(path + ": cannot open: not a regular file");
  }
  size_t length = static_cast<size_t>(info.st_size);
  const uint8_t *bytes = nullptr;
  if (length > 0) {
    void *mapping = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      int saved = errno;
      ::close(fd);
      return Status::error(path + ": cannot map: " + std::strerror(saved));
    }
    bytes = static_cast<const uint8_t *>(mapping);
  }
  // The mapping stays valid after the descriptor is closed.
  ::close(fd);
  return std::shared_ptr<const MappedFile>(new MappedFile(path, bytes, length));
}

MappedFile::~MappedFile() {
  if (bytes)
    ::munmap(const_cast<uint8_t *>(bytes), length);
}
