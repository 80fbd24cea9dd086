//===- CpuGradTest.cpp - Kernels of the backward ops ----------------------===//
//
// Each backward kernel is checked against central finite differences of an
// independent double-precision reference of its FORWARD op: with a random
// upstream gradient dy, the gradient of sum(dy * forward(inputs)) with
// respect to each input must be what the kernel returns. The differences
// are taken in double (eps 1e-5), so they are exact to ~1e-9 and the
// tolerance is the f32 kernel's own rounding (2e-4 relative + absolute).
//
// The whole-model test builds forward_loss for a tiny Llama, runs
// llama-autodiff, lowers @loss_and_grads with the kernel-level lowering and
// runs its launches; the returned gradients must match central differences
// (eps 3e-3, in f32) of the loss that the forward_loss entry computes.
//
//===----------------------------------------------------------------------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include "codegen/LowerToKernels.h"
#include "codegen/cpu/CpuEmitter.h"
#include "frontend/ModelBuilder.h"
#include "ir/LlamaOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>

using namespace llamac::test;

namespace {

const char *const gradIR = R"mlir(
func.func @embedding_grad(%ids: tensor<2x3xi32>, %dy: tensor<2x3x5xf32>) -> tensor<7x5xf32> {
  %0 = llama.embedding_grad %ids, %dy : (tensor<2x3xi32>, tensor<2x3x5xf32>) -> tensor<7x5xf32>
  return %0 : tensor<7x5xf32>
}
func.func @rmsnorm_grad(%x: tensor<1x?x12xf32>, %g: tensor<12xf32>, %dy: tensor<1x?x12xf32>) -> (tensor<1x?x12xf32>, tensor<12xf32>) {
  %0, %1 = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x?x12xf32>, tensor<12xf32>, tensor<1x?x12xf32>) -> (tensor<1x?x12xf32>, tensor<12xf32>)
  return %0, %1 : tensor<1x?x12xf32>, tensor<12xf32>
}
func.func @matmul_grad(%x: tensor<2x3x10xf32>, %w: tensor<6x10xf32>, %dy: tensor<2x3x6xf32>) -> (tensor<2x3x10xf32>, tensor<6x10xf32>) {
  %0, %1 = llama.matmul_grad %x, %w, %dy : (tensor<2x3x10xf32>, tensor<6x10xf32>, tensor<2x3x6xf32>) -> (tensor<2x3x10xf32>, tensor<6x10xf32>)
  return %0, %1 : tensor<2x3x10xf32>, tensor<6x10xf32>
}
func.func @matmul_grad_bf16(%x: tensor<1x?x10xbf16>, %w: tensor<6x10xbf16>, %dy: tensor<1x?x6xbf16>) -> (tensor<1x?x10xbf16>, tensor<6x10xbf16>) {
  %0, %1 = llama.matmul_grad %x, %w, %dy : (tensor<1x?x10xbf16>, tensor<6x10xbf16>, tensor<1x?x6xbf16>) -> (tensor<1x?x10xbf16>, tensor<6x10xbf16>)
  return %0, %1 : tensor<1x?x10xbf16>, tensor<6x10xbf16>
}
func.func @rope_grad_adjacent(%dy: tensor<1x?x16xf32>, %pos: i32) -> tensor<1x?x16xf32> {
  %0 = llama.rope_grad %dy, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64} : (tensor<1x?x16xf32>, i32) -> tensor<1x?x16xf32>
  return %0 : tensor<1x?x16xf32>
}
func.func @rope_grad_half(%dy: tensor<1x?x16xf32>, %pos: i32) -> tensor<1x?x16xf32> {
  %0 = llama.rope_grad %dy, %pos {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 1.000000e+04 : f64} : (tensor<1x?x16xf32>, i32) -> tensor<1x?x16xf32>
  return %0 : tensor<1x?x16xf32>
}
func.func @attention_grad(%q: tensor<2x?x16xf32>, %k: tensor<2x?x8xf32>, %v: tensor<2x?x8xf32>, %pos: i32, %do: tensor<2x?x16xf32>) -> (tensor<2x?x16xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>) {
  %0, %1, %2 = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 4 : i64, num_kv_heads = 2 : i64} : (tensor<2x?x16xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, i32, tensor<2x?x16xf32>) -> (tensor<2x?x16xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>)
  return %0, %1, %2 : tensor<2x?x16xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>
}
func.func @attention_grad_scaled(%q: tensor<1x4x16xf32>, %k: tensor<1x4x16xf32>, %v: tensor<1x4x16xf32>, %pos: i32, %do: tensor<1x4x16xf32>) -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>) {
  %0, %1, %2 = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 2 : i64, num_kv_heads = 2 : i64, scale = 0.75 : f64} : (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, i32, tensor<1x4x16xf32>) -> (tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>)
  return %0, %1, %2 : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>
}
func.func @silu_grad(%x: tensor<1x?x10xf32>, %dy: tensor<1x?x10xf32>) -> tensor<1x?x10xf32> {
  %0 = llama.silu_grad %x, %dy : tensor<1x?x10xf32>
  return %0 : tensor<1x?x10xf32>
}
func.func @swiglu_grad(%g: tensor<1x?x10xf32>, %u: tensor<1x?x10xf32>, %dh: tensor<1x?x10xf32>) -> (tensor<1x?x10xf32>, tensor<1x?x10xf32>) {
  %0, %1 = llama.swiglu_grad %g, %u, %dh : tensor<1x?x10xf32>
  return %0, %1 : tensor<1x?x10xf32>, tensor<1x?x10xf32>
}
func.func @fused_norm_grad(%x: tensor<1x?x40xf32>, %g: tensor<40xf32>, %w1: tensor<8x40xf32>, %w2: tensor<7x40xf32>, %d1: tensor<1x?x8xf32>, %d2: tensor<1x?x7xf32>, %res: tensor<1x?x40xf32>) -> (tensor<1x?x40xf32>, tensor<40xf32>, tensor<8x40xf32>, tensor<7x40xf32>) {
  %0, %1, %2:2 = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w1, %w2) dys(%d1, %d2) residual(%res) {epsilon = 1.0e-05 : f64} : (tensor<1x?x40xf32>, tensor<40xf32>, tensor<8x40xf32>, tensor<7x40xf32>, tensor<1x?x8xf32>, tensor<1x?x7xf32>, tensor<1x?x40xf32>) -> (tensor<1x?x40xf32>, tensor<40xf32>, tensor<8x40xf32>, tensor<7x40xf32>)
  return %0, %1, %2#0, %2#1 : tensor<1x?x40xf32>, tensor<40xf32>, tensor<8x40xf32>, tensor<7x40xf32>
}
func.func @fused_norm_grad_bf16(%x: tensor<1x?x40xbf16>, %g: tensor<40xbf16>, %w1: tensor<8x40xbf16>, %w2: tensor<7x40xbf16>, %d1: tensor<1x?x8xbf16>, %d2: tensor<1x?x7xbf16>, %res: tensor<1x?x40xbf16>) -> (tensor<1x?x40xbf16>, tensor<40xbf16>, tensor<8x40xbf16>, tensor<7x40xbf16>) {
  %0, %1, %2:2 = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w1, %w2) dys(%d1, %d2) residual(%res) {epsilon = 1.0e-05 : f64} : (tensor<1x?x40xbf16>, tensor<40xbf16>, tensor<8x40xbf16>, tensor<7x40xbf16>, tensor<1x?x8xbf16>, tensor<1x?x7xbf16>, tensor<1x?x40xbf16>) -> (tensor<1x?x40xbf16>, tensor<40xbf16>, tensor<8x40xbf16>, tensor<7x40xbf16>)
  return %0, %1, %2#0, %2#1 : tensor<1x?x40xbf16>, tensor<40xbf16>, tensor<8x40xbf16>, tensor<7x40xbf16>
}
func.func @cross_entropy_grad(%l: tensor<2x3x7xf32>, %t: tensor<2x3xi32>, %w: tensor<2x3xf32>) -> tensor<2x3x7xf32> {
  %0 = llama.cross_entropy_grad %l, %t, %w : (tensor<2x3x7xf32>, tensor<2x3xi32>, tensor<2x3xf32>) -> tensor<2x3x7xf32>
  return %0 : tensor<2x3x7xf32>
}
)mlir";

