//===- TestAssets.h - Real model files and scratch space for tests -*- C++ -*-//
//
// Tests read the real assets (stories260K.bin, tok512.bin, the Llama 2
// SentencePiece model) from outside the repository and skip, saying which
// file is missing, where they are not installed. Anything a test writes goes
// to a fresh temporary directory, never into the source tree.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TEST_UNIT_RUNTIME_TESTASSETS_H
#define LLAMAC_TEST_UNIT_RUNTIME_TESTASSETS_H

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace llamac::test {

/// $LLAMAC_MODELS_DIR, else <source root>/../shared/models.
std::string modelsDir();
/// modelsDir()/name, or "" when that file does not exist.
std::string findModel(const std::string &name);

std::vector<uint8_t> readBytes(const std::string &path);
void writeBytes(const std::string &path, const std::vector<uint8_t> &bytes);
/// The names of the files in `dir`, sorted; none when it does not exist.
std::vector<std::string> listFiles(const std::string &dir);

/// Sets (or, given null, unsets) an environment variable for its lifetime.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name(name) {
    if (const char *old = std::getenv(name))
      previous = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (previous)
      setenv(name, previous->c_str(), 1);
    else
      unsetenv(name);
  }

private:
  const char *name;
  std::optional<std::string> previous;
};

/// A directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return root; }
  std::string file(const std::string &name) const { return root + "/" + name; }

private:
  std::string root;
};

} // namespace llamac::test

/// Skips the current test when the named asset is missing; otherwise binds
/// its path to `var`.
#define LLAMAC_REQUIRE_MODEL(var, name)                                        \
  std::string var = ::llamac::test::findModel(name);                           \
  if (var.empty())                                                             \
  GTEST_SKIP() << "test asset " << name << " not found in "                    \
               << ::llamac::test::modelsDir()                                  \
               << " (set LLAMAC_MODELS_DIR to the folder holding it)"

#endif // LLAMAC_TEST_UNIT_RUNTIME_TESTASSETS_H
