//===- CpuAttentionTest.cpp - RoPE, KV cache and attention kernels --------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include <cmath>

using namespace llamac::test;

namespace {

const char *const attentionIR = R"mlir(
func.func @rope_adjacent_f32(%x: tensor<1x?x32xf32>, %p: i32) -> tensor<1x?x32xf32> {
  %0 = llama.rope %x, %p {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64} : (tensor<1x?x32xf32>, i32) -> tensor<1x?x32xf32>
  return %0 : tensor<1x?x32xf32>
}
func.func @rope_half_bf16(%x: tensor<2x3x32xbf16>, %p: i32) -> tensor<2x3x32xbf16> {
  %0 = llama.rope %x, %p {head_dim = 16 : i64, style = #llama<rope_style half>, theta = 5.000000e+05 : f64} : (tensor<2x3x32xbf16>, i32) -> tensor<2x3x32xbf16>
  return %0 : tensor<2x3x32xbf16>
}
func.func @rope_baked_f32(%x: tensor<1x2x16xf32>) -> tensor<1x2x16xf32> {
  %p = arith.constant 7 : i32
  %0 = llama.rope %x, %p {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64} : (tensor<1x2x16xf32>, i32) -> tensor<1x2x16xf32>
  return %0 : tensor<1x2x16xf32>
}
func.func @kv_write_f32(%c: tensor<2x10x12xf32>, %v: tensor<2x?x12xf32>, %p: i32) -> tensor<2x10x12xf32> {
  %0 = llama.kv_cache_write %c, %v, %p : (tensor<2x10x12xf32>, tensor<2x?x12xf32>, i32) -> tensor<2x10x12xf32>
  return %0 : tensor<2x10x12xf32>
}
func.func @attention_mha_f32(%q: tensor<1x?x32xf32>, %k: tensor<1x16x32xf32>, %v: tensor<1x16x32xf32>, %p: i32) -> tensor<1x?x32xf32> {
  %0 = llama.attention %q, %k, %v, %p {num_heads = 4 : i64, num_kv_heads = 4 : i64} : (tensor<1x?x32xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x?x32xf32>
  return %0 : tensor<1x?x32xf32>
}
func.func @attention_gqa_bf16(%q: tensor<2x?x48xbf16>, %k: tensor<2x12x16xbf16>, %v: tensor<2x12x16xbf16>, %p: i32) -> tensor<2x?x48xbf16> {
  %0 = llama.attention %q, %k, %v, %p {num_heads = 6 : i64, num_kv_heads = 2 : i64, scale = 3.000000e-01 : f64} : (tensor<2x?x48xbf16>, tensor<2x12x16xbf16>, tensor<2x12x16xbf16>, i32) -> tensor<2x?x48xbf16>
  return %0 : tensor<2x?x48xbf16>
}
func.func @attention_train_f32(%q: tensor<1x?x32xf32>, %k: tensor<1x?x16xf32>, %v: tensor<1x?x16xf32>) -> tensor<1x?x32xf32> {
  %p = arith.constant 0 : i32
  %0 = llama.attention %q, %k, %v, %p {num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<1x?x32xf32>, tensor<1x?x16xf32>, tensor<1x?x16xf32>, i32) -> tensor<1x?x32xf32>
  return %0 : tensor<1x?x32xf32>
}
func.func @fused_cache_f32(%q: tensor<1x?x32xf32>, %k: tensor<1x?x16xf32>, %v: tensor<1x?x16xf32>, %p: i32, %kc: tensor<1x16x16xf32>, %vc: tensor<1x16x16xf32>) -> (tensor<1x?x32xf32>, tensor<1x16x16xf32>, tensor<1x16x16xf32>) {
  %0:3 = llama.fused_rope_attention %q, %k, %v, %p cache(%kc, %vc) {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64} : (tensor<1x?x32xf32>, tensor<1x?x16xf32>, tensor<1x?x16xf32>, i32, tensor<1x16x16xf32>, tensor<1x16x16xf32>) -> (tensor<1x?x32xf32>, tensor<1x16x16xf32>, tensor<1x16x16xf32>)
  return %0#0, %0#1, %0#2 : tensor<1x?x32xf32>, tensor<1x16x16xf32>, tensor<1x16x16xf32>
}
func.func @fused_cache_half_bf16(%q: tensor<2x?x64xbf16>, %k: tensor<2x?x32xbf16>, %v: tensor<2x?x32xbf16>, %p: i32, %kc: tensor<2x12x32xbf16>, %vc: tensor<2x12x32xbf16>) -> (tensor<2x?x64xbf16>, tensor<2x12x32xbf16>, tensor<2x12x32xbf16>) {
  %0:3 = llama.fused_rope_attention %q, %k, %v, %p cache(%kc, %vc) {head_dim = 16 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, style = #llama<rope_style half>, theta = 1.000000e+04 : f64} : (tensor<2x?x64xbf16>, tensor<2x?x32xbf16>, tensor<2x?x32xbf16>, i32, tensor<2x12x32xbf16>, tensor<2x12x32xbf16>) -> (tensor<2x?x64xbf16>, tensor<2x12x32xbf16>, tensor<2x12x32xbf16>)
  return %0#0, %0#1, %0#2 : tensor<2x?x64xbf16>, tensor<2x12x32xbf16>, tensor<2x12x32xbf16>
}
func.func @fused_cache_h8_f32(%q: tensor<2x?x64xf32>, %k: tensor<2x?x32xf32>, %v: tensor<2x?x32xf32>, %p: i32, %kc: tensor<2x24x32xf32>, %vc: tensor<2x24x32xf32>) -> (tensor<2x?x64xf32>, tensor<2x24x32xf32>, tensor<2x24x32xf32>) {
  %0:3 = llama.fused_rope_attention %q, %k, %v, %p cache(%kc, %vc) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64} : (tensor<2x?x64xf32>, tensor<2x?x32xf32>, tensor<2x?x32xf32>, i32, tensor<2x24x32xf32>, tensor<2x24x32xf32>) -> (tensor<2x?x64xf32>, tensor<2x24x32xf32>, tensor<2x24x32xf32>)
  return %0#0, %0#1, %0#2 : tensor<2x?x64xf32>, tensor<2x24x32xf32>, tensor<2x24x32xf32>
}
func.func @attention_h16_f32(%q: tensor<1x?x128xf32>, %k: tensor<1x20x16xf32>, %v: tensor<1x20x16xf32>, %p: i32) -> tensor<1x?x128xf32> {
  %0 = llama.attention %q, %k, %v, %p {num_heads = 16 : i64, num_kv_heads = 2 : i64, scale = 3.000000e-01 : f64} : (tensor<1x?x128xf32>, tensor<1x20x16xf32>, tensor<1x20x16xf32>, i32) -> tensor<1x?x128xf32>
  return %0 : tensor<1x?x128xf32>
}
func.func @fused_train_f32(%q: tensor<2x5x32xf32>, %k: tensor<2x5x16xf32>, %v: tensor<2x5x16xf32>) -> tensor<2x5x32xf32> {
  %p = arith.constant 0 : i32
  %0 = llama.fused_rope_attention %q, %k, %v, %p {head_dim = 8 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64} : (tensor<2x5x32xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>, i32) -> tensor<2x5x32xf32>
  return %0 : tensor<2x5x32xf32>
}
)mlir";

const KernelLibrary &library() {
  static KernelLibrary lib = KernelLibrary::fromMlir(attentionIR);
  return lib;
}

std::vector<double> toDouble(const std::vector<float> &v) {
  return std::vector<double>(v.begin(), v.end());
}

/// RoPE of rows [batch * seq][features] in double; token s is at
/// `position + s`.
std::vector<double> referenceRope(const std::vector<double> &x, int64_t seq,
                                  int64_t features, int64_t headDim,
                                  double theta, bool adjacent,
                                  int64_t position) {
  std::vector<double> y = x;
  int64_t rows = x.size() / features, half = headDim / 2;
  for (int64_t r = 0; r < rows; ++r) {
    double p = position + r % seq;
    for (int64_t h = 0; h < features / headDim; ++h)
      for (int64_t i = 0; i < half; ++i) {
        double angle = p * std::pow(theta, -2.0 * i / headDim);
        int64_t a = r * features + h * headDim + (adjacent ? 2 * i : i);
        int64_t b = a + (adjacent ? 1 : half);
        y[a] = x[a] * std::cos(angle) - x[b] * std::sin(angle);
        y[b] = x[a] * std::sin(angle) + x[b] * std::cos(angle);
      }
  }
  return y;
}

/// Causal GQA attention: q is [B][S][H*D], k and v are [B][L][KVH*D];
/// query s attends to rows j <= position + s.
std::vector<double>
referenceAttention(const std::vector<double> &q, const std::vector<double> &k,
                   const std::vector<double> &v, int64_t batch, int64_t seq,
                   int64_t len, int64_t heads, int64_t kvHeads, int64_t headDim,
                   int64_t position, double scale = 0) {
  if (scale == 0)
    scale = 1.0 / std::sqrt(double(headDim));
  int64_t qf = heads * headDim, kvf = kvHeads * headDim;
  std::vector<double> out(batch * seq * qf);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h) {
        int64_t g = h / (heads / kvHeads);
        int64_t last = std::min(position + s, len - 1);
        std::vector<double> w(last + 1);
        double maxScore = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < headDim; ++i)
            dot += q[(b * seq + s) * qf + h * headDim + i] *
                   k[(b * len + j) * kvf + g * headDim + i];
          w[j] = dot * scale;
          maxScore = std::max(maxScore, w[j]);
        }
        for (double &x : w)
          sum += (x = std::exp(x - maxScore));
        for (int64_t i = 0; i < headDim; ++i) {
          double acc = 0;
          for (int64_t j = 0; j <= last; ++j)
            acc += w[j] / sum * v[(b * len + j) * kvf + g * headDim + i];
          out[(b * seq + s) * qf + h * headDim + i] = acc;
        }
      }
  return out;
}