const KernelLibrary &library() {
  static KernelLibrary lib = KernelLibrary::fromMlir(gradIR);
  return lib;
}

/// The f32 kernels against exact gradients: their own rounding only.
constexpr double kTol = 2e-4;

using Inputs = std::vector<std::vector<double>>;
using Forward = std::function<std::vector<double>(const Inputs &)>;

std::vector<double> toDouble(const Buffer &b) {
  std::vector<float> v = b.values();
  return std::vector<double>(v.begin(), v.end());
}

/// d/d inputs[which] of sum(dy * forward(inputs)), by central differences.
std::vector<double> fdGradient(const Forward &forward, Inputs inputs,
                               size_t which, const std::vector<double> &dy) {
  const double eps = 1e-5;
  auto objective = [&](const Inputs &in) {
    std::vector<double> y = forward(in);
    double sum = 0;
    for (size_t i = 0; i < y.size(); ++i)
      sum += dy.empty() ? y[i] : dy[i] * y[i];
    return sum;
  };
  std::vector<double> grad;
  for (size_t i = 0; i < inputs[which].size(); ++i) {
    double saved = inputs[which][i];
    inputs[which][i] = saved + eps;
    double plus = objective(inputs);
    inputs[which][i] = saved - eps;
    double minus = objective(inputs);
    inputs[which][i] = saved;
    grad.push_back((plus - minus) / (2 * eps));
  }
  return grad;
}

TEST(CpuGrad, LibraryBuilds) { ASSERT_EQ(library().error(), ""); }

