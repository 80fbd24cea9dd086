//===- TestArtifacts.cpp - Hand-built artifacts with real kernels ---------===//

#include "TestArtifacts.h"

#include "TestAssets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

std::string llamac::test::toyKernelSource(int abiVersion) {
  return R"(#include "runtime/KernelAbi.h"
#include "runtime/RandomWeights.h"
// A linkage specification without braces gives the const external linkage.
extern "C" const int llama_kernel_abi_version = )" +
         std::to_string(abiVersion) + R"(;

extern "C" {
// The random-weight fill every cuda binary exports (RandomWeights.h), in
// the cpu ABI the fake driver calls: the whole tensor in one call.
void llama_fill_random_f32(void *const *b, const LlamaKernelContext *ctx) {
  (void)ctx;
  float *out = (float *)b[0];
  const LlamaRandomFill *fill = (const LlamaRandomFill *)b[1];
  for (long long i = 0; i < fill->count; ++i)
    out[i] = llamaRandomFillValue(fill, i);
}
// tokens, tok_embeddings -> x
void k_embed(void *const *b, const LlamaKernelContext *ctx) {
  const int32_t *tokens = (const int32_t *)b[0];
  const float *table = (const float *)b[1];
  float *x = (float *)b[2];
  for (int64_t t = 0; t < ctx->seq; ++t)
    for (int j = 0; j < 4; ++j)
      x[t * 4 + j] = table[tokens[t] * 4 + j];
}
// norm -> packed = 2 * norm (the "load" entry)
void k_pack(void *const *b, const LlamaKernelContext *ctx) {
  (void)ctx;
  const float *norm = (const float *)b[0];
  float *packed = (float *)b[1];
  for (int j = 0; j < 4; ++j)
    packed[j] = 2 * norm[j];
}
// x, packed -> y = x + packed: adds two buffers
void k_add(void *const *b, const LlamaKernelContext *ctx) {
  const float *x = (const float *)b[0];
  const float *packed = (const float *)b[1];
  float *y = (float *)b[2];
  for (int64_t t = 0; t < ctx->seq; ++t)
    for (int j = 0; j < 4; ++j)
      y[t * 4 + j] = x[t * 4 + j] + packed[j];
}
// cache, y -> logits; cache[position + t] = y[t] in place
void k_accumulate(void *const *b, const LlamaKernelContext *ctx) {
  float *cache = (float *)b[0];
  const float *y = (const float *)b[1];
  float *out = (float *)b[2];
  for (int64_t t = 0; t < ctx->seq; ++t) {
    int64_t row = ctx->position + t;
    for (int j = 0; j < 4; ++j)
      cache[row * 4 + j] = y[t * 4 + j];
    for (int j = 0; j < 4; ++j) {
      float sum = 0;
      for (int64_t r = 0; r <= row; ++r)
        sum += cache[r * 4 + j];
      out[t * 4 + j] = sum;
    }
  }
}
// 13 inputs -> out, through the launch's table of buffer addresses, as a
// cuda launch of more than LLAMA_MAX_KERNEL_BUFFERS buffers passes them
// (KernelAbi.h): out[i] is element 1 of input i, and out[13] is 1 when
// b[0] is set and b[1..11] are null.
void k_table(void *const *b, const LlamaKernelContext *ctx) {
  (void)ctx;
  void *const *table = (void *const *)b[0];
  float *out = (float *)table[13];
  for (int i = 0; i < 13; ++i)
    out[i] = ((const float *)table[i])[1];
  int nulls = b[0] != 0;
  for (int i = 1; i < LLAMA_MAX_KERNEL_BUFFERS; ++i)
    nulls = nulls && b[i] == 0;
  out[13] = (float)nulls;
  out[14] = 0;
  out[15] = 0;
}
// src -> dst: 64 raw bytes, to look at what a buffer holds
void k_copy64(void *const *b, const LlamaKernelContext *ctx) {
  (void)ctx;
  const unsigned char *src = (const unsigned char *)b[0];
  unsigned char *dst = (unsigned char *)b[1];
  for (int i = 0; i < 64; ++i)
    dst[i] = src[i];
}
}
)";
}

std::vector<uint8_t>
llamac::test::compileSharedObject(const std::string &source) {
  static std::map<std::string, std::vector<uint8_t>> cache;
  static TempDir dir;
  auto found = cache.find(source);
  if (found != cache.end())
    return found->second;
  std::string name = "kernels" + std::to_string(cache.size());
  std::string sourcePath = dir.file(name + ".cpp");
  std::string objectPath = dir.file(name + ".so");
  writeBytes(sourcePath, std::vector<uint8_t>(source.begin(), source.end()));
  std::string command = std::string(LLAMAC_TEST_CXX) + " -shared -fPIC -O1 -I" +
                        LLAMAC_SOURCE_DIR + " -o " + objectPath + " " +
                        sourcePath + " 2>&1";
  int exit = std::system(command.c_str());
  EXPECT_EQ(exit, 0) << "compiling the test kernels failed: " << command;
  std::vector<uint8_t> bytes =
      exit == 0 ? readBytes(objectPath) : std::vector<uint8_t>();
  cache[source] = bytes;
  return bytes;
}