/// `cache` [B][L][F] with rows [position, position + S) of batch b replaced
/// by `rows` [B][S][F].
std::vector<double> referenceCacheWrite(std::vector<double> cache,
                                        const std::vector<double> &rows,
                                        int64_t batch, int64_t seq, int64_t len,
                                        int64_t features, int64_t position) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t i = 0; i < features; ++i)
        cache[(b * len + position + s) * features + i] =
            rows[(b * seq + s) * features + i];
  return cache;
}

TEST(CpuAttention, LibraryBuilds) { ASSERT_EQ(library().error(), ""); }

TEST(CpuRoPE, AdjacentF32) {
  for (auto [seq, position] :
       {std::pair<int64_t, int32_t>{1, 0}, {1, 37}, {5, 3}}) {
    Buffer x = Buffer::random(Dtype::F32, seq * 32, 1);
    Buffer y = Buffer::zeros(Dtype::F32, seq * 32);
    library().run("rope_adjacent_f32", {&x, &y}, makeContext(1, seq, position));
    expectClose(
        y.values(),
        referenceRope(toDouble(x.values()), seq, 32, 8, 1e4, true, position),
        1e-5, 1e-5, "rope_adjacent_f32");
  }
}

TEST(CpuRoPE, HalfBf16) {
  Buffer x = Buffer::random(Dtype::BF16, 2 * 3 * 32, 2);
  Buffer y = Buffer::zeros(Dtype::BF16, 2 * 3 * 32);
  library().run("rope_half_bf16", {&x, &y}, makeContext(2, 3, 11));
  expectClose(y.values(),
              referenceRope(toDouble(x.values()), 3, 32, 16, 5e5, false, 11),
              2e-2, 2e-2, "rope_half_bf16");
}

