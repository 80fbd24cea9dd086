//===- WeightSourceTest.cpp - Binding weights from files and seeds --------===//
//
// Each test binds one weight through a real Session into the "dump"
// artifact, whose kernel copies the bound bytes to its output: what the
// kernels would see, after shape checks and conversions.
//
//===----------------------------------------------------------------------===//

#include "runtime/WeightSource.h"
#include "runtime/HalfFloat.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/Llama2cCheckpoint.h"
#include "runtime/Safetensors.h"
#include "runtime/Session.h"

#include "TestArtifacts.h"
#include "TestAssets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

using namespace llamac;
using llamac::artifact::ArtifactSpec;
using ArtElement = llamac::artifact::ElementType;
using namespace llamac::runtime;
using namespace llamac::test;
using testing::HasSubstr;

namespace {

const char kWq[] = "layers.0.attention.wq.weight";

/// The bytes the "dump" entry copies out of the bound weight.
template <class T>
std::vector<T> dumped(ArtifactSpec spec, WeightSource &weights, size_t count) {
  StatusOr<std::unique_ptr<Session>> session =
      Session::create(std::move(spec), weights, {});
  EXPECT_TRUE(session.ok()) << session.message();
  if (!session.ok())
    return {};
  Status ran = (*session)->run("dump", {}, 0, 1);
  EXPECT_TRUE(ran.ok()) << ran.message();
  const T *data = static_cast<const T *>((*session)->outputData(0, 0));
  return std::vector<T>(data, data + count);
}

std::string bindError(ArtifactSpec spec, WeightSource &weights) {
  StatusOr<std::unique_ptr<Session>> session =
      Session::create(std::move(spec), weights, {});
  EXPECT_FALSE(session.ok());
  return session.ok() ? "" : session.message();
}

/// Rows 0..3 of a [4, 4] matrix: 0..15.
std::vector<float> iota16() {
  std::vector<float> values(16);
  for (int i = 0; i < 16; ++i)
    values[i] = float(i);
  return values;
}

/// A llama2.c checkpoint of the toy config (dim 4, hidden 8, 1 layer, 2
/// heads, 1 KV head, vocab 8, shared classifier) with wq = 0..15.
std::string writeToyCheckpoint(const TempDir &dir) {
  Llama2cHeader header{4, 8, 1, 2, 1, 8, 16};
  std::vector<Tensor> tensors;
  for (const TensorView &layout : llama2cTensorLayout(header)) {
    Tensor tensor{layout.name, layout.shape,
                  std::vector<float>(size_t(layout.numElements()), 0.25f)};
    if (tensor.name == kWq)
      tensor.data = iota16();
    tensors.push_back(std::move(tensor));
  }
  std::vector<TensorView> views;
  for (const Tensor &tensor : tensors)
    views.push_back(tensor.view());
  std::string path = dir.file("w.bin");
  Status written = writeLlama2cCheckpoint(path, header, views);
  EXPECT_TRUE(written.ok()) << written.message();
  return path;
}

std::unique_ptr<WeightSource> openOrFail(const std::string &path) {
  StatusOr<std::unique_ptr<WeightSource>> source = openWeightFile(path);
  EXPECT_TRUE(source.ok()) << source.message();
  return source.ok() ? std::move(source).value() : nullptr;
}

TEST(WeightSourceTest, Llama2cCheckpointBindsByMetaName) {
  TempDir dir;
  std::unique_ptr<WeightSource> source = openOrFail(writeToyCheckpoint(dir));
  ASSERT_TRUE(source);
  EXPECT_EQ(
      dumped<float>(dumpArtifact(kWq, ArtElement::F32, {4, 4}), *source, 16),
      iota16());
}

TEST(WeightSourceTest, Llama2cWeightShapeMismatch) {
  TempDir dir;
  std::string path = writeToyCheckpoint(dir);
  std::unique_ptr<WeightSource> source = openOrFail(path);
  ASSERT_TRUE(source);
  EXPECT_EQ(bindError(dumpArtifact(kWq, ArtElement::F32, {2, 8}), *source),
            path + ": " + kWq +
                ": shape [2, 8] expected by the artifact, found [4, 4]");
}

TEST(WeightSourceTest, Llama2cMissingWeight) {
  TempDir dir;
  std::string path = writeToyCheckpoint(dir);
  std::unique_ptr<WeightSource> source = openOrFail(path);
  ASSERT_TRUE(source);
  // The checkpoint shares its classifier, so it has no output.weight.
  EXPECT_THAT(bindError(dumpArtifact("output.weight", ArtElement::F32, {4, 4}),
                        *source),
              HasSubstr(path + ": output.weight: not found (the artifact "
                               "needs it)"));
}

TEST(WeightSourceTest, TruncatedCheckpoint) {
  TempDir dir;
  std::string path = writeToyCheckpoint(dir);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  StatusOr<std::unique_ptr<WeightSource>> source = openWeightFile(path);
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.message(), HasSubstr(path + ": truncated: expected"));
}

