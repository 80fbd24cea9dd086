//===- TestAssets.cpp - Real model files and scratch space for tests ------===//

#include "TestAssets.h"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace llamac::test;

std::string llamac::test::modelsDir() {
  if (const char *dir = std::getenv("LLAMAC_MODELS_DIR"); dir && *dir)
    return dir;
  return std::string(LLAMAC_SOURCE_DIR) + "/../shared/models";
}

std::string llamac::test::findModel(const std::string &name) {
  std::string path = modelsDir() + "/" + name;
  std::error_code error;
  return fs::is_regular_file(path, error) ? path : std::string();
}

std::vector<uint8_t> llamac::test::readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void llamac::test::writeBytes(const std::string &path,
                              const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            std::streamsize(bytes.size()));
}

TempDir::TempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base && *base ? base : "/tmp") + "/llamac-test-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    throw std::runtime_error("cannot create a temporary directory");
  root = pattern;
}

TempDir::~TempDir() {
  std::error_code error;
  fs::remove_all(root, error);
}

std::vector<std::string> llamac::test::listFiles(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *listing = opendir(dir.c_str())) {
    while (dirent *entry = readdir(listing))
      if (entry->d_type == DT_REG)
        names.push_back(entry->d_name);
    closedir(listing);
  }
  std::sort(names.begin(), names.end());
  return names;
}