TEST(CpuRoPE, BakedPositionIgnoresContext) {
  Buffer x = Buffer::random(Dtype::F32, 2 * 16, 3);
  Buffer y = Buffer::zeros(Dtype::F32, 2 * 16);
  library().run("rope_baked_f32", {&x, &y}, makeContext(1, 2, 999));
  expectClose(y.values(),
              referenceRope(toDouble(x.values()), 2, 16, 8, 1e4, true, 7), 1e-5,
              1e-5, "rope_baked_f32");
}

TEST(CpuKVCache, WritesRowsInPlace) {
  const int64_t len = 10, f = 12, seq = 3, position = 4;
  Buffer cache = Buffer::random(Dtype::F32, 2 * len * f, 4);
  Buffer value = Buffer::random(Dtype::F32, 2 * seq * f, 5);
  std::vector<double> expected =
      referenceCacheWrite(toDouble(cache.values()), toDouble(value.values()), 2,
                          seq, len, f, position);
  // The result is the cache operand itself.
  library().run("kv_write_f32", {&cache, &value, &cache},
                makeContext(2, seq, position));
  expectClose(cache.values(), expected, 0, 0, "in place");
  // A distinct result buffer gets the whole updated cache.
  Buffer fresh = Buffer::random(Dtype::F32, 2 * len * f, 4);
  Buffer out = Buffer::zeros(Dtype::F32, 2 * len * f);
  library().run("kv_write_f32", {&fresh, &value, &out},
                makeContext(2, seq, position));
  expectClose(out.values(), expected, 0, 0, "copied");
}

