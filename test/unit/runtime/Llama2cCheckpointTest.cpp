//===- Llama2cCheckpointTest.cpp - llama2.c checkpoints -------------------===//

#include "runtime/Llama2cCheckpoint.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>

using namespace llamac::runtime;
using llamac::test::readBytes;
using llamac::test::TempDir;
using llamac::test::writeBytes;

namespace {

std::vector<uint8_t> headerBytes(std::vector<int32_t> fields) {
  std::vector<uint8_t> bytes(fields.size() * 4);
  std::memcpy(bytes.data(), fields.data(), bytes.size());
  return bytes;
}

/// An error message for a checkpoint file holding just `fields`.
std::string headerError(const TempDir &dir, std::vector<int32_t> fields) {
  std::string path = dir.file("header.bin");
  writeBytes(path, headerBytes(fields));
  StatusOr<Llama2cCheckpoint> read = readLlama2cCheckpoint(path);
  EXPECT_FALSE(read.ok());
  return read.ok() ? "" : read.message();
}

TEST(Llama2cCheckpointTest, ReadsStories260K) {
  LLAMAC_REQUIRE_MODEL(path, "stories260K.bin");
  StatusOr<Llama2cCheckpoint> read = readLlama2cCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.message();
  const Llama2cCheckpoint &checkpoint = *read;
  const Llama2cHeader &header = checkpoint.header;
  EXPECT_EQ(header.dim, 64);
  EXPECT_EQ(header.hiddenDim, 172);
  EXPECT_EQ(header.nLayers, 5);
  EXPECT_EQ(header.nHeads, 8);
  EXPECT_EQ(header.nKvHeads, 4);
  EXPECT_EQ(header.vocabSize, 512);
  EXPECT_EQ(header.seqLen, 512);
  EXPECT_TRUE(header.sharedClassifier());
  EXPECT_EQ(header.headSize(), 8);
  EXPECT_EQ(header.kvDim(), 32);
  EXPECT_EQ(llama2cFileBytes(header), 1056540);

  // 1 embedding + 9 per layer + final norm; no output.weight (shared).
  EXPECT_EQ(checkpoint.tensors.size(), 1u + 9u * 5u + 1u);
  EXPECT_EQ(checkpoint.find("output.weight"), nullptr);

  const TensorView *embedding = checkpoint.find("tok_embeddings.weight");
  ASSERT_NE(embedding, nullptr);
  EXPECT_EQ(embedding->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(embedding->numElements(), 512 * 64);
  EXPECT_FLOAT_EQ(embedding->data[0], -0.29474878f);
  EXPECT_FLOAT_EQ(embedding->data[1], 0.5618956f);

  struct Expected {
    const char *name;
    std::vector<int64_t> shape;
  };
  const Expected shapes[] = {
      {"layers.0.attention_norm.weight", {64}},
      {"layers.4.attention.wq.weight", {64, 64}},
      {"layers.4.attention.wk.weight", {32, 64}},
      {"layers.4.attention.wv.weight", {32, 64}},
      {"layers.4.attention.wo.weight", {64, 64}},
      {"layers.2.ffn_norm.weight", {64}},
      {"layers.3.feed_forward.w1.weight", {172, 64}},
      {"layers.3.feed_forward.w2.weight", {64, 172}},
      {"layers.3.feed_forward.w3.weight", {172, 64}},
      {"norm.weight", {64}},
  };
  for (const Expected &expected : shapes) {
    const TensorView *tensor = checkpoint.find(expected.name);
    ASSERT_NE(tensor, nullptr) << expected.name;
    EXPECT_EQ(tensor->shape, expected.shape) << expected.name;
  }

  // RMSNorm gains of a trained model sit around 1; the first layer's first
  // gain is 0.9722 in the file.
  const TensorView *norm = checkpoint.find("layers.0.attention_norm.weight");
  EXPECT_FLOAT_EQ(norm->data[0], 0.97224295f);
  // Layers are stacked per kind: layer 1's wq follows layer 0's directly.
  EXPECT_EQ(checkpoint.find("layers.1.attention.wq.weight")->data,
            checkpoint.find("layers.0.attention.wq.weight")->data + 64 * 64);
  // The final norm ends where the skipped freq_cis block (512 * 8 floats)
  // begins, and that block ends the file.
  const TensorView *last = checkpoint.find("norm.weight");
  const uint8_t *end = reinterpret_cast<const uint8_t *>(last->data + 64);
  EXPECT_EQ(end + 512 * 8 * 4,
            checkpoint.file->data() + checkpoint.file->size());
}

TEST(Llama2cCheckpointTest, RejectsTruncatedAndOverlongCopies) {
  LLAMAC_REQUIRE_MODEL(path, "stories260K.bin");
  TempDir dir;
  std::vector<uint8_t> bytes = readBytes(path);
  ASSERT_EQ(bytes.size(), 1056540u);

  std::string truncated = dir.file("truncated.bin");
  writeBytes(truncated,
             std::vector<uint8_t>(bytes.begin(), bytes.end() - 1000));
  StatusOr<Llama2cCheckpoint> read = readLlama2cCheckpoint(truncated);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.message(), truncated +
                                ": truncated: expected 1056540 bytes for the "
                                "weights of this header, found 1055540");

  std::string overlong = dir.file("overlong.bin");
  bytes.resize(bytes.size() + 4);
  writeBytes(overlong, bytes);
  read = readLlama2cCheckpoint(overlong);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.message(), overlong +
                                ": too long: expected 1056540 bytes for the "
                                "weights of this header, found 1056544");
}

