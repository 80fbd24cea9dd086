//===- CpuElementwiseTest.cpp - Row-wise and elementwise kernels ----------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include <cmath>

using namespace llamac::test;

namespace {

const char *const elementwiseIR = R"mlir(
func.func @embedding_f32(%t: tensor<20x12xf32>, %ids: tensor<2x?xi32>) -> tensor<2x?x12xf32> {
  %0 = llama.embedding %t, %ids : (tensor<20x12xf32>, tensor<2x?xi32>) -> tensor<2x?x12xf32>
  return %0 : tensor<2x?x12xf32>
}
func.func @embedding_bf16(%t: tensor<20x12xbf16>, %ids: tensor<1x3xi32>) -> tensor<1x3x12xbf16> {
  %0 = llama.embedding %t, %ids : (tensor<20x12xbf16>, tensor<1x3xi32>) -> tensor<1x3x12xbf16>
  return %0 : tensor<1x3x12xbf16>
}
func.func @rmsnorm_f32(%x: tensor<1x?x40xf32>, %g: tensor<40xf32>) -> tensor<1x?x40xf32> {
  %0 = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x?x40xf32>, tensor<40xf32>) -> tensor<1x?x40xf32>
  return %0 : tensor<1x?x40xf32>
}
func.func @rmsnorm_bf16(%x: tensor<2x3x40xbf16>, %g: tensor<40xbf16>) -> tensor<2x3x40xbf16> {
  %0 = llama.rmsnorm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<2x3x40xbf16>, tensor<40xbf16>) -> tensor<2x3x40xbf16>
  return %0 : tensor<2x3x40xbf16>
}
func.func @silu_f32(%x: tensor<1x?x30xf32>) -> tensor<1x?x30xf32> {
  %0 = llama.silu %x : tensor<1x?x30xf32>
  return %0 : tensor<1x?x30xf32>
}
func.func @silu_f16(%x: tensor<1x2x30xf16>) -> tensor<1x2x30xf16> {
  %0 = llama.silu %x : tensor<1x2x30xf16>
  return %0 : tensor<1x2x30xf16>
}
func.func @mul_bf16(%a: tensor<1x?x30xbf16>, %b: tensor<1x?x30xbf16>) -> tensor<1x?x30xbf16> {
  %0 = llama.mul %a, %b : tensor<1x?x30xbf16>
  return %0 : tensor<1x?x30xbf16>
}
func.func @add_f32(%a: tensor<2x?x30xf32>, %b: tensor<2x?x30xf32>) -> tensor<2x?x30xf32> {
  %0 = llama.add %a, %b : tensor<2x?x30xf32>
  return %0 : tensor<2x?x30xf32>
}
func.func @add_large_f32(%a: tensor<1x?x4096xf32>, %b: tensor<1x?x4096xf32>) -> tensor<1x?x4096xf32> {
  %0 = llama.add %a, %b : tensor<1x?x4096xf32>
  return %0 : tensor<1x?x4096xf32>
}
func.func @xent_f32(%l: tensor<2x3x50xf32>, %t: tensor<2x3xi32>, %w: tensor<2x3xf32>) -> tensor<f32> {
  %0 = llama.cross_entropy %l, %t, %w : (tensor<2x3x50xf32>, tensor<2x3xi32>, tensor<2x3xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}
func.func @xent_bf16(%l: tensor<1x?x50xbf16>, %t: tensor<1x?xi32>, %w: tensor<1x?xf32>) -> tensor<f32> {
  %0 = llama.cross_entropy %l, %t, %w : (tensor<1x?x50xbf16>, tensor<1x?xi32>, tensor<1x?xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}
)mlir";

const KernelLibrary &library() {
  static KernelLibrary lib = KernelLibrary::fromMlir(elementwiseIR);
  return lib;
}

TEST(CpuElementwise, LibraryBuilds) { ASSERT_EQ(library().error(), ""); }

void checkEmbedding(Dtype dtype, const char *name, int64_t batch,
                    std::vector<int32_t> ids) {
  const int64_t f = 12;
  Buffer table = Buffer::random(dtype, 20 * f, 1);
  Buffer tokens = Buffer::tokens(ids);
  Buffer out = Buffer::zeros(dtype, ids.size() * f);
  library().run(name, {&table, &tokens, &out},
                makeContext(batch, ids.size() / batch, 0));
  std::vector<float> t = table.values();
  std::vector<double> expected;
  for (int32_t id : ids)
    for (int64_t i = 0; i < f; ++i)
      expected.push_back(id >= 0 && id < 20 ? t[id * f + i] : 0.0);
  expectClose(out.values(), expected, 0, 0, name);
}

TEST(CpuElementwise, Embedding) {
  checkEmbedding(Dtype::F32, "embedding_f32", 2, {3, 19, 0, 7, 7, 1});
  checkEmbedding(Dtype::BF16, "embedding_bf16", 1, {5, 0, 19});
}

TEST(CpuElementwise, EmbeddingOutOfRangeReadsZeros) {
  checkEmbedding(Dtype::F32, "embedding_f32", 2, {-1, 20});
}

void checkRmsnorm(Dtype dtype, const char *name, int64_t batch, int64_t seq,
                  double eps) {
  const int64_t f = 40, rows = batch * seq;
  Buffer x = Buffer::random(dtype, rows * f, 2, -3, 3);
  Buffer g = Buffer::random(dtype, f, 3, 0.5f, 1.5f);
  Buffer out = Buffer::zeros(dtype, rows * f);
  library().run(name, {&x, &g, &out}, makeContext(batch, seq, 0));
  std::vector<float> xs = x.values(), gs = g.values();
  std::vector<double> expected;
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < f; ++i)
      ss += double(xs[r * f + i]) * xs[r * f + i];
    double inv = 1 / std::sqrt(ss / f + eps);
    for (int64_t i = 0; i < f; ++i)
      expected.push_back(xs[r * f + i] * inv * gs[i]);
  }
  double tol = toleranceOf(dtype);
  expectClose(out.values(), expected, tol, tol, name);
}

