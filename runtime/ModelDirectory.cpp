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