TEST(CpuGrad, EmbeddingScatterAddsRows) {
  const int64_t v = 7, f = 5;
  std::vector<int32_t> ids = {3, 6, 3, 0, 9, 3}; // 9 is out of range
  Buffer tokens = Buffer::tokens(ids);
  Buffer dy = Buffer::random(Dtype::F32, ids.size() * f, 11);
  Buffer out = Buffer::random(Dtype::F32, v * f, 12); // overwritten
  library().run("embedding_grad", {&tokens, &dy, &out}, makeContext(2, 3, 0));
  Forward forward = [&](const Inputs &in) {
    std::vector<double> y;
    for (int32_t id : ids)
      for (int64_t i = 0; i < f; ++i)
        y.push_back(id >= 0 && id < v ? in[0][id * f + i] : 0.0);
    return y;
  };
  Inputs inputs = {std::vector<double>(v * f, 0.5)};
  expectClose(out.values(), fdGradient(forward, inputs, 0, toDouble(dy)), kTol,
              kTol, "dtable");
}

std::vector<double> rmsnormRef(const Inputs &in, int64_t f, double eps) {
  const std::vector<double> &x = in[0], &g = in[1];
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / f; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < f; ++i)
      ss += x[r * f + i] * x[r * f + i];
    double inv = 1 / std::sqrt(ss / f + eps);
    for (int64_t i = 0; i < f; ++i)
      y[r * f + i] = x[r * f + i] * inv * g[i];
  }
  return y;
}

TEST(CpuGrad, RMSNorm) {
  const int64_t f = 12, seq = 3;
  Buffer x = Buffer::random(Dtype::F32, seq * f, 21, -2, 2);
  Buffer g = Buffer::random(Dtype::F32, f, 22, 0.5f, 1.5f);
  Buffer dy = Buffer::random(Dtype::F32, seq * f, 23);
  Buffer dx = Buffer::zeros(Dtype::F32, seq * f);
  Buffer dg = Buffer::zeros(Dtype::F32, f);
  library().run("rmsnorm_grad", {&x, &g, &dy, &dx, &dg},
                makeContext(1, seq, 0));
  Forward forward = [&](const Inputs &in) { return rmsnormRef(in, f, 1e-5); };
  Inputs inputs = {toDouble(x), toDouble(g)};
  expectClose(dx.values(), fdGradient(forward, inputs, 0, toDouble(dy)), kTol,
              kTol, "dx");
  expectClose(dg.values(), fdGradient(forward, inputs, 1, toDouble(dy)), kTol,
              kTol, "dgain");
}

std::vector<double> matmulRef(const Inputs &in, int64_t k, int64_t n) {
  const std::vector<double> &x = in[0], &w = in[1];
  std::vector<double> y;
  for (size_t r = 0; r < x.size() / k; ++r)
    for (int64_t o = 0; o < n; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < k; ++i)
        acc += x[r * k + i] * w[o * k + i];
      y.push_back(acc);
    }
  return y;
}

void checkMatmulGrad(Dtype dtype, const char *name, int64_t batch, int64_t seq,
                     double tol) {
  const int64_t k = 10, n = 6, rows = batch * seq;
  Buffer x = Buffer::random(dtype, rows * k, 31);
  Buffer w = Buffer::random(dtype, n * k, 32);
  Buffer dy = Buffer::random(dtype, rows * n, 33);
  Buffer dx = Buffer::zeros(dtype, rows * k);
  Buffer dw = Buffer::zeros(dtype, n * k);
  library().run(name, {&x, &w, &dy, &dx, &dw}, makeContext(batch, seq, 0));
  Forward forward = [&](const Inputs &in) { return matmulRef(in, k, n); };
  Inputs inputs = {toDouble(x), toDouble(w)};
  expectClose(dx.values(), fdGradient(forward, inputs, 0, toDouble(dy)), tol,
              tol, "dx");
  expectClose(dw.values(), fdGradient(forward, inputs, 1, toDouble(dy)), tol,
              tol, "dw");
}

TEST(CpuGrad, MatmulF32) {
  checkMatmulGrad(Dtype::F32, "matmul_grad", 2, 3, kTol);
}
TEST(CpuGrad, MatmulBf16) {
  checkMatmulGrad(Dtype::BF16, "matmul_grad_bf16", 1, 4,
                  toleranceOf(Dtype::BF16));
}