struct AttentionCase {
  int64_t seq;
  int32_t position;
};

class CpuAttentionCases : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(CpuAttentionCases, MhaF32) {
  auto [seq, position] = GetParam();
  Buffer q = Buffer::random(Dtype::F32, seq * 32, 6, -2, 2);
  Buffer k = Buffer::random(Dtype::F32, 16 * 32, 7, -2, 2);
  Buffer v = Buffer::random(Dtype::F32, 16 * 32, 8);
  Buffer out = Buffer::zeros(Dtype::F32, seq * 32);
  library().run("attention_mha_f32", {&q, &k, &v, &out},
                makeContext(1, seq, position));
  expectClose(out.values(),
              referenceAttention(toDouble(q.values()), toDouble(k.values()),
                                 toDouble(v.values()), 1, seq, 16, 4, 4, 8,
                                 position),
              1e-5, 1e-5, "attention_mha_f32");
}

TEST_P(CpuAttentionCases, GqaBf16) {
  auto [seq, position] = GetParam();
  Buffer q = Buffer::random(Dtype::BF16, 2 * seq * 48, 9, -2, 2);
  Buffer k = Buffer::random(Dtype::BF16, 2 * 12 * 16, 10, -2, 2);
  Buffer v = Buffer::random(Dtype::BF16, 2 * 12 * 16, 11);
  Buffer out = Buffer::zeros(Dtype::BF16, 2 * seq * 48);
  library().run("attention_gqa_bf16", {&q, &k, &v, &out},
                makeContext(2, seq, position));
  expectClose(out.values(),
              referenceAttention(toDouble(q.values()), toDouble(k.values()),
                                 toDouble(v.values()), 2, seq, 12, 6, 2, 8,
                                 position, 0.3),
              2e-2, 2e-2, "attention_gqa_bf16");
}

TEST_P(CpuAttentionCases, FusedWithCacheF32) {
  auto [seq, position] = GetParam();
  const int64_t len = 16;
  Buffer q = Buffer::random(Dtype::F32, seq * 32, 12, -2, 2);
  Buffer k = Buffer::random(Dtype::F32, seq * 16, 13, -2, 2);
  Buffer v = Buffer::random(Dtype::F32, seq * 16, 14);
  Buffer kc = Buffer::random(Dtype::F32, len * 16, 15, -2, 2);
  Buffer vc = Buffer::random(Dtype::F32, len * 16, 16);
  std::vector<double> keys = referenceCacheWrite(
      toDouble(kc.values()),
      referenceRope(toDouble(k.values()), seq, 16, 8, 1e4, true, position), 1,
      seq, len, 16, position);
  std::vector<double> values = referenceCacheWrite(
      toDouble(vc.values()), toDouble(v.values()), 1, seq, len, 16, position);
  std::vector<double> expected = referenceAttention(
      referenceRope(toDouble(q.values()), seq, 32, 8, 1e4, true, position),
      keys, values, 1, seq, len, 4, 2, 8, position);
  Buffer out = Buffer::zeros(Dtype::F32, seq * 32);
  library().run("fused_cache_f32", {&q, &k, &v, &kc, &vc, &out, &kc, &vc},
                makeContext(1, seq, position));
  expectClose(out.values(), expected, 1e-5, 1e-5, "output");
  expectClose(kc.values(), keys, 1e-5, 1e-5, "key cache");
  expectClose(vc.values(), values, 0, 0, "value cache");
}

