//===- SafetensorsTest.cpp - .safetensors reading and writing -------------===//

#include "runtime/Safetensors.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

using namespace llamac::runtime;
using llamac::test::readBytes;
using llamac::test::TempDir;
using llamac::test::writeBytes;

namespace {

/// A file with the given JSON header and `dataSize` zero bytes of data.
std::vector<uint8_t> rawFile(const std::string &header, size_t dataSize) {
  std::vector<uint8_t> bytes(8 + header.size() + dataSize, 0);
  for (int i = 0; i < 8; ++i)
    bytes[size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  return bytes;
}

/// The error reading a file with this header and data size.
std::string readError(const TempDir &dir, const std::string &header,
                      size_t dataSize) {
  std::string path = dir.file("bad.safetensors");
  writeBytes(path, rawFile(header, dataSize));
  StatusOr<SafetensorsFile> read = readSafetensors(path);
  EXPECT_FALSE(read.ok()) << header;
  return read.ok() ? "" : read.message();
}

TEST(SafetensorsTest, RoundTripsEveryDType) {
  TempDir dir;
  // Values exact in f16 and bf16 alike.
  const std::vector<float> values = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 0.0f};
  std::vector<uint8_t> f32 = convertFromF32(ElementType::F32, values.data(), 6);
  std::vector<uint8_t> f16 = convertFromF32(ElementType::F16, values.data(), 6);
  std::vector<uint8_t> bf16 =
      convertFromF32(ElementType::BF16, values.data(), 6);
  std::vector<SafetensorsTensor> tensors = {
      {"model.embed_tokens.weight",
       ElementType::F32,
       {2, 3},
       f32.data(),
       f32.size()},
      {"half \"quoted\"", ElementType::F16, {6}, f16.data(), f16.size()},
      {"brain", ElementType::BF16, {3, 1, 2}, bf16.data(), bf16.size()},
      {"empty", ElementType::F32, {0, 4}, nullptr, 0},
  };
  std::string path = dir.file("model.safetensors");
  Status written = writeSafetensors(path, tensors, {{"format", "pt"}});
  ASSERT_TRUE(written.ok()) << written.message();

  // The header is padded so the data starts 8-byte aligned.
  std::vector<uint8_t> bytes = readBytes(path);
  uint64_t headerSize = 0;
  std::memcpy(&headerSize, bytes.data(), 8);
  EXPECT_EQ(headerSize % 8, 0u);

  StatusOr<SafetensorsFile> read = readSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(read->metadata.at("format"), "pt");
  ASSERT_EQ(read->tensors.size(), 4u);
  for (const SafetensorsTensor &tensor : tensors) {
    const SafetensorsTensor *back = read->find(tensor.name);
    ASSERT_NE(back, nullptr) << tensor.name;
    EXPECT_EQ(back->type, tensor.type);
    EXPECT_EQ(back->shape, tensor.shape);
    ASSERT_EQ(back->byteSize, tensor.byteSize);
    if (tensor.byteSize)
      EXPECT_EQ(std::memcmp(back->data, tensor.data, tensor.byteSize), 0);
    Tensor converted = back->toF32();
    EXPECT_EQ(converted.name, tensor.name);
    if (tensor.byteSize)
      EXPECT_EQ(converted.data, values) << tensor.name;
  }
}

TEST(SafetensorsTest, ConvertsF16AndBF16ToF32) {
  const uint8_t f16[] = {0x00, 0x3C, 0x00, 0xC0}; // 1, -2 little-endian
  EXPECT_EQ(convertToF32(ElementType::F16, f16, 2),
            (std::vector<float>{1.0f, -2.0f}));
  const uint8_t bf16[] = {0x80, 0x3F, 0x40, 0xC0}; // 1, -3
  EXPECT_EQ(convertToF32(ElementType::BF16, bf16, 2),
            (std::vector<float>{1.0f, -3.0f}));
}

TEST(SafetensorsTest, ReportsEachCorruption) {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");

  writeBytes(path, {1, 2, 3});
  EXPECT_EQ(readSafetensors(path).message(),
            path + ": header: file has 3 bytes, fewer than the 8-byte header "
                   "length");

  std::vector<uint8_t> longHeader = rawFile("{}", 0);
  longHeader[0] = 100;
  writeBytes(path, longHeader);
  EXPECT_EQ(readSafetensors(path).message(),
            path + ": header: length 100 runs past the end of the file (10 "
                   "bytes)");

  EXPECT_EQ(readError(dir, "{\"a\":", 0),
            path + ": header: invalid JSON: offset 5: unexpected end of text");
  EXPECT_EQ(readError(dir, "[]", 0), path + ": header: not a JSON object");

  EXPECT_EQ(
      readError(dir,
                R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
                16),
      path + ": w: unknown dtype 'I64' (supported: F32, F16, BF16)");

  EXPECT_EQ(
      readError(
          dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
      path + ": w: data_offsets [0, 16] run past the end of the data (8 "
             "bytes)");

  EXPECT_EQ(
      readError(dir,
                R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
      path + ": w: data_offsets [8, 0]: begin is after end");

  EXPECT_EQ(
      readError(dir,
                R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                R"("b":{"dtype":"F16","shape":[4],"data_offsets":[8,16]}})",
                16),
      path + ": b: data_offsets [8, 16] overlap those of a [0, 16]");

  EXPECT_EQ(
      readError(dir,
                R"({"w":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,16]}})",
                16),
      path + ": w: shape [3, 2] of BF16 needs 12 bytes, but data_offsets "
             "[0, 16] span 16");

  EXPECT_EQ(
      readError(
          dir, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
      path + ": w: shape: dimensions must be non-negative integers");

  EXPECT_EQ(readError(dir, R"({"w":{"dtype":"F32","shape":[1]}})", 4),
            path + ": w: data_offsets: must be [begin, end] with non-negative "
                   "integers");

  EXPECT_EQ(readError(dir, R"({"__metadata__":{"a":1}})", 0),
            path + ": __metadata__: a: value is not a string");

  EXPECT_EQ(readSafetensors(dir.file("absent.safetensors")).message(),
            dir.file("absent.safetensors") +
                ": cannot open: No such file or directory");
}

TEST(SafetensorsTest, ReadsFilesFromOtherWriters) {
  // Unpadded header, tensors listed out of offset order, as any writer may.
  TempDir dir;
  std::string path = dir.file("other.safetensors");
  std::vector<uint8_t> bytes =
      rawFile(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
              R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
              8);
  float a = 1.5f, b = -7.0f;
  std::memcpy(bytes.data() + bytes.size() - 8, &a, 4);
  std::memcpy(bytes.data() + bytes.size() - 4, &b, 4);
  writeBytes(path, bytes);
  StatusOr<SafetensorsFile> read = readSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.message();
  ASSERT_EQ(read->tensors.size(), 2u);
  EXPECT_EQ(read->tensors[0].name, "a");
  EXPECT_EQ(read->find("a")->toF32().data, std::vector<float>{1.5f});
  EXPECT_EQ(read->find("b")->toF32().data, std::vector<float>{-7.0f});
}

TEST(SafetensorsTest, WriterRejectsInconsistentTensors) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  float data[4] = {};
  std::vector<SafetensorsTensor> tensors = {
      {"w", ElementType::F32, {2, 3}, reinterpret_cast<uint8_t *>(data), 16}};
  EXPECT_EQ(writeSafetensors(path, tensors).message(),
            path +
                ": w: shape [2, 3] of F32 needs 24 bytes, but 16 were given");
  tensors = {
      {"w", ElementType::F32, {1}, reinterpret_cast<uint8_t *>(data), 4},
      {"w", ElementType::F32, {1}, reinterpret_cast<uint8_t *>(data), 4}};
  EXPECT_EQ(writeSafetensors(path, tensors).message(),
            path + ": w: name used more than once or reserved");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsTest, WritesTensorsMadeWhenWritten) {
  TempDir dir;
  std::string path = dir.file("out.safetensors");
  int made = 0;
  SafetensorsTensor lazy;
  lazy.name = "w";
  lazy.shape = {2};
  lazy.byteSize = 8;
  lazy.produce = [&]() -> StatusOr<std::vector<uint8_t>> {
    ++made;
    return convertFromF32(ElementType::F32, std::vector<float>{1, 2}.data(), 2);
  };
  ASSERT_TRUE(writeSafetensors(path, {lazy}).ok());
  EXPECT_EQ(made, 1);
  StatusOr<SafetensorsFile> read = readSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(read->tensors[0].toF32().data, (std::vector<float>{1, 2}));

  // A failure to make a tensor, or the wrong number of bytes, ends the
  // write and leaves nothing behind.
  std::string failing = dir.file("failing.safetensors");
  lazy.produce = []() -> StatusOr<std::vector<uint8_t>> {
    return Status::error("in.pth: w: unreadable");
  };
  EXPECT_EQ(writeSafetensors(failing, {lazy}).message(),
            "in.pth: w: unreadable");
  lazy.produce = []() -> StatusOr<std::vector<uint8_t>> {
    return std::vector<uint8_t>(4);
  };
  EXPECT_EQ(writeSafetensors(failing, {lazy}).message(),
            failing + ": w: made 4 bytes, not the 8 its shape needs");
  EXPECT_FALSE(std::filesystem::exists(failing));
}

} // namespace
