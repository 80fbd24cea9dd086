//===- ModelDirectory.cpp - Files in a model directory --------------------===//

#include "runtime/ModelDirectory.h"

#include <sys/stat.h>

bool llamac::runtime::isDirectory(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string llamac::runtime::withoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  return path;
}

std::string llamac::runtime::parentDirectory(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string llamac::runtime::fileName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string llamac::runtime::joinPath(const std::string &directory,
                                      const std::string &name) {
  return withoutTrailingSlashes(directory) + "/" + name;
}

std::optional<std::string>
llamac::runtime::firstFileIn(const std::string &directory,
                             std::initializer_list<const char *> names) {
  for (const char *name : names) {
    std::string candidate = joinPath(directory, name);
    struct stat info;
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode))
      return candidate;
  }
  return std::nullopt;
}