ModelConfig llamac::test::toyConfig() {
  ModelConfig config;
  config.name = "toy";
  config.dim = 4;
  config.nLayers = 1;
  config.nHeads = 2;
  config.nKvHeads = 1;
  config.ffnDim = 8;
  config.vocabSize = 8;
  config.maxSeqLen = 16;
  config.sharedClassifier = true;
  return config;
}

ArtifactSpec llamac::test::toyArtifact(std::vector<uint8_t> binary) {
  ArtifactSpec spec;
  spec.config = toyConfig();
  auto buffer = [&](std::string name, BufferKind kind, ElementType type,
                    std::vector<int64_t> shape, uint64_t offset = 0) {
    spec.buffers.push_back(
        {std::move(name), kind, type, std::move(shape), offset});
  };
  // In ToyBuffer order.
  buffer("tokens", BufferKind::Input, ElementType::I32, {1, -1});
  buffer("tok_embeddings.weight", BufferKind::Weight, ElementType::F32, {8, 4});
  buffer("norm.weight", BufferKind::Weight, ElementType::F32, {4});
  buffer("norm.packed", BufferKind::Packed, ElementType::F32, {4});
  buffer("k_cache.0", BufferKind::Cache, ElementType::F32, {16, 4});
  // Prefill: [1, seq, 4] f32 is 256 bytes at seq 16.
  buffer("x", BufferKind::Activation, ElementType::F32, {1, -1, 4}, 0);
  buffer("y", BufferKind::Activation, ElementType::F32, {1, -1, 4}, 256);
  buffer("logits", BufferKind::Activation, ElementType::F32, {1, -1, 4}, 512);
  // Decode: 16 bytes each, on their own cache lines.
  buffer("x.decode", BufferKind::Activation, ElementType::F32, {1, 1, 4}, 0);
  buffer("y.decode", BufferKind::Activation, ElementType::F32, {1, 1, 4}, 64);
  buffer("logits.decode", BufferKind::Activation, ElementType::F32, {1, 1, 4},
         128);

  spec.kernels = {{"k_embed", "embedding", ""},
                  {"k_pack", "pack", "norm"},
                  {"k_add", "add", "layers.0.ffn"},
                  {"k_accumulate", "attention", "layers.0.attention"}};

  EntrySpec load;
  load.name = "load";
  load.seq = 1;
  load.maxSeq = 1;
  load.launches = {{1, {kNorm, kPacked}}};
  spec.entries.push_back(load);

  EntrySpec prefill;
  prefill.name = "prefill";
  prefill.seq = -1;
  prefill.maxSeq = 16;
  prefill.arenaBytes = 768;
  prefill.launches = {{0, {kTokens, kEmbedding, kPrefillX}},
                      {2, {kPrefillX, kPacked, kPrefillY}},
                      {3, {kCache, kPrefillY, kPrefillLogits}}};
  prefill.inputs = {kTokens};
  prefill.outputs = {kPrefillLogits};
  spec.entries.push_back(prefill);

  EntrySpec decode;
  decode.name = "decode";
  decode.seq = 1;
  decode.maxSeq = 1;
  decode.arenaBytes = 144;
  decode.launches = {{0, {kTokens, kEmbedding, kDecodeX}},
                     {2, {kDecodeX, kPacked, kDecodeY}},
                     {3, {kCache, kDecodeY, kDecodeLogits}}};
  decode.inputs = {kTokens};
  decode.outputs = {kDecodeLogits};
  spec.entries.push_back(decode);

  spec.binaries.push_back(
      {"cpu", "x86-64", "elf-shared-object", std::move(binary)});
  spec.kernelSource = toyKernelSource();
  spec.provenance = {"0.1.0", "0123456789abcdef", "llamac --target=cpu",
                     "test compiler"};
  return spec;
}

ArtifactSpec llamac::test::toyArtifact() {
  return toyArtifact(compileSharedObject(toyKernelSource()));
}