TEST(Llama2cCheckpointTest, RejectsBadHeaders) {
  TempDir dir;
  std::string path = dir.file("header.bin");

  StatusOr<Llama2cCheckpoint> missing =
      readLlama2cCheckpoint(dir.file("absent.bin"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), dir.file("absent.bin") +
                                   ": cannot open: No such file or directory");

  writeBytes(path, std::vector<uint8_t>(10, 0));
  EXPECT_EQ(readLlama2cCheckpoint(path).message(),
            path + ": header: file has 10 bytes, fewer than the 28 of the 7 "
                   "x int32 header");

  EXPECT_EQ(headerError(dir, {64, 172, 5, 0, 4, 512, 512}),
            path + ": n_heads: must be positive, got 0");
  EXPECT_EQ(headerError(dir, {64, -1, 5, 8, 4, 512, 512}),
            path + ": hidden_dim: must be positive, got -1");
  EXPECT_EQ(headerError(dir, {64, 172, 5, 8, 4, 0, 512}),
            path + ": vocab_size: must be non-zero (negative means an "
                   "unshared classifier), got 0");
  EXPECT_EQ(headerError(dir, {64, 172, 5, 7, 7, 512, 512}),
            path + ": dim: 64 is not divisible by n_heads 7");
  EXPECT_EQ(headerError(dir, {64, 172, 5, 8, 3, 512, 512}),
            path + ": n_kv_heads: n_heads 8 is not divisible by n_kv_heads 3");
  EXPECT_EQ(headerError(dir, {1 << 30, 1 << 30, 1 << 30, 1, 1, 1, 1}),
            path + ": header: its sizes imply more than 2^60 bytes of weights");
  // A plausible header with no weights is a truncated file.
  EXPECT_EQ(headerError(dir, {64, 172, 5, 8, 4, 512, 512}),
            path + ": truncated: expected 1056540 bytes for the weights of "
                   "this header, found 28");
}

