//===- CheckpointFormatTest.cpp - Which reader a checkpoint needs ---------===//
//
// Finding the checkpoint in a model directory and telling formats apart by
// content; reading them is tested with real files in
// test/runtime/torch-checkpoint.test and hf-model-directory.test.
//
//===----------------------------------------------------------------------===//

#include "runtime/CheckpointFormat.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;
using llamac::test::TempDir;
using llamac::test::writeBytes;

namespace {

std::vector<uint8_t> bytesOf(const std::string &text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

TEST(CheckpointFormatTest, PrefersSafetensorsInADirectory) {
  TempDir dir;
  EXPECT_EQ(findCheckpointIn(dir.path()).message(),
            dir.path() + ": no checkpoint in this directory "
                         "(model.safetensors.index.json, model.safetensors, "
                         "pytorch_model.bin.index.json, pytorch_model.bin, "
                         "consolidated.00.pth)");
  // In reverse order of preference, each new file wins.
  for (const char *name : {"consolidated.00.pth", "pytorch_model.bin",
                           "pytorch_model.bin.index.json", "model.safetensors",
                           "model.safetensors.index.json"}) {
    writeBytes(dir.file(name), {0});
    EXPECT_EQ(*findCheckpointIn(dir.path() + "/"), dir.file(name));
  }
}

TEST(CheckpointFormatTest, TellsFormatsApartByContent) {
  TempDir dir;
  // A zip's local header, a safetensors header, and anything else.
  writeBytes(dir.file("weights.bin"), {'P', 'K', 3, 4, 0, 0});
  EXPECT_EQ(locateCheckpoint(dir.file("weights.bin"))->format,
            CheckpointFormat::Torch);
  std::vector<uint8_t> safetensors = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  writeBytes(dir.file("weights.pth"), safetensors);
  EXPECT_EQ(locateCheckpoint(dir.file("weights.pth"))->format,
            CheckpointFormat::Safetensors);
  writeBytes(dir.file("model.bin"), {1, 2, 3, 4});
  EXPECT_EQ(locateCheckpoint(dir.file("model.bin"))->format,
            CheckpointFormat::Llama2c);
  // A damaged file goes to the reader its name belongs to, which says what
  // is wrong with it.
  writeBytes(dir.file("broken.pth"), {1, 2, 3, 4});
  EXPECT_EQ(locateCheckpoint(dir.file("broken.pth"))->format,
            CheckpointFormat::Torch);
  writeBytes(dir.file("broken.safetensors"), {1, 2, 3, 4});
  EXPECT_EQ(locateCheckpoint(dir.file("broken.safetensors"))->format,
            CheckpointFormat::Safetensors);
}

TEST(CheckpointFormatTest, AnIndexHasItsShardsFormat) {
  TempDir dir;
  writeBytes(dir.file("pytorch_model-00001-of-00001.bin"),
             {'P', 'K', 3, 4, 0, 0});
  writeBytes(dir.file("pytorch_model.bin.index.json"),
             bytesOf("{\"weight_map\": {\"lm_head.weight\": "
                     "\"pytorch_model-00001-of-00001.bin\"}}"));
  StatusOr<CheckpointLocation> where = locateCheckpoint(dir.path());
  ASSERT_TRUE(where.ok()) << where.message();
  EXPECT_EQ(where->path, dir.file("pytorch_model.bin.index.json"));
  EXPECT_EQ(where->format, CheckpointFormat::Torch);

  writeBytes(dir.file("model.safetensors.index.json"),
             bytesOf("{\"weight_map\": {\"lm_head.weight\": \"gone\"}}"));
  EXPECT_EQ(locateCheckpoint(dir.path()).message(),
            dir.file("model.safetensors.index.json") +
                ": weight_map: lm_head.weight: " + dir.file("gone") +
                ": cannot open: No such file or directory");
}

} // namespace
