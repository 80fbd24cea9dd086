//===- TorchCheckpointTest.cpp - torch.save archives ----------------------===//
//
// Archives assembled here the way torch.save lays them out, for what files
// PyTorch writes cannot easily show: views into a shared storage, a
// big-endian archive, and that no corruption of any byte crashes the
// reader. Files PyTorch itself wrote are read in
// test/runtime/torch-checkpoint.test.
//
//===----------------------------------------------------------------------===//

#include "runtime/TorchCheckpoint.h"

#include "TestAssets.h"
#include "TestZip.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace llamac::runtime;
using llamac::test::TempDir;

namespace {

/// Emits the pickle opcodes torch.save uses.
struct PickleWriter {
  std::string bytes = std::string("\x80\x02", 2);

  void string(const std::string &s) {
    bytes += 'X';
    uint32_t length = s.size();
    bytes.append(reinterpret_cast<const char *>(&length), 4);
    bytes += s;
  }
  void integer(uint8_t value) { bytes += 'K', bytes += char(value); }
  void global(const std::string &module, const std::string &name) {
    bytes += 'c' + module + '\n' + name + '\n';
  }
  void tuple(std::initializer_list<uint8_t> values) {
    bytes += '(';
    for (uint8_t value : values)
      integer(value);
    bytes += 't';
  }
  /// torch._utils._rebuild_tensor_v2 over float storage `key` of `numel`.
  void tensor(const std::string &key, uint8_t numel, uint8_t offset,
              std::initializer_list<uint8_t> size,
              std::initializer_list<uint8_t> stride) {
    global("torch._utils", "_rebuild_tensor_v2");
    bytes += "((";
    string("storage");
    global("torch", "FloatStorage");
    string(key);
    string("cpu");
    integer(numel);
    bytes += "tQ";
    integer(offset);
    tuple(size);
    tuple(stride);
    bytes += "\x89";
    global("collections", "OrderedDict");
    bytes += ")Rt";
    bytes += 'R';
  }
};

std::string floats(std::initializer_list<float> values) {
  std::string bytes;
  for (float value : values)
    bytes.append(reinterpret_cast<const char *>(&value), 4);
  return bytes;
}

/// {"w": a [2, 3] tensor, "wt": its transpose, "tail": elements 4..5 of
/// the same storage}.
std::vector<uint8_t> sharedStorageArchive(const std::string &byteorder) {
  PickleWriter p;
  p.bytes += "}(";
  p.string("w");
  p.tensor("0", 6, 0, {2, 3}, {3, 1});
  p.string("wt");
  p.tensor("0", 6, 0, {3, 2}, {1, 3});
  p.string("tail");
  p.tensor("0", 6, 4, {2}, {1});
  p.bytes += "u.";
  return llamac::test::buildZip({{"ckpt/data.pkl", p.bytes},
                                 {"ckpt/byteorder", byteorder},
                                 {"ckpt/data/0", floats({0, 1, 2, 3, 4, 5})}},
                                false);
}

StatusOr<TorchCheckpoint> readBytes(const TempDir &dir,
                                    const std::vector<uint8_t> &bytes) {
  llamac::test::writeBytes(dir.file("c.pth"), bytes);
  return readTorchArchive(dir.file("c.pth"));
}

TEST(TorchCheckpointTest, ReadsViewsOfASharedStorage) {
  TempDir dir;
  StatusOr<TorchCheckpoint> checkpoint =
      readBytes(dir, sharedStorageArchive("little"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.message();
  ASSERT_EQ(checkpoint->tensors.size(), 3u);
  std::vector<std::vector<float>> values;
  for (const TorchCheckpointTensor &tensor : checkpoint->tensors) {
    StatusOr<std::vector<float>> f32 = tensor.toF32();
    ASSERT_TRUE(f32.ok()) << f32.message();
    values.push_back(*f32);
  }
  EXPECT_EQ(checkpoint->tensors[1].name, "wt");
  EXPECT_EQ(checkpoint->tensors[1].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(values[0], (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(values[1], (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(values[2], (std::vector<float>{4, 5}));
}

TEST(TorchCheckpointTest, RefusesBigEndianArchives) {
  TempDir dir;
  EXPECT_EQ(readBytes(dir, sharedStorageArchive("big")).message(),
            dir.file("c.pth") +
                ": byteorder: \"big\"; llamac reads little-endian checkpoints");
}

TEST(TorchCheckpointTest, RefusesViewsPastTheirStorage) {
  TempDir dir;
  PickleWriter p;
  p.bytes += "}(";
  p.string("w");
  p.tensor("0", 6, 1, {2, 3}, {3, 1});
  p.bytes += "u.";
  EXPECT_EQ(readBytes(dir, llamac::test::buildZip(
                               {{"ckpt/data.pkl", p.bytes},
                                {"ckpt/data/0", floats({0, 1, 2, 3, 4, 5})}},
                               false))
                .message(),
            dir.file("c.pth") +
                ": data.pkl: w: its view of shape [2, 3] at offset 1 reaches "
                "element 6 of a storage of 6");
}

TEST(TorchCheckpointTest, RefusesExpandedViews) {
  // torch.zeros(1).expand(200): one stored element, read as 200.
  TempDir dir;
  PickleWriter p;
  p.bytes += "}(";
  p.string("w");
  p.tensor("0", 1, 0, {200}, {0});
  p.bytes += "u.";
  EXPECT_EQ(
      readBytes(dir, llamac::test::buildZip({{"ckpt/data.pkl", p.bytes},
                                             {"ckpt/data/0", floats({0})}},
                                            false))
          .message(),
      dir.file("c.pth") +
          ": data.pkl: w: its view of shape [200] has more elements "
          "than its storage's 1 (an expanded view); save it with "
          ".contiguous()");
}

TEST(TorchCheckpointTest, NoCorruptionCrashes) {
  // Every byte of a good archive, flipped in turn: each result is an error
  // or a checkpoint whose every tensor converts within its storage (which
  // the AddressSanitizer build checks).
  TempDir dir;
  const std::vector<uint8_t> good = sharedStorageArchive("little");
  size_t failures = 0;
  for (size_t i = 0; i < good.size(); ++i)
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= flip;
      StatusOr<TorchCheckpoint> checkpoint = readBytes(dir, bad);
      if (!checkpoint.ok()) {
        ++failures;
        continue;
      }
      for (const TorchCheckpointTensor &tensor : checkpoint->tensors)
        (void)tensor.toF32();
    }
  // Most flips hit structure, not the tensors' values.
  EXPECT_GT(failures, good.size());
}

} // namespace
