//===- FrontendTestUtil.h - Helpers for the config reader tests -*- C++ -*-===//

#ifndef LLAMAC_TEST_UNIT_FRONTEND_FRONTENDTESTUTIL_H
#define LLAMAC_TEST_UNIT_FRONTEND_FRONTENDTESTUTIL_H

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include <string>

namespace llamac::test {

/// A fresh directory per test, removed afterwards, to write inputs into.
class TempDir {
public:
  TempDir() {
    std::error_code error =
        llvm::sys::fs::createUniqueDirectory("llamac-frontend", dir);
    EXPECT_FALSE(error) << error.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(dir); }

  /// Writes `contents` to `name` inside the directory; returns its path.
  std::string write(llvm::StringRef name, llvm::StringRef contents) const {
    std::string path = this->path(name);
    std::error_code error;
    llvm::raw_fd_ostream out(path, error);
    EXPECT_FALSE(error) << error.message();
    out << contents;
    return path;
  }

  std::string path(llvm::StringRef name) const {
    llvm::SmallString<128> path(dir);
    llvm::sys::path::append(path, name);
    return std::string(path);
  }

private:
  llvm::SmallString<128> dir;
};

/// The message of an expected failure, or a marker that makes the test's
/// substring checks fail when the call unexpectedly succeeded.
template <typename T> std::string errorText(llvm::Expected<T> result) {
  if (result)
    return "<unexpected success>";
  return llvm::toString(result.takeError());
}

inline std::string errorText(llvm::Error error) {
  if (!error)
    return "<unexpected success>";
  return llvm::toString(std::move(error));
}

} // namespace llamac::test

#endif // LLAMAC_TEST_UNIT_FRONTEND_FRONTENDTESTUTIL_H