/// The fused norm backward against finite differences of its forward,
/// [rmsnorm(x, g) · W1ᵀ, rmsnorm(x, g) · W2ᵀ], plus the residual passed
/// through to dx. 9 rows and 40 features cover whole and partial tiles.
void checkFusedNormGrad(Dtype dtype, const char *name, double tol) {
  const int64_t k = 40, n1 = 8, n2 = 7, seq = 9;
  Buffer x = Buffer::random(dtype, seq * k, 51, -2, 2);
  Buffer g = Buffer::random(dtype, k, 52, 0.5f, 1.5f);
  Buffer w1 = Buffer::random(dtype, n1 * k, 53);
  Buffer w2 = Buffer::random(dtype, n2 * k, 54);
  Buffer d1 = Buffer::random(dtype, seq * n1, 55);
  Buffer d2 = Buffer::random(dtype, seq * n2, 56);
  Buffer res = Buffer::random(dtype, seq * k, 57);
  Buffer dx = Buffer::zeros(dtype, seq * k), dg = Buffer::zeros(dtype, k);
  Buffer dw1 = Buffer::zeros(dtype, n1 * k), dw2 = Buffer::zeros(dtype, n2 * k);
  library().run(name, {&x, &g, &w1, &w2, &d1, &d2, &res, &dx, &dg, &dw1, &dw2},
                makeContext(1, seq, 0));
  Forward forward = [&](const Inputs &in) {
    std::vector<double> normed = rmsnormRef({in[0], in[1]}, k, 1e-5);
    std::vector<double> y = matmulRef({normed, in[2]}, k, n1);
    std::vector<double> y2 = matmulRef({normed, in[3]}, k, n2);
    y.insert(y.end(), y2.begin(), y2.end());
    return y;
  };
  Inputs inputs = {toDouble(x), toDouble(g), toDouble(w1), toDouble(w2)};
  std::vector<double> dy = toDouble(d1), dy2 = toDouble(d2);
  dy.insert(dy.end(), dy2.begin(), dy2.end());
  std::vector<double> expectedDx = fdGradient(forward, inputs, 0, dy);
  std::vector<double> residual = toDouble(res);
  for (size_t i = 0; i < expectedDx.size(); ++i)
    expectedDx[i] += residual[i];
  expectClose(dx.values(), expectedDx, tol, tol, "dx");
  expectClose(dg.values(), fdGradient(forward, inputs, 1, dy), tol, tol,
              "dgain");
  expectClose(dw1.values(), fdGradient(forward, inputs, 2, dy), tol, tol,
              "dw1");
  expectClose(dw2.values(), fdGradient(forward, inputs, 3, dy), tol, tol,
              "dw2");
}

TEST(CpuGrad, FusedNormGradF32) {
  checkFusedNormGrad(Dtype::F32, "fused_norm_grad", kTol);
}
TEST(CpuGrad, FusedNormGradBf16) {
  checkFusedNormGrad(Dtype::BF16, "fused_norm_grad_bf16",
                     toleranceOf(Dtype::BF16));
}

/// llama.rope in double: pair i of each head of token s rotated by
/// (position + s) * theta^(-2i/d).
std::vector<double> ropeRef(const Inputs &in, int64_t f, int64_t d,
                            int32_t position, bool adjacent) {
  std::vector<double> y = in[0];
  for (size_t r = 0; r < y.size() / f; ++r)
    for (int64_t h = 0; h < f / d; ++h)
      for (int64_t i = 0; i < d / 2; ++i) {
        double t = (position + double(r)) * std::pow(1e4, -2.0 * i / d);
        int64_t a = r * f + h * d + (adjacent ? 2 * i : i);
        int64_t b = r * f + h * d + (adjacent ? 2 * i + 1 : i + d / 2);
        double v0 = in[0][a], v1 = in[0][b];
        y[a] = v0 * std::cos(t) - v1 * std::sin(t);
        y[b] = v0 * std::sin(t) + v1 * std::cos(t);
      }
  return y;
}

TEST(CpuGrad, RoPEIsTheInverseRotation) {
  const int64_t f = 16, d = 8, seq = 3;
  const int32_t position = 5;
  for (bool adjacent : {true, false}) {
    Buffer dy = Buffer::random(Dtype::F32, seq * f, 41);
    Buffer dx = Buffer::zeros(Dtype::F32, seq * f);
    library().run(adjacent ? "rope_grad_adjacent" : "rope_grad_half",
                  {&dy, &dx}, makeContext(1, seq, position));
    Forward forward = [&](const Inputs &in) {
      return ropeRef(in, f, d, position, adjacent);
    };
    Inputs inputs = {std::vector<double>(seq * f, 0.25)};
    expectClose(dx.values(), fdGradient(forward, inputs, 0, toDouble(dy)), kTol,
                kTol, adjacent ? "adjacent" : "half");
  }
}

/// llama.attention in double, causal from `position`, GQA.
std::vector<double> attentionRef(const Inputs &in, int64_t batch, int64_t seq,
                                 int64_t heads, int64_t kvHeads, int64_t d,
                                 int32_t position, double scale) {
  const std::vector<double> &q = in[0], &k = in[1], &v = in[2];
  const int64_t qf = heads * d, kf = kvHeads * d, group = heads / kvHeads;
  std::vector<double> out(batch * seq * qf, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s)
      for (int64_t h = 0; h < heads; ++h) {
        int64_t g = h / group;
        int64_t last = std::min<int64_t>(position + s, seq - 1);
        std::vector<double> p(last + 1);
        double maxScore = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i)
            dot += q[(b * seq + s) * qf + h * d + i] *
                   k[(b * seq + j) * kf + g * d + i];
          p[j] = dot * scale;
          maxScore = std::max(maxScore, p[j]);
        }
        for (double &x : p)
          sum += x = std::exp(x - maxScore);
        for (int64_t j = 0; j <= last; ++j)
          for (int64_t i = 0; i < d; ++i)
            out[(b * seq + s) * qf + h * d + i] +=
                p[j] / sum * v[(b * seq + j) * kf + g * d + i];
      }
  return out;
}