TEST(WeightSourceTest, MissingWeightFile) {
  TempDir dir;
  StatusOr<std::unique_ptr<WeightSource>> source =
      openWeightFile(dir.file("none.bin"));
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.message(), HasSubstr("none.bin: cannot open"));
}

TEST(WeightSourceTest, ConvertsToF16) {
  MemoryWeights weights;
  weights.tensors["norm.weight"] = {{4}, {1.0f, -2.0f, 0.5f, 65504.0f}};
  EXPECT_EQ(dumped<uint16_t>(dumpArtifact("norm.weight", ArtElement::F16, {4}),
                             weights, 4),
            (std::vector<uint16_t>{0x3c00, 0xc000, 0x3800, 0x7bff}));
}

TEST(WeightSourceTest, ConvertsToBF16) {
  MemoryWeights weights;
  weights.tensors["norm.weight"] = {{4}, {1.0f, -2.0f, 0.5f, 3.0f}};
  EXPECT_EQ(dumped<uint16_t>(dumpArtifact("norm.weight", ArtElement::BF16, {4}),
                             weights, 4),
            (std::vector<uint16_t>{0x3f80, 0xc000, 0x3f00, 0x4040}));
}

/// A safetensors file holding wq under `name` with `values` as f16.
std::string writeSafetensorsWq(const TempDir &dir, const std::string &name,
                               const std::vector<float> &values) {
  std::vector<uint8_t> bytes =
      convertFromF32(runtime::ElementType::F16, values.data(), 16);
  SafetensorsTensor tensor;
  tensor.name = name;
  tensor.type = runtime::ElementType::F16;
  tensor.shape = {4, 4};
  tensor.data = bytes.data();
  tensor.byteSize = bytes.size();
  std::string path = dir.file("w.safetensors");
  Status written = writeSafetensors(path, {tensor});
  EXPECT_TRUE(written.ok()) << written.message();
  return path;
}

TEST(WeightSourceTest, HuggingFaceNamesAreMappedAndUnpermuted) {
  TempDir dir;
  std::vector<float> meta = iota16();
  std::vector<float> hf = permuteForHalfSplitRope(meta.data(), 1, 4, 4);
  ASSERT_NE(hf, meta);
  std::unique_ptr<WeightSource> source = openOrFail(
      writeSafetensorsWq(dir, "model.layers.0.self_attn.q_proj.weight", hf));
  ASSERT_TRUE(source);
  // An adjacent-pair RoPE artifact gets Meta's row order back.
  EXPECT_EQ(
      dumped<float>(dumpArtifact(kWq, ArtElement::F32, {4, 4}), *source, 16),
      meta);
  // A half-split artifact keeps Hugging Face's.
  ArtifactSpec halfSplit = dumpArtifact(kWq, ArtElement::F32, {4, 4});
  halfSplit.config.ropeStyle = RopeStyle::HalfSplit;
  EXPECT_EQ(dumped<float>(halfSplit, *source, 16), hf);
}

