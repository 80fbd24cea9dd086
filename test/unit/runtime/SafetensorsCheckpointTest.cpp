//===- SafetensorsCheckpointTest.cpp - Sharded safetensors checkpoints ----===//
//
// The shard rule and the directory writer's guarantees; the formats' errors
// as users meet them are in test/runtime/hf-model-directory.test.
//
//===----------------------------------------------------------------------===//

#include "runtime/SafetensorsCheckpoint.h"

#include "runtime/CheckpointFormat.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

using namespace llamac::runtime;
using llamac::test::TempDir;

namespace {

/// Tensors of `floats` f32 elements each, named t0, t1, ...
struct Tensors {
  explicit Tensors(const std::vector<int64_t> &floats) {
    for (int64_t count : floats)
      data.emplace_back(size_t(count), float(data.size()));
    for (size_t i = 0; i < data.size(); ++i)
      views.push_back({"t" + std::to_string(i),
                       ElementType::F32,
                       {int64_t(data[i].size())},
                       reinterpret_cast<const uint8_t *>(data[i].data()),
                       data[i].size() * sizeof(float)});
  }
  std::vector<std::vector<float>> data;
  std::vector<SafetensorsTensor> views;
};

std::vector<std::string> entries(const std::string &directory) {
  std::vector<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(directory))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// How many tensors each shard of `checkpoint` holds, in shard order.
std::vector<size_t> tensorsPerShard(const SafetensorsCheckpoint &checkpoint) {
  std::vector<size_t> counts(checkpoint.files.size(), 0);
  for (const SafetensorsTensor &tensor : checkpoint.tensors)
    for (size_t i = 0; i < checkpoint.files.size(); ++i)
      if (tensor.data >= checkpoint.files[i]->data() &&
          tensor.data <
              checkpoint.files[i]->data() + checkpoint.files[i]->size())
        ++counts[i];
  return counts;
}

TEST(SafetensorsCheckpointTest, ParsesByteSizes) {
  EXPECT_EQ(parseByteSize("5GB"), 5000000000ull);
  EXPECT_EQ(parseByteSize("500mb"), 500000000ull);
  EXPECT_EQ(parseByteSize("2GiB"), 2ull << 30);
  EXPECT_EQ(parseByteSize("300KiB"), 300ull * 1024);
  EXPECT_EQ(parseByteSize("4096"), 4096ull);
  EXPECT_EQ(parseByteSize("12B"), 12ull);
  for (const char *bad : {"", "0", "0GB", "GB", "5 GB", "5TB", "-1", "1.5GB",
                          "99999999999999999999", "18446744074GB"})
    EXPECT_EQ(parseByteSize(bad), std::nullopt) << bad;
}

TEST(SafetensorsCheckpointTest, ShardsFillInOrderUpToTheLimit) {
  TempDir dir;
  // 400, 400, 800 (alone: past the limit even by itself), 200, 200 bytes
  // under a limit of 800: [t0 t1] [t2] [t3 t4].
  Tensors tensors({100, 100, 200, 50, 50});
  std::string out = dir.file("model");
  Status written = writeSafetensorsDirectory(out, tensors.views, 800,
                                             {{"config.json", "{}\n"}});
  ASSERT_TRUE(written.ok()) << written.message();
  EXPECT_EQ(entries(out), (std::vector<std::string>{
                              "config.json", "model-00001-of-00003.safetensors",
                              "model-00002-of-00003.safetensors",
                              "model-00003-of-00003.safetensors",
                              "model.safetensors.index.json"}));
  StatusOr<SafetensorsCheckpoint> read =
      openSafetensorsCheckpoint(*findCheckpointIn(out));
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_TRUE(read->sharded);
  EXPECT_EQ(read->origin, out + "/model.safetensors.index.json");
  ASSERT_EQ(read->tensors.size(), 5u);
  EXPECT_EQ(tensorsPerShard(*read), (std::vector<size_t>{2, 1, 2}));
  for (const SafetensorsTensor &tensor : read->tensors) {
    size_t i = size_t(std::stoi(tensor.name.substr(1)));
    ASSERT_EQ(tensor.byteSize, tensors.views[i].byteSize);
    EXPECT_EQ(0,
              std::memcmp(tensor.data, tensors.views[i].data, tensor.byteSize))
        << tensor.name;
  }
}

TEST(SafetensorsCheckpointTest, OneShardIsOneFile) {
  TempDir dir;
  Tensors tensors({100, 100});
  std::string out = dir.file("model");
  ASSERT_TRUE(writeSafetensorsDirectory(out, tensors.views, 800, {}).ok());
  EXPECT_EQ(entries(out), (std::vector<std::string>{"model.safetensors"}));
  StatusOr<SafetensorsCheckpoint> read =
      openSafetensorsCheckpoint(*findCheckpointIn(out));
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_FALSE(read->sharded);
  EXPECT_EQ(read->tensors.size(), 2u);
}

TEST(SafetensorsCheckpointTest, WritesIntoAnEmptyDirectoryOnly) {
  TempDir dir;
  Tensors tensors({4});
  std::string out = dir.file("model");
  std::filesystem::create_directory(out);
  ASSERT_TRUE(
      writeSafetensorsDirectory(out + "/", tensors.views, 800, {}).ok());
  Status again = writeSafetensorsDirectory(out, tensors.views, 800, {});
  EXPECT_EQ(again.message(), out + ": exists and is not empty; name a new "
                                   "directory");
  std::string file = dir.file("file");
  llamac::test::writeBytes(file, {1});
  EXPECT_EQ(writeSafetensorsDirectory(file, tensors.views, 800, {}).message(),
            file + ": exists and is not a directory");
}

TEST(SafetensorsCheckpointTest, AFailedWriteLeavesNothing) {
  TempDir dir;
  Tensors tensors({4, 4});
  // Two tensors of one name: the shard writer refuses the second.
  tensors.views[1].name = "t0";
  std::string out = dir.file("model");
  Status written = writeSafetensorsDirectory(out, tensors.views, 800,
                                             {{"config.json", "{}\n"}});
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.message().find("t0: name used more than once"),
            std::string::npos)
      << written.message();
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{});
}

TEST(SafetensorsCheckpointTest, EmptyWeightMap) {
  TempDir dir;
  std::string index = dir.file("model.safetensors.index.json");
  const std::string text = "{\"weight_map\": {}}";
  llamac::test::writeBytes(index,
                           std::vector<uint8_t>(text.begin(), text.end()));
  EXPECT_EQ(openSafetensorsCheckpoint(index).message(),
            index + ": weight_map: empty");
}

} // namespace