void checkAttentionGrad(const char *name, int64_t batch, int64_t seq,
                        int64_t heads, int64_t kvHeads, int64_t d,
                        int32_t position, double scale) {
  Buffer q = Buffer::random(Dtype::F32, batch * seq * heads * d, 51, -2, 2);
  Buffer k = Buffer::random(Dtype::F32, batch * seq * kvHeads * d, 52, -2, 2);
  Buffer v = Buffer::random(Dtype::F32, batch * seq * kvHeads * d, 53);
  Buffer dout = Buffer::random(Dtype::F32, batch * seq * heads * d, 54);
  Buffer dq = Buffer::zeros(Dtype::F32, batch * seq * heads * d);
  Buffer dk = Buffer::zeros(Dtype::F32, batch * seq * kvHeads * d);
  Buffer dv = Buffer::zeros(Dtype::F32, batch * seq * kvHeads * d);
  library().run(name, {&q, &k, &v, &dout, &dq, &dk, &dv},
                makeContext(batch, seq, position));
  Forward forward = [&](const Inputs &in) {
    return attentionRef(in, batch, seq, heads, kvHeads, d, position, scale);
  };
  Inputs inputs = {toDouble(q), toDouble(k), toDouble(v)};
  std::vector<double> up = toDouble(dout);
  expectClose(dq.values(), fdGradient(forward, inputs, 0, up), kTol, kTol,
              "dq");
  expectClose(dk.values(), fdGradient(forward, inputs, 1, up), kTol, kTol,
              "dk");
  expectClose(dv.values(), fdGradient(forward, inputs, 2, up), kTol, kTol,
              "dv");
}

TEST(CpuGrad, AttentionGQA) {
  // Two query heads per KV head: dK and dV sum over the group.
  checkAttentionGrad("attention_grad", 2, 5, 4, 2, 4, 0, 0.5);
}
TEST(CpuGrad, AttentionScaleAndPosition) {
  // A position past 0 unmasks more keys; they stay within the sequence.
  checkAttentionGrad("attention_grad_scaled", 1, 4, 2, 2, 8, 2, 0.75);
}

double siluRef(double x) { return x / (1 + std::exp(-x)); }

TEST(CpuGrad, SiLU) {
  const int64_t n = 2 * 10;
  Buffer x = Buffer::random(Dtype::F32, n, 61, -6, 6);
  Buffer dy = Buffer::random(Dtype::F32, n, 62);
  Buffer dx = Buffer::zeros(Dtype::F32, n);
  library().run("silu_grad", {&x, &dy, &dx}, makeContext(1, 2, 0));
  Forward forward = [&](const Inputs &in) {
    std::vector<double> y;
    for (double v : in[0])
      y.push_back(siluRef(v));
    return y;
  };
  expectClose(dx.values(), fdGradient(forward, {toDouble(x)}, 0, toDouble(dy)),
              kTol, kTol, "dx");
}

TEST(CpuGrad, SwiGLU) {
  const int64_t n = 3 * 10;
  Buffer gate = Buffer::random(Dtype::F32, n, 71, -6, 6);
  Buffer up = Buffer::random(Dtype::F32, n, 72, -2, 2);
  Buffer dh = Buffer::random(Dtype::F32, n, 73);
  Buffer dgate = Buffer::zeros(Dtype::F32, n);
  Buffer dup = Buffer::zeros(Dtype::F32, n);
  library().run("swiglu_grad", {&gate, &up, &dh, &dgate, &dup},
                makeContext(1, 3, 0));
  Forward forward = [&](const Inputs &in) {
    std::vector<double> y;
    for (size_t i = 0; i < in[0].size(); ++i)
      y.push_back(siluRef(in[0][i]) * in[1][i]);
    return y;
  };
  Inputs inputs = {toDouble(gate), toDouble(up)};
  expectClose(dgate.values(), fdGradient(forward, inputs, 0, toDouble(dh)),
              kTol, kTol, "dgate");
  expectClose(dup.values(), fdGradient(forward, inputs, 1, toDouble(dh)), kTol,
              kTol, "dup");
}