BinarySpec llamac::test::toyCudaBinary(const std::string &arch,
                                       const std::string &format,
                                       int abiVersion,
                                       bool waitsForPreviousKernel,
                                       bool runsWgmmaKernels) {
  std::string source = toyKernelSource(abiVersion);
  if (waitsForPreviousKernel)
    source += "extern \"C\" const int llama_grid_dependency_wait = 1;\n";
  if (runsWgmmaKernels)
    source += "extern \"C\" const int llama_wgmma_kernels = 1;\n";
  std::vector<uint8_t> object = compileSharedObject(source);
  if (format != "ptx")
    return {"cuda", arch, format, object};
  static TempDir dir;
  std::string path =
      dir.file("ptx" + std::to_string(abiVersion) + "-" + arch + ".so");
  writeBytes(path, object);
  std::string text = "FAKEPTX:" + path;
  return {"cuda", arch, "ptx", std::vector<uint8_t>(text.begin(), text.end())};
}

ArtifactSpec llamac::test::cudaToyArtifact(std::vector<BinarySpec> binaries) {
  ArtifactSpec spec = toyArtifact(std::vector<uint8_t>{0x7f, 'E', 'L', 'F'});
  spec.binaries = std::move(binaries);
  LaunchGeometry &embed = spec.kernels[0].geometry;
  embed.gridBase[1] = 2;
  embed.rowsPerBlock[0] = 2;
  embed.block[0] = 32;
  embed.block[1] = 4;
  embed.sharedBytes = 256;
  spec.provenance.flags = "llamac --target=cuda";
  return spec;
}

ArtifactSpec llamac::test::cudaToyArtifact() {
  return cudaToyArtifact({toyCudaBinary("sm_80", "cubin")});
}

ArtifactSpec llamac::test::tableCudaToyArtifact() {
  ArtifactSpec spec = cudaToyArtifact();
  spec.buffers.push_back(
      {"adamw.m.norm.weight", BufferKind::State, ElementType::F32, {4}, 0});
  spec.buffers.push_back(
      {"table.out", BufferKind::Activation, ElementType::F32, {1, 1, 16}, 0});
  spec.kernels.push_back({"k_table", "table", ""});
  EntrySpec table;
  table.name = "table";
  table.seq = 1;
  table.maxSeq = 1;
  table.arenaBytes = 64;
  LaunchSpec launch{uint32_t(spec.kernels.size() - 1), {}};
  const uint32_t inputs[] = {kNorm, kEmbedding, kPacked, kNormMoment};
  for (int i = 0; i < 13; ++i)
    launch.buffers.push_back(inputs[i % 4]);
  launch.buffers.push_back(kTableOut);
  table.launches = {launch};
  table.outputs = {kTableOut};
  spec.entries.push_back(table);
  return spec;
}

ArtifactSpec llamac::test::dumpArtifact(const std::string &weight,
                                        ElementType type,
                                        std::vector<int64_t> shape) {
  ArtifactSpec spec;
  spec.config = toyConfig();
  // One head of 4: RoPE re-ordering of 2-row heads would be the identity.
  spec.config.nHeads = 1;
  spec.config.nKvHeads = 1;
  spec.buffers.push_back({weight, BufferKind::Weight, type, shape, 0});
  spec.buffers.push_back({"dump", BufferKind::Activation, type, shape, 0});
  spec.kernels = {{"k_copy64", "copy", ""}};
  EntrySpec dump;
  dump.name = "dump";
  dump.seq = 1;
  dump.maxSeq = 1;
  dump.arenaBytes = 64;
  dump.launches = {{0, {0, 1}}};
  dump.outputs = {1};
  spec.entries.push_back(dump);
  spec.binaries.push_back({"cpu", "x86-64", "elf-shared-object",
                           compileSharedObject(toyKernelSource())});
  return spec;
}

StatusOr<WeightData>
llamac::test::MemoryWeights::fetch(const std::string &name,
                                   const std::vector<int64_t> &) {
  auto found = tensors.find(name);
  if (found == tensors.end())
    return missingWeight(origin(), name);
  WeightData data;
  data.shape = found->second.first;
  data.data = found->second.second.data();
  return data;
}

llamac::test::MemoryWeights llamac::test::toyWeights() {
  MemoryWeights weights;
  std::vector<float> table;
  for (int r = 0; r < 8; ++r)
    table.insert(table.end(), {float(r), r + 0.5f, -float(r), 1.0f});
  weights.tensors["tok_embeddings.weight"] = {{8, 4}, table};
  weights.tensors["norm.weight"] = {{4}, {1, 2, 3, 4}};
  return weights;
}

std::vector<std::vector<float>>
llamac::test::toyReference(const std::vector<int32_t> &tokens) {
  const float norm[4] = {1, 2, 3, 4};
  std::vector<std::vector<float>> rows;
  float sum[4] = {0, 0, 0, 0};
  for (int32_t token : tokens) {
    float r = float(token);
    float x[4] = {r, r + 0.5f, -r, 1.0f};
    for (int j = 0; j < 4; ++j)
      sum[j] += x[j] + 2 * norm[j];
    rows.push_back({sum[0], sum[1], sum[2], sum[3]});
  }
  return rows;
}