TEST(CpuElementwise, RmsnormF32) {
  checkRmsnorm(Dtype::F32, "rmsnorm_f32", 1, 4, 1e-5);
}
TEST(CpuElementwise, RmsnormBf16) {
  checkRmsnorm(Dtype::BF16, "rmsnorm_bf16", 2, 3, 1e-6);
}

TEST(CpuElementwise, Silu) {
  for (auto [dtype, name] :
       {std::pair{Dtype::F32, "silu_f32"}, {Dtype::F16, "silu_f16"}}) {
    Buffer x = Buffer::random(dtype, 60, 4, -6, 6);
    Buffer out = Buffer::zeros(dtype, 60);
    library().run(name, {&x, &out}, makeContext(1, 2, 0));
    std::vector<double> expected;
    for (float v : x.values())
      expected.push_back(v / (1 + std::exp(-double(v))));
    double tol = toleranceOf(dtype);
    expectClose(out.values(), expected, tol, tol, name);
  }
}

void checkBinary(Dtype dtype, const char *name, int64_t batch, int64_t seq,
                 int64_t f, bool multiply, int threads = 1) {
  size_t n = batch * seq * f;
  Buffer a = Buffer::random(dtype, n, 5), b = Buffer::random(dtype, n, 6);
  Buffer out = Buffer::zeros(dtype, n);
  library().run(name, {&a, &b, &out}, makeContext(batch, seq, 0, threads));
  std::vector<float> av = a.values(), bv = b.values();
  std::vector<double> expected;
  for (size_t i = 0; i < n; ++i)
    expected.push_back(multiply ? double(av[i]) * bv[i]
                                : double(av[i]) + bv[i]);
  double tol = toleranceOf(dtype);
  expectClose(out.values(), expected, tol, tol, name);
}

TEST(CpuElementwise, MulBf16) {
  checkBinary(Dtype::BF16, "mul_bf16", 1, 3, 30, true);
}
TEST(CpuElementwise, AddF32) {
  checkBinary(Dtype::F32, "add_f32", 2, 3, 30, false);
}
TEST(CpuElementwise, AddParallelChunks) {
  // 70 x 4096 elements: many chunks, past the parallel threshold.
  checkBinary(Dtype::F32, "add_large_f32", 1, 70, 4096, false, 2);
}

/// sum(w * -log softmax(l)[t]) / sum(w), or 0 when every weight is 0.
double referenceCrossEntropy(const std::vector<float> &logits,
                             const std::vector<int32_t> &targets,
                             const std::vector<float> &weights, int64_t vocab) {
  double total = 0, weight = 0;
  for (size_t r = 0; r < targets.size(); ++r) {
    if (weights[r] == 0)
      continue;
    double maxLogit = -INFINITY, sum = 0;
    for (int64_t i = 0; i < vocab; ++i)
      maxLogit = std::max<double>(maxLogit, logits[r * vocab + i]);
    for (int64_t i = 0; i < vocab; ++i)
      sum += std::exp(logits[r * vocab + i] - maxLogit);
    total += weights[r] *
             (maxLogit + std::log(sum) - logits[r * vocab + targets[r]]);
    weight += weights[r];
  }
  return weight == 0 ? 0 : total / weight;
}

void checkCrossEntropy(Dtype dtype, const char *name, int64_t batch,
                       std::vector<int32_t> targets,
                       std::vector<float> weights) {
  const int64_t vocab = 50;
  int64_t seq = targets.size() / batch;
  Buffer logits = Buffer::random(dtype, targets.size() * vocab, 7, -4, 4);
  Buffer t = Buffer::tokens(targets);
  Buffer w(Dtype::F32, weights);
  Buffer out = Buffer::zeros(Dtype::F32, 1);
  library().run(name, {&logits, &t, &w, &out}, makeContext(batch, seq, 0));
  expectClose(out.values(),
              {referenceCrossEntropy(logits.values(), targets, weights, vocab)},
              1e-5, 1e-5, name);
}

TEST(CpuElementwise, CrossEntropyMasked) {
  // Weight 0 masks a row out, even with a target outside the vocabulary.
  checkCrossEntropy(Dtype::F32, "xent_f32", 2, {1, 49, 0, 7, -5, 30},
                    {1, 0.5f, 0, 2, 0, 1});
  checkCrossEntropy(Dtype::BF16, "xent_bf16", 1, {3, 4, 5, 6}, {0, 1, 1, 0});
}

TEST(CpuElementwise, CrossEntropyAllMaskedIsZero) {
  checkCrossEntropy(Dtype::BF16, "xent_bf16", 1, {3, 4}, {0, 0});
}

} // namespace