void checkCrossEntropyGrad(std::vector<float> weights) {
  const int64_t rows = 6, v = 7;
  std::vector<int32_t> targets = {0, 6, 3, 3, 1, 5};
  Buffer logits = Buffer::random(Dtype::F32, rows * v, 81, -3, 3);
  Buffer t = Buffer::tokens(targets);
  Buffer w(Dtype::F32, weights);
  Buffer out = Buffer::random(Dtype::F32, rows * v, 82); // overwritten
  library().run("cross_entropy_grad", {&logits, &t, &w, &out},
                makeContext(2, 3, 0));
  // The forward loss: sum(w * nll) / sum(w), 0 if every weight is 0.
  Forward forward = [&](const Inputs &in) {
    double total = 0, weight = 0;
    for (int64_t r = 0; r < rows; ++r) {
      if (weights[r] == 0)
        continue;
      double m = -INFINITY, sum = 0;
      for (int64_t i = 0; i < v; ++i)
        m = std::max(m, in[0][r * v + i]);
      for (int64_t i = 0; i < v; ++i)
        sum += std::exp(in[0][r * v + i] - m);
      total += weights[r] * (m + std::log(sum) - in[0][r * v + targets[r]]);
      weight += weights[r];
    }
    return std::vector<double>{weight == 0 ? 0.0 : total / weight};
  };
  expectClose(out.values(), fdGradient(forward, {toDouble(logits)}, 0, {}),
              kTol, kTol, "dlogits");
}

TEST(CpuGrad, CrossEntropyWeightedMean) {
  checkCrossEntropyGrad({1.0f, 0.0f, 2.0f, 0.5f, 1.0f, 0.0f});
}
TEST(CpuGrad, CrossEntropyAllMaskedIsZero) {
  checkCrossEntropyGrad({0, 0, 0, 0, 0, 0});
}

//===----------------------------------------------------------------------===//
// Whole model: @loss_and_grads against finite differences of the loss
//===----------------------------------------------------------------------===//

/// A tiny Llama compiled to kernels, its buffers, and a loop over launches:
/// what the runtime does, minus the arena, so each buffer keeps its values.
class TinyModel {
public:
  explicit TinyModel(bool sharedClassifier) {
    context.loadDialect<llamac::llama::LlamaDialect, mlir::func::FuncDialect,
                        mlir::arith::ArithDialect>();
    llamac::ModelConfig config;
    config.name = "grad-test";
    config.dim = 16;
    config.nLayers = 2;
    config.nHeads = 4;
    config.nKvHeads = 2;
    config.ffnDim = 32;
    config.vocabSize = 32;
    config.maxSeqLen = 16;
    config.sharedClassifier = sharedClassifier;
    llamac::BuildOptions options;
    options.entries = {llamac::EntryKind::ForwardLoss};
    options.seqLen = kSeq;
    module = llamac::buildModel(context, config, options);
    mlir::PassManager pm(&context);
    pm.addPass(llamac::createAutodiffPass());
    if (failed(pm.run(*module))) {
      error = "llama-autodiff failed";
      return;
    }
    auto grads = module->lookupSymbol<mlir::func::FuncOp>("loss_and_grads");
    for (unsigned i = 0; i < grads.getNumArguments(); ++i)
      if (auto name = grads.getArgAttrOfType<mlir::StringAttr>(
              i, llamac::llama::attrs::weight))
        weightNames.push_back(name.str());
    std::unique_ptr<llamac::codegen::KernelEmitter> emitter =
        llamac::codegen::createCpuEmitter();
    auto lowered = llamac::codegen::lowerToKernels(*module, *emitter, {});
    if (!lowered) {
      error = llvm::toString(lowered.takeError());
      return;
    }
    spec = std::move(*lowered);
    library = std::make_unique<KernelLibrary>(spec.kernelSource);
    if (!library->error().empty()) {
      error = library->error();
      return;
    }
    std::mt19937 rng(7);
    for (const llamac::artifact::BufferSpec &b : spec.buffers) {
      size_t count = 1;
      for (int64_t d : b.shape)
        count *= d;
      memory.emplace_back(count, 0.0f);
      if (b.kind != llamac::artifact::BufferKind::Weight)
        continue;
      // Gains near 1, matrices scaled by their fan-in, as at initialization
      // but large enough that every gradient is well above f32 noise.
      bool gain = b.shape.size() == 1;
      float scale = gain ? 0.3f : 1.5f / std::sqrt(float(b.shape.back()));
      std::uniform_real_distribution<float> dist(-scale, scale);
      for (float &v : memory.back())
        v = (gain ? 1.0f : 0.0f) + dist(rng);
    }
  }

  /// Runs `entry`; returns the values of its outputs.
  std::vector<std::vector<float>> run(const std::string &entryName) {
    const llamac::artifact::EntrySpec *entry = nullptr;
    for (const auto &e : spec.entries)
      if (e.name == entryName)
        entry = &e;
    EXPECT_NE(entry, nullptr) << entryName;
    std::vector<int32_t> tokens = {1, 7, 30, 7, 12},
                         targets = {7, 30, 7, 12, 3};
    std::vector<float> lossWeights = {1.0f, 0.5f, 0.0f, 2.0f, 1.0f};
    const void *inputs[] = {tokens.data(), targets.data(), lossWeights.data()};
    for (auto [i, id] : llvm::enumerate(entry->inputs))
      std::memcpy(memory[id].data(), inputs[i], kSeq * 4);
    LlamaKernelContext ctx = makeContext(1, kSeq, 0);
    for (const llamac::artifact::LaunchSpec &launch : entry->launches) {
      std::vector<void *> pointers;
      for (uint32_t id : launch.buffers)
        pointers.push_back(memory[id].data());
      library->kernel(spec.kernels[launch.kernel].symbol)(pointers.data(),
                                                          &ctx);
    }
    std::vector<std::vector<float>> outputs;
    for (uint32_t id : entry->outputs)
      outputs.push_back(memory[id]);
    return outputs;
  }