/// A random model with an unshared classifier, as Meta-named tensors.
std::vector<Tensor> randomTensors(const Llama2cHeader &header) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<Tensor> tensors;
  for (const TensorView &layout : llama2cTensorLayout(header)) {
    Tensor tensor{layout.name, layout.shape, {}};
    tensor.data.resize(size_t(layout.numElements()));
    for (float &value : tensor.data)
      value = uniform(rng);
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

TEST(Llama2cCheckpointTest, WriterRoundTripsUnsharedClassifier) {
  TempDir dir;
  Llama2cHeader header{16, 40, 2, 4, 2, -32, 8};
  std::vector<Tensor> tensors = randomTensors(header);
  ASSERT_EQ(tensors.back().name, "output.weight");
  std::vector<TensorView> views;
  for (auto it = tensors.rbegin(); it != tensors.rend(); ++it)
    views.push_back(it->view()); // Any order is accepted.

  std::string path = dir.file("model.bin");
  Status written = writeLlama2cCheckpoint(path, header, views);
  ASSERT_TRUE(written.ok()) << written.message();
  StatusOr<Llama2cCheckpoint> read = readLlama2cCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(read->header.vocabSize, -32);
  EXPECT_FALSE(read->header.sharedClassifier());
  ASSERT_EQ(read->tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(read->tensors[i].name, tensors[i].name);
    EXPECT_EQ(read->tensors[i].shape, tensors[i].shape);
    EXPECT_EQ(std::memcmp(read->tensors[i].data, tensors[i].data.data(),
                          tensors[i].data.size() * 4),
              0)
        << tensors[i].name;
  }
  // No temporary file is left beside the output.
  int entries = 0;
  for ([[maybe_unused]] auto &entry :
       std::filesystem::directory_iterator(dir.path()))
    ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Llama2cCheckpointTest, WriterReproducesStories260K) {
  LLAMAC_REQUIRE_MODEL(path, "stories260K.bin");
  StatusOr<Llama2cCheckpoint> read = readLlama2cCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.message();
  TempDir dir;
  std::string copy = dir.file("copy.bin");
  Status written = writeLlama2cCheckpoint(copy, read->header, read->tensors);
  ASSERT_TRUE(written.ok()) << written.message();
  std::vector<uint8_t> original = readBytes(path), rewritten = readBytes(copy);
  ASSERT_EQ(original.size(), rewritten.size());
  // Everything run.c reads is identical; the freq_cis block it skips is our
  // own cos/sin table, which matches torch's to float rounding.
  size_t freqStart = original.size() - 512 * 8 * 4;
  EXPECT_TRUE(std::equal(original.begin(), original.begin() + freqStart,
                         rewritten.begin()));
  const float *a = reinterpret_cast<const float *>(original.data() + freqStart);
  const float *b =
      reinterpret_cast<const float *>(rewritten.data() + freqStart);
  for (int i = 0; i < 512 * 8; ++i)
    EXPECT_NEAR(a[i], b[i], 2e-4f) << i;
}

TEST(Llama2cCheckpointTest, WriterRejectsWrongTensors) {
  TempDir dir;
  std::string path = dir.file("model.bin");
  Llama2cHeader header{16, 40, 2, 4, 2, 32, 8};
  std::vector<Tensor> tensors = randomTensors(header);
  std::vector<TensorView> views;
  for (const Tensor &tensor : tensors)
    views.push_back(tensor.view());

  std::vector<TensorView> missing(views.begin() + 1, views.end());
  EXPECT_EQ(writeLlama2cCheckpoint(path, header, missing).message(),
            path + ": tok_embeddings.weight: missing; this header needs it");

  std::vector<TensorView> misshapen = views;
  misshapen[0].shape = {16, 32};
  EXPECT_EQ(writeLlama2cCheckpoint(path, header, misshapen).message(),
            path + ": tok_embeddings.weight: shape [16, 32] does not match "
                   "the header's [32, 16]");

  std::vector<TensorView> extra = views;
  extra.push_back({"output.weight", {32, 16}, views[0].data});
  EXPECT_EQ(writeLlama2cCheckpoint(path, header, extra).message(),
            path + ": output.weight: given, but vocab_size > 0 says the "
                   "classifier is shared");
  EXPECT_FALSE(std::filesystem::exists(path));

  ASSERT_TRUE(writeLlama2cCheckpoint(path, header, views).ok());
  EXPECT_EQ(std::filesystem::file_size(path), size_t(llama2cFileBytes(header)));
}

} // namespace