TEST(WeightSourceTest, SafetensorsWithMetaNames) {
  TempDir dir;
  std::unique_ptr<WeightSource> source =
      openOrFail(writeSafetensorsWq(dir, kWq, iota16()));
  ASSERT_TRUE(source);
  EXPECT_EQ(
      dumped<float>(dumpArtifact(kWq, ArtElement::F32, {4, 4}), *source, 16),
      iota16());
  // Meta rows into a half-split artifact are permuted.
  ArtifactSpec halfSplit = dumpArtifact(kWq, ArtElement::F32, {4, 4});
  halfSplit.config.ropeStyle = RopeStyle::HalfSplit;
  std::vector<float> meta = iota16();
  EXPECT_EQ(dumped<float>(halfSplit, *source, 16),
            permuteForHalfSplitRope(meta.data(), 1, 4, 4));
}

TEST(WeightSourceTest, RandomWeightsAreDeterministicPerNameAndSeed) {
  std::unique_ptr<WeightSource> a = createRandomWeights(7);
  std::unique_ptr<WeightSource> b = createRandomWeights(7);
  std::unique_ptr<WeightSource> c = createRandomWeights(8);
  ArtifactSpec spec = dumpArtifact(kWq, ArtElement::F32, {4, 4});
  std::vector<float> first = dumped<float>(spec, *a, 16);
  EXPECT_EQ(first, dumped<float>(spec, *b, 16));
  EXPECT_NE(first, dumped<float>(spec, *c, 16));
  for (float value : first)
    EXPECT_LE(std::fabs(value), 0.5f); // 1 / sqrt(4 columns)
  ArtifactSpec other =
      dumpArtifact("layers.0.attention.wk.weight", ArtElement::F32, {4, 4});
  EXPECT_NE(first, dumped<float>(other, *a, 16));
  EXPECT_EQ(a->origin(), "random weights (seed 7)");
}

/// The host's random weights are RandomWeights.h's function of (key,
/// index), the one the GPU's fill kernels compute, and look uniform.
TEST(WeightSourceTest, RandomWeightsFollowTheirFillRule) {
  std::unique_ptr<WeightSource> source = createRandomWeights(11);
  const std::vector<int64_t> shape = {64, 256};
  std::optional<LlamaRandomFill> fill = source->randomFill(kWq, shape);
  ASSERT_TRUE(fill.has_value());
  EXPECT_EQ(fill->count, 64 * 256);
  EXPECT_EQ(fill->bound, 1.0f / 16.0f);
  EXPECT_EQ(fill->ones, 0);
  StatusOr<WeightData> data = source->fetch(kWq, shape);
  ASSERT_TRUE(data.ok()) << data.message();
  double sum = 0, sumSquares = 0;
  float lowest = 1, highest = -1;
  for (int64_t i = 0; i < fill->count; ++i) {
    float value = data->data[i];
    ASSERT_EQ(value, llamaRandomWeight(fill->key, uint64_t(i), fill->bound));
    sum += value;
    sumSquares += double(value) * value;
    lowest = std::min(lowest, value);
    highest = std::max(highest, value);
  }
  // Uniform in [-1/16, 1/16): mean 0, variance (1/16)^2 / 3.
  double mean = sum / double(fill->count);
  double variance = sumSquares / double(fill->count) - mean * mean;
  EXPECT_NEAR(mean, 0.0, 1e-3);
  EXPECT_NEAR(variance, 1.0 / (256.0 * 3.0), 2e-5);
  EXPECT_LT(lowest, -0.0624f);
  EXPECT_GT(highest, 0.0624f);
  EXPECT_TRUE(source->randomFill("layers.3.ffn_norm.weight", {256})->ones);
}

TEST(WeightSourceTest, FileTensorsHaveNoFillRule) {
  TempDir dir;
  std::unique_ptr<WeightSource> source = openOrFail(writeToyCheckpoint(dir));
  ASSERT_TRUE(source);
  EXPECT_FALSE(source->randomFill(kWq, {4, 4}).has_value());
}

TEST(WeightSourceTest, RandomNormGainsAreOne) {
  std::unique_ptr<WeightSource> source = createRandomWeights(3);
  EXPECT_EQ(dumped<float>(
                dumpArtifact("layers.0.ffn_norm.weight", ArtElement::F32, {4}),
                *source, 4),
            (std::vector<float>{1, 1, 1, 1}));
  EXPECT_EQ(dumped<float>(dumpArtifact("norm.weight", ArtElement::F32, {4}),
                          *source, 4),
            (std::vector<float>{1, 1, 1, 1}));
}

} // namespace