  std::vector<float> &weight(const std::string &name) {
    for (auto [i, b] : llvm::enumerate(spec.buffers))
      if (b.name == name)
        return memory[i];
    ADD_FAILURE() << "no weight " << name;
    return memory.front();
  }

  static constexpr int64_t kSeq = 5;
  std::string error;
  std::vector<std::string> weightNames;

private:
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  llamac::artifact::ArtifactSpec spec;
  std::unique_ptr<KernelLibrary> library;
  std::vector<std::vector<float>> memory;
};

void checkModelGradients(bool sharedClassifier) {
  TinyModel model(sharedClassifier);
  ASSERT_EQ(model.error, "");
  std::vector<std::vector<float>> outputs = model.run("loss_and_grads");
  ASSERT_EQ(outputs.size(), 1 + model.weightNames.size());
  float loss = model.run("forward_loss")[0][0];
  EXPECT_EQ(outputs[0][0], loss) << "loss_and_grads computes another loss";

  // Entries of every kind of weight; rows 1, 7 and 12 of the embedding are
  // tokens of the input (and, with a tied classifier, targets).
  std::vector<std::pair<std::string, std::vector<size_t>>> probes = {
      {"tok_embeddings.weight", {1 * 16 + 3, 7 * 16 + 0, 12 * 16 + 15}},
      {"layers.0.attention_norm.weight", {0, 5, 11}},
      {"layers.1.attention.wq.weight", {0, 37, 255}},
      {"layers.0.attention.wk.weight", {3, 64, 127}},
      {"layers.1.attention.wv.weight", {9, 70, 100}},
      {"layers.0.attention.wo.weight", {1, 128, 200}},
      {"layers.1.ffn_norm.weight", {2, 8, 15}},
      {"layers.0.feed_forward.w1.weight", {0, 300, 511}},
      {"layers.1.feed_forward.w2.weight", {5, 250, 500}},
      {"layers.0.feed_forward.w3.weight", {17, 333, 480}},
      {"norm.weight", {1, 4, 9}},
  };
  if (!sharedClassifier)
    probes.push_back({"output.weight", {7 * 16 + 2, 30 * 16 + 5, 3 * 16 + 9}});
  // f32 central differences with eps 3e-3: the loss's rounding noise
  // (~1e-6 / eps) and the O(eps²) truncation both stay near 1e-4, so a
  // gradient must agree within 3e-4 + 1% (measured: < 1e-4 absolute).
  const float eps = 3e-3f;
  double maxAbs = 0, maxRel = 0, minGrad = INFINITY, maxGrad = 0;
  int checked = 0;
  for (auto &[name, indices] : probes) {
    size_t output = 1 + (std::find(model.weightNames.begin(),
                                   model.weightNames.end(), name) -
                         model.weightNames.begin());
    ASSERT_LT(output, outputs.size()) << name;
    std::vector<float> &w = model.weight(name);
    for (size_t index : indices) {
      ASSERT_LT(index, w.size()) << name;
      float saved = w[index];
      w[index] = saved + eps;
      double plus = model.run("forward_loss")[0][0];
      w[index] = saved - eps;
      double minus = model.run("forward_loss")[0][0];
      w[index] = saved;
      double fd = (plus - minus) / (2.0 * eps);
      double grad = outputs[output][index];
      double diff = std::fabs(grad - fd);
      maxAbs = std::max(maxAbs, diff);
      minGrad = std::min(minGrad, std::fabs(fd));
      maxGrad = std::max(maxGrad, std::fabs(fd));
      maxRel = std::max(maxRel, diff / std::max(std::fabs(fd), 1e-3));
      EXPECT_NEAR(grad, fd, 3e-4 + 1e-2 * std::fabs(fd))
          << name << "[" << index << "]";
      ++checked;
    }
  }
  std::printf("%d gradient entries (|grad| %.3g to %.3g) vs finite "
              "differences: max |diff| %.3g, max relative %.3g\n",
              checked, minGrad, maxGrad, maxAbs, maxRel);
}

TEST(CpuGradModel, LossAndGradsMatchFiniteDifferences) {
  checkModelGradients(/*sharedClassifier=*/false);
}

TEST(CpuGradModel, TiedClassifierSumsBothContributions) {
  checkModelGradients(/*sharedClassifier=*/true);
}