TEST_P(CpuAttentionCases, FusedWithCacheHalfBf16) {
  auto [seq, position] = GetParam();
  const int64_t len = 12, batch = 2;
  Buffer q = Buffer::random(Dtype::BF16, batch * seq * 64, 17, -2, 2);
  Buffer k = Buffer::random(Dtype::BF16, batch * seq * 32, 18, -2, 2);
  Buffer v = Buffer::random(Dtype::BF16, batch * seq * 32, 19);
  Buffer kc = Buffer::random(Dtype::BF16, batch * len * 32, 20, -2, 2);
  Buffer vc = Buffer::random(Dtype::BF16, batch * len * 32, 21);
  std::vector<double> keys = referenceCacheWrite(
      toDouble(kc.values()),
      referenceRope(toDouble(k.values()), seq, 32, 16, 1e4, false, position),
      batch, seq, len, 32, position);
  std::vector<double> values =
      referenceCacheWrite(toDouble(vc.values()), toDouble(v.values()), batch,
                          seq, len, 32, position);
  std::vector<double> expected = referenceAttention(
      referenceRope(toDouble(q.values()), seq, 64, 16, 1e4, false, position),
      keys, values, batch, seq, len, 4, 2, 16, position);
  Buffer out = Buffer::zeros(Dtype::BF16, batch * seq * 64);
  library().run("fused_cache_half_bf16", {&q, &k, &v, &kc, &vc, &out, &kc, &vc},
                makeContext(batch, seq, position));
  expectClose(out.values(), expected, 2e-2, 2e-2, "output");
  expectClose(kc.values(), keys, 2e-2, 2e-2, "key cache");
  expectClose(vc.values(), values, 0, 0, "value cache");
}

INSTANTIATE_TEST_SUITE_P(Positions, CpuAttentionCases,
                         ::testing::Values(AttentionCase{1, 0},
                                           AttentionCase{1, 9},
                                           AttentionCase{4, 0},
                                           AttentionCase{4, 5}),
                         [](const auto &info) {
                           return "seq" + std::to_string(info.param.seq) +
                                  "_pos" + std::to_string(info.param.position);
                         });

