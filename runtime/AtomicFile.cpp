//===- AtomicFile.cpp - Write a file all at once or not at all ------------===//

#include "runtime/AtomicFile.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace llamac::runtime;

void FileSink::write(const void *data, size_t size) {
  const char *cursor = static_cast<const char *>(data);
  while (!hasFailed && size > 0) {
    ssize_t written = ::write(fd, cursor, size);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      hasFailed = true;
      savedErrno = errno;
      return;
    }
    cursor += written;
    size -= static_cast<size_t>(written);
  }
}

Status llamac::runtime::writeFileAtomically(
    const std::string &path, const std::function<Status(FileSink &)> &produce) {
  std::string pattern = path + ".tmp.XXXXXX";
  std::vector<char> tempName(pattern.begin(), pattern.end());
  tempName.push_back('\0');
  int fd = ::mkstemp(tempName.data());
  if (fd < 0)
    return Status::error(
        path + ": cannot create temporary file: " + std::strerror(errno));
  std::string tempPath(tempName.data());
  // mkstemp creates the file 0600; checkpoints are meant to be shared, so
  // widen it to 0644. (Reading the umask would race with other threads.)
  ::fchmod(fd, 0644);

  auto fail = [&](const std::string &message) {
    ::close(fd);
    ::unlink(tempPath.c_str());
    return Status::error(message);
  };

  FileSink sink(fd);
  Status produced = produce(sink);
  if (!produced.ok())
    return fail(produced.message());
  if (sink.failed())
    return fail(path + ": write failed: " + std::strerror(sink.savedErrno));
  if (::fsync(fd) != 0)
    return fail(path + ": fsync failed: " + std::strerror(errno));
  if (::close(fd) != 0) {
    int saved = errno;
    ::unlink(tempPath.c_str());
    return Status::error(path + ": close failed: " + std::strerror(saved));
  }
  if (::rename(tempPath.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(tempPath.c_str());
    return Status::error(path + ": cannot rename temporary file into place: " +
                         std::strerror(saved));
  }
  return Status::success();
}