TEST(CpuGradModel, LoweringRefusesAResultWithoutABuffer) {
  // A zero gradient (of a weight the loss does not read) is an
  // arith.constant, which no kernel writes: the lowering must say so
  // rather than return some other buffer.
  mlir::MLIRContext context;
  context.loadDialect<llamac::llama::LlamaDialect, mlir::func::FuncDialect,
                      mlir::arith::ArithDialect>();
  llamac::ModelConfig config;
  config.name = "grad-test";
  config.dim = 16;
  config.nLayers = 1;
  config.nHeads = 4;
  config.nKvHeads = 2;
  config.ffnDim = 32;
  config.vocabSize = 32;
  config.maxSeqLen = 16;
  llamac::BuildOptions options;
  options.entries = {llamac::EntryKind::ForwardLoss};
  options.seqLen = 4;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      llamac::buildModel(context, config, options);
  mlir::PassManager pm(&context);
  pm.addPass(llamac::createAutodiffPass());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  auto grads = module->lookupSymbol<mlir::func::FuncOp>("loss_and_grads");
  auto ret =
      mlir::cast<mlir::func::ReturnOp>(grads.getBody().front().getTerminator());
  auto type = mlir::cast<mlir::RankedTensorType>(ret.getOperand(1).getType());
  mlir::OpBuilder builder(ret);
  auto zero = builder.create<mlir::arith::ConstantOp>(
      ret.getLoc(), type,
      mlir::DenseElementsAttr::get(type, builder.getF32FloatAttr(0)));
  ret->setOperand(1, zero);
  std::unique_ptr<llamac::codegen::KernelEmitter> emitter =
      llamac::codegen::createCpuEmitter();
  auto lowered = llamac::codegen::lowerToKernels(*module, *emitter, {});
  ASSERT_FALSE(static_cast<bool>(lowered));
  EXPECT_EQ(llvm::toString(lowered.takeError()),
            "entry 'loss_and_grads': result 1 has no buffer");
}

TEST(CpuGradModel, LoweringRefusesARoundedCopyMadeOnEveryCall) {
  // Weight b is trained by an update that does not keep its bf16 copy, so
  // the convert that rounds a and b must run on every call; a's update
  // cannot then keep a's copy in that per-call buffer.
  const char *ir = R"mlir(
module attributes {llama.config = {dim = 8 : i64, dtype = "bf16", ffn_dim = 16 : i64, max_seq_len = 8 : i64, n_heads = 2 : i64, n_kv_heads = 2 : i64, n_layers = 1 : i64, name = "rounding-test", norm_eps = 1.000000e-05 : f64, rope_style = "adjacent", rope_theta = 1.000000e+04 : f64, shared_classifier = false, vocab_size = 16 : i64}} {
  func.func @train_step(%tokens: tensor<1x4xi32>,
      %a: tensor<8xf32> {llama.weight = "a"}, %b: tensor<8xf32> {llama.weight = "b"},
      %ma: tensor<8xf32> {llama.optimizer_state = "adamw.m.a"}, %va: tensor<8xf32> {llama.optimizer_state = "adamw.v.a"},
      %mb: tensor<8xf32> {llama.optimizer_state = "adamw.m.b"}, %vb: tensor<8xf32> {llama.optimizer_state = "adamw.v.b"},
      %lr: tensor<f32> {llama.input = "lr"}, %n: tensor<f32> {llama.input = "norm"}, %s: tensor<3xi32> {llama.input = "schedule"})
      -> (tensor<f32>, tensor<8xf32>, tensor<8xf32>) attributes {llama.entry = "train_step"} {
    %c:2 = llama.convert %a, %b : (tensor<8xf32>, tensor<8xf32>) -> (tensor<8xbf16>, tensor<8xbf16>)
    %ua:4 = llama.adamw_update params(%a) grads(%c#0) moments(%ma) second_moments(%va) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c#0) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.0 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xbf16>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<8xbf16>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xbf16>)
    %ub:3 = llama.adamw_update params(%b) grads(%c#1) moments(%mb) second_moments(%vb) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.0 : f64, max_grad_norm = 1.0 : f64} : (tensor<8xf32>, tensor<8xbf16>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
    return %lr, %ua#0, %ub#0 : tensor<f32>, tensor<8xf32>, tensor<8xf32>
  }
}
)mlir";
  mlir::MLIRContext context;
  context.loadDialect<llamac::llama::LlamaDialect, mlir::func::FuncDialect,
                      mlir::arith::ArithDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(ir, &context);
  ASSERT_TRUE(module);
  std::unique_ptr<llamac::codegen::KernelEmitter> emitter =
      llamac::codegen::createCpuEmitter();
  auto lowered = llamac::codegen::lowerToKernels(*module, *emitter, {});
  ASSERT_FALSE(static_cast<bool>(lowered));
  EXPECT_EQ(llvm::toString(lowered.takeError()),
            "entry 'train_step': llama.adamw_update keeps the rounded copy "
            "of 'a', but its llama.convert runs on every call: it also "
            "rounds a weight that is trained without its copy kept");
}

} // namespace