/// Head dim 8 with heads in blocks of 8 takes the vectorized path
/// (llamaScoresD8F32, llamaAttendD8F32): key counts below, at and past
/// multiples of 8, GQA groups of 2.
TEST(CpuAttention, FusedWithCacheEightHeadsF32) {
  const int64_t len = 24, batch = 2;
  for (auto [seq, position] : {std::pair<int64_t, int32_t>{1, 0},
                               {1, 7},
                               {1, 8},
                               {1, 23},
                               {3, 13},
                               {5, 2}}) {
    Buffer q = Buffer::random(Dtype::F32, batch * seq * 64, 80, -2, 2);
    Buffer k = Buffer::random(Dtype::F32, batch * seq * 32, 81, -2, 2);
    Buffer v = Buffer::random(Dtype::F32, batch * seq * 32, 82);
    Buffer kc = Buffer::random(Dtype::F32, batch * len * 32, 83, -2, 2);
    Buffer vc = Buffer::random(Dtype::F32, batch * len * 32, 84);
    std::vector<double> keys = referenceCacheWrite(
        toDouble(kc.values()),
        referenceRope(toDouble(k.values()), seq, 32, 8, 1e4, true, position),
        batch, seq, len, 32, position);
    std::vector<double> values =
        referenceCacheWrite(toDouble(vc.values()), toDouble(v.values()), batch,
                            seq, len, 32, position);
    std::vector<double> expected = referenceAttention(
        referenceRope(toDouble(q.values()), seq, 64, 8, 1e4, true, position),
        keys, values, batch, seq, len, 8, 4, 8, position);
    Buffer out = Buffer::zeros(Dtype::F32, batch * seq * 64);
    library().run("fused_cache_h8_f32", {&q, &k, &v, &kc, &vc, &out, &kc, &vc},
                  makeContext(batch, seq, position));
    std::string at = " at seq " + std::to_string(seq) + ", position " +
                     std::to_string(position);
    expectClose(out.values(), expected, 1e-5, 1e-5, "output" + at);
    expectClose(kc.values(), keys, 1e-5, 1e-5, "key cache" + at);
    expectClose(vc.values(), values, 0, 0, "value cache" + at);
  }
}

/// Two blocks of 8 heads that all share one key head (GQA group 8).
TEST(CpuAttention, SixteenHeadsTwoKvHeadsF32) {
  for (auto [seq, position] :
       {std::pair<int64_t, int32_t>{1, 0}, {1, 19}, {3, 6}}) {
    Buffer q = Buffer::random(Dtype::F32, seq * 128, 85, -2, 2);
    Buffer k = Buffer::random(Dtype::F32, 20 * 16, 86, -2, 2);
    Buffer v = Buffer::random(Dtype::F32, 20 * 16, 87);
    Buffer out = Buffer::zeros(Dtype::F32, seq * 128);
    library().run("attention_h16_f32", {&q, &k, &v, &out},
                  makeContext(1, seq, position));
    expectClose(out.values(),
                referenceAttention(toDouble(q.values()), toDouble(k.values()),
                                   toDouble(v.values()), 1, seq, 20, 16, 2, 8,
                                   position, 0.3),
                1e-5, 1e-5,
                "attention_h16_f32 at position " + std::to_string(position));
  }
}

TEST(CpuAttention, TrainingWithoutCacheIsCausal) {
  const int64_t seq = 6;
  Buffer q = Buffer::random(Dtype::F32, seq * 32, 22, -2, 2);
  Buffer k = Buffer::random(Dtype::F32, seq * 16, 23, -2, 2);
  Buffer v = Buffer::random(Dtype::F32, seq * 16, 24);
  Buffer out = Buffer::zeros(Dtype::F32, seq * 32);
  library().run("attention_train_f32", {&q, &k, &v, &out},
                makeContext(1, seq, 123));
  expectClose(out.values(),
              referenceAttention(toDouble(q.values()), toDouble(k.values()),
                                 toDouble(v.values()), 1, seq, seq, 4, 2, 8, 0),
              1e-5, 1e-5, "attention_train_f32");
}

TEST(CpuAttention, FusedWithoutCache) {
  const int64_t seq = 5, batch = 2;
  Buffer q = Buffer::random(Dtype::F32, batch * seq * 32, 25, -2, 2);
  Buffer k = Buffer::random(Dtype::F32, batch * seq * 16, 26, -2, 2);
  Buffer v = Buffer::random(Dtype::F32, batch * seq * 16, 27);
  Buffer out = Buffer::zeros(Dtype::F32, batch * seq * 32);
  library().run("fused_train_f32", {&q, &k, &v, &out},
                makeContext(batch, seq, 0));
  std::vector<double> expected = referenceAttention(
      referenceRope(toDouble(q.values()), seq, 32, 8, 1e4, true, 0),
      referenceRope(toDouble(k.values()), seq, 16, 8, 1e4, true, 0),
      toDouble(v.values()), batch, seq, seq, 4, 2, 8, 0);
  expectClose(out.values(), expected, 1e-5, 1e-5, "fused_train_f32");
}

} // namespace
