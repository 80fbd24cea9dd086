//===- CpuMatmulTest.cpp - GEMM kernels against a double reference --------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include <cmath>

using namespace llamac::test;

namespace {

const char *const matmulIR = R"mlir(
func.func @matmul_f32(%x: tensor<2x3x40xf32>, %w: tensor<22x40xf32>) -> tensor<2x3x22xf32> {
  %0 = llama.matmul %x, %w : (tensor<2x3x40xf32>, tensor<22x40xf32>) -> tensor<2x3x22xf32>
  return %0 : tensor<2x3x22xf32>
}
func.func @matmul_bf16(%x: tensor<1x?x40xbf16>, %w: tensor<24x40xbf16>) -> tensor<1x?x24xbf16> {
  %0 = llama.matmul %x, %w : (tensor<1x?x40xbf16>, tensor<24x40xbf16>) -> tensor<1x?x24xbf16>
  return %0 : tensor<1x?x24xbf16>
}
func.func @matmul_f16(%x: tensor<1x2x40xf16>, %w: tensor<21x40xf16>) -> tensor<1x2x21xf16> {
  %0 = llama.matmul %x, %w : (tensor<1x2x40xf16>, tensor<21x40xf16>) -> tensor<1x2x21xf16>
  return %0 : tensor<1x2x21xf16>
}
func.func @matmul_blocks(%x: tensor<1x?x1024xf32>, %w: tensor<37x1024xf32>) -> tensor<1x?x37xf32> {
  %0 = llama.matmul %x, %w : (tensor<1x?x1024xf32>, tensor<37x1024xf32>) -> tensor<1x?x37xf32>
  return %0 : tensor<1x?x37xf32>
}
func.func @pack_f32(%a: tensor<16x48xf32>, %b: tensor<8x48xf32>, %c: tensor<14x48xf32>, %g: tensor<48xf32>) -> tensor<38x48xf32> {
  %0 = llama.pack_weights %a, %b, %c scaled_by %g : (tensor<16x48xf32>, tensor<8x48xf32>, tensor<14x48xf32>, tensor<48xf32>) -> tensor<38x48xf32>
  return %0 : tensor<38x48xf32>
}
func.func @pack_plain_bf16(%a: tensor<6x8xbf16>, %b: tensor<3x8xbf16>) -> tensor<9x8xbf16> {
  %0 = llama.pack_weights %a, %b : (tensor<6x8xbf16>, tensor<3x8xbf16>) -> tensor<9x8xbf16>
  return %0 : tensor<9x8xbf16>
}
func.func @pack_bf16(%a: tensor<16x48xbf16>, %b: tensor<8x48xbf16>, %c: tensor<14x48xbf16>, %g: tensor<48xbf16>) -> tensor<38x48xbf16> {
  %0 = llama.pack_weights %a, %b, %c scaled_by %g : (tensor<16x48xbf16>, tensor<8x48xbf16>, tensor<14x48xbf16>, tensor<48xbf16>) -> tensor<38x48xbf16>
  return %0 : tensor<38x48xbf16>
}
func.func @qkv_f32(%x: tensor<1x?x48xf32>, %w: tensor<38x48xf32>) -> (tensor<1x?x16xf32>, tensor<1x?x8xf32>, tensor<1x?x14xf32>) {
  %0:3 = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 16, 8, 14>} : (tensor<1x?x48xf32>, tensor<38x48xf32>) -> (tensor<1x?x16xf32>, tensor<1x?x8xf32>, tensor<1x?x14xf32>)
  return %0#0, %0#1, %0#2 : tensor<1x?x16xf32>, tensor<1x?x8xf32>, tensor<1x?x14xf32>
}
func.func @qkv_bf16(%x: tensor<1x?x48xbf16>, %w: tensor<38x48xbf16>) -> (tensor<1x?x16xbf16>, tensor<1x?x8xbf16>, tensor<1x?x14xbf16>) {
  %0:3 = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 16, 8, 14>} : (tensor<1x?x48xbf16>, tensor<38x48xbf16>) -> (tensor<1x?x16xbf16>, tensor<1x?x8xbf16>, tensor<1x?x14xbf16>)
  return %0#0, %0#1, %0#2 : tensor<1x?x16xbf16>, tensor<1x?x8xbf16>, tensor<1x?x14xbf16>
}
func.func @qkv_gain(%x: tensor<2x3x48xf32>, %w: tensor<38x48xf32>, %g: tensor<48xf32>) -> (tensor<2x3x24xf32>, tensor<2x3x14xf32>) {
  %0:2 = llama.fused_matmul %x, %w gain %g {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 24, 14>} : (tensor<2x3x48xf32>, tensor<38x48xf32>, tensor<48xf32>) -> (tensor<2x3x24xf32>, tensor<2x3x14xf32>)
  return %0#0, %0#1 : tensor<2x3x24xf32>, tensor<2x3x14xf32>
}
func.func @qkv_wide_f32(%x: tensor<1x?x52xf32>, %w: tensor<48x52xf32>) -> (tensor<1x?x16xf32>, tensor<1x?x8xf32>, tensor<1x?x24xf32>) {
  %0:3 = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 16, 8, 24>} : (tensor<1x?x52xf32>, tensor<48x52xf32>) -> (tensor<1x?x16xf32>, tensor<1x?x8xf32>, tensor<1x?x24xf32>)
  return %0#0, %0#1, %0#2 : tensor<1x?x16xf32>, tensor<1x?x8xf32>, tensor<1x?x24xf32>
}
func.func @swiglu_f32(%x: tensor<1x3x48xf32>, %w: tensor<46x48xf32>) -> tensor<1x3x23xf32> {
  %0 = llama.fused_matmul %x, %w {epilogue = #llama<epilogue swiglu>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 23, 23>} : (tensor<1x3x48xf32>, tensor<46x48xf32>) -> tensor<1x3x23xf32>
  return %0 : tensor<1x3x23xf32>
}
func.func @swiglu_gain_bf16(%x: tensor<1x3x48xbf16>, %w: tensor<46x48xbf16>, %g: tensor<48xbf16>) -> tensor<1x3x23xbf16> {
  %0 = llama.fused_matmul %x, %w gain %g {epilogue = #llama<epilogue swiglu>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 23, 23>} : (tensor<1x3x48xbf16>, tensor<46x48xbf16>, tensor<48xbf16>) -> tensor<1x3x23xbf16>
  return %0 : tensor<1x3x23xbf16>
}
func.func @residual_f32(%x: tensor<1x2x44xf32>, %w: tensor<48x44xf32>, %r: tensor<1x2x48xf32>) -> tensor<1x2x48xf32> {
  %0 = llama.fused_matmul %x, %w residual %r {epilogue = #llama<epilogue residual>, segments = array<i64: 48>} : (tensor<1x2x44xf32>, tensor<48x44xf32>, tensor<1x2x48xf32>) -> tensor<1x2x48xf32>
  return %0 : tensor<1x2x48xf32>
}
func.func @residual_f16(%x: tensor<1x?x44xf16>, %w: tensor<48x44xf16>, %r: tensor<1x?x48xf16>) -> tensor<1x?x48xf16> {
  %0 = llama.fused_matmul %x, %w residual %r {epilogue = #llama<epilogue residual>, segments = array<i64: 48>} : (tensor<1x?x44xf16>, tensor<48x44xf16>, tensor<1x?x48xf16>) -> tensor<1x?x48xf16>
  return %0 : tensor<1x?x48xf16>
}
func.func @parallel_f32(%x: tensor<1x?x256xf32>, %w: tensor<302x256xf32>) -> (tensor<1x?x150xf32>, tensor<1x?x152xf32>) {
  %0:2 = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-06 : f64, segments = array<i64: 150, 152>} : (tensor<1x?x256xf32>, tensor<302x256xf32>) -> (tensor<1x?x150xf32>, tensor<1x?x152xf32>)
  return %0#0, %0#1 : tensor<1x?x150xf32>, tensor<1x?x152xf32>
}
)mlir";

const KernelLibrary &library() {
  static KernelLibrary lib = KernelLibrary::fromMlir(matmulIR);
  return lib;
}

/// y[r, n] = sum_k x[r, k] * w[n, k], in double.
std::vector<double> referenceMatmul(const std::vector<double> &x,
                                    const std::vector<float> &w, int64_t rows,
                                    int64_t n, int64_t k) {
  std::vector<double> y(rows * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < n; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < k; ++i)
        acc += x[r * k + i] * w[o * k + i];
      y[r * n + o] = acc;
    }
  return y;
}

/// x / sqrt(mean(x²) + eps) * gain per row, in double; no gain when empty.
std::vector<double> referenceNorm(const std::vector<float> &x,
                                  const std::vector<float> &gain, int64_t rows,
                                  int64_t k, double eps) {
  std::vector<double> y(rows * k);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < k; ++i)
      ss += double(x[r * k + i]) * x[r * k + i];
    double inv = 1.0 / std::sqrt(ss / k + eps);
    for (int64_t i = 0; i < k; ++i)
      y[r * k + i] = x[r * k + i] * inv * (gain.empty() ? 1.0 : gain[i]);
  }
  return y;
}

std::vector<double> toDouble(const std::vector<float> &v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Columns [begin, begin + count) of the rows of y (row length n).
std::vector<double> columns(const std::vector<double> &y, int64_t n,
                            int64_t begin, int64_t count) {
  std::vector<double> out;
  for (size_t r = 0; r < y.size() / n; ++r)
    for (int64_t c = 0; c < count; ++c)
      out.push_back(y[r * n + begin + c]);
  return out;
}

TEST(CpuMatmul, LibraryBuilds) { ASSERT_EQ(library().error(), ""); }

struct PlainCase {
  const char *name;
  Dtype dtype;
  int64_t batch, seq, n, k;
};

class CpuPlainMatmul : public ::testing::TestWithParam<PlainCase> {};

TEST_P(CpuPlainMatmul, MatchesReference) {
  const PlainCase &c = GetParam();
  int64_t rows = c.batch * c.seq;
  Buffer x = Buffer::random(c.dtype, rows * c.k, 1);
  Buffer w = Buffer::random(c.dtype, c.n * c.k, 2);
  Buffer y = Buffer::zeros(c.dtype, rows * c.n);
  library().run(c.name, {&x, &w, &y}, makeContext(c.batch, c.seq, 0));
  double tol = toleranceOf(c.dtype);
  expectClose(y.values(),
              referenceMatmul(toDouble(x.values()), w.values(), rows, c.n, c.k),
              tol, tol, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, CpuPlainMatmul,
    ::testing::Values(PlainCase{"matmul_f32", Dtype::F32, 2, 3, 22, 40},
                      PlainCase{"matmul_bf16", Dtype::BF16, 1, 5, 24, 40},
                      PlainCase{"matmul_bf16", Dtype::BF16, 1, 1, 24, 40},
                      PlainCase{"matmul_f16", Dtype::F16, 1, 2, 21, 40},
                      PlainCase{"matmul_blocks", Dtype::F32, 1, 70, 37, 1024}),
    [](const auto &info) {
      return std::string(info.param.name) + "_seq" +
             std::to_string(info.param.seq);
    });

/// pack_weights with a folded gain, then the QKV GEMM with the RMSNorm
/// prologue, equals rmsnorm(x, g) times each matrix.
void checkPackedQkv(Dtype dtype, const char *pack, const char *qkv,
                    int64_t seq) {
  const int64_t k = 48, sizes[] = {16, 8, 14};
  Buffer wq = Buffer::random(dtype, 16 * k, 10),
         wk = Buffer::random(dtype, 8 * k, 11),
         wv = Buffer::random(dtype, 14 * k, 12);
  Buffer g = Buffer::random(dtype, k, 13, 0.5f, 1.5f);
  Buffer packed = Buffer::zeros(dtype, 38 * k);
  library().run(pack, {&wq, &wk, &wv, &g, &packed}, makeContext(1, 1, 0));

  Buffer x = Buffer::random(dtype, seq * k, 14, -2.0f, 2.0f);
  Buffer q = Buffer::zeros(dtype, seq * 16), kk = Buffer::zeros(dtype, seq * 8),
         v = Buffer::zeros(dtype, seq * 14);
  library().run(qkv, {&x, &packed, &q, &kk, &v}, makeContext(1, seq, 0));

  std::vector<double> xn = referenceNorm(x.values(), g.values(), seq, k, 1e-5);
  Buffer *outs[] = {&q, &kk, &v};
  Buffer *weights[] = {&wq, &wk, &wv};
  double tol = toleranceOf(dtype);
  for (int i = 0; i < 3; ++i)
    expectClose(outs[i]->values(),
                referenceMatmul(xn, weights[i]->values(), seq, sizes[i], k),
                tol, tol, std::string(qkv) + " segment " + std::to_string(i));
}

TEST(CpuFusedMatmul, FoldedGainSegmentsF32) {
  checkPackedQkv(Dtype::F32, "pack_f32", "qkv_f32", 1);
  checkPackedQkv(Dtype::F32, "pack_f32", "qkv_f32", 6);
}

TEST(CpuFusedMatmul, FoldedGainSegmentsBf16) {
  checkPackedQkv(Dtype::BF16, "pack_bf16", "qkv_bf16", 1);
  checkPackedQkv(Dtype::BF16, "pack_bf16", "qkv_bf16", 4);
}

TEST(CpuFusedMatmul, PackWithoutGainStacksRows) {
  Buffer a = Buffer::random(Dtype::BF16, 6 * 8, 20),
         b = Buffer::random(Dtype::BF16, 3 * 8, 21);
  Buffer out = Buffer::zeros(Dtype::BF16, 9 * 8);
  library().run("pack_plain_bf16", {&a, &b, &out}, makeContext(1, 1, 0));
  std::vector<double> expected = toDouble(a.values());
  for (float v : b.values())
    expected.push_back(v);
  expectClose(out.values(), expected, 0, 0, "pack_plain_bf16");
}

TEST(CpuFusedMatmul, GainOperandF32) {
  const int64_t k = 48, rows = 6;
  Buffer x = Buffer::random(Dtype::F32, rows * k, 30, -3.0f, 3.0f);
  Buffer w = Buffer::random(Dtype::F32, 38 * k, 31);
  Buffer g = Buffer::random(Dtype::F32, k, 32, 0.5f, 1.5f);
  Buffer a = Buffer::zeros(Dtype::F32, rows * 24),
         b = Buffer::zeros(Dtype::F32, rows * 14);
  library().run("qkv_gain", {&x, &w, &g, &a, &b}, makeContext(2, 3, 0));
  std::vector<double> y =
      referenceMatmul(referenceNorm(x.values(), g.values(), rows, k, 1e-5),
                      w.values(), rows, 38, k);
  expectClose(a.values(), columns(y, 38, 0, 24), 1e-5, 1e-5, "first segment");
  expectClose(b.values(), columns(y, 38, 24, 14), 1e-5, 1e-5, "second segment");
}

/// Segments that are multiples of 8 take eight columns at a time
/// (llamaDot8F32), here with a row length (52) that leaves a partial vector.
TEST(CpuFusedMatmul, EightWideSegmentsF32) {
  const int64_t k = 52, sizes[] = {16, 8, 24};
  for (int64_t rows : {1, 5}) {
    Buffer x = Buffer::random(Dtype::F32, rows * k, 35, -2.0f, 2.0f);
    Buffer w = Buffer::random(Dtype::F32, 48 * k, 36);
    Buffer a = Buffer::zeros(Dtype::F32, rows * 16),
           b = Buffer::zeros(Dtype::F32, rows * 8),
           c = Buffer::zeros(Dtype::F32, rows * 24);
    library().run("qkv_wide_f32", {&x, &w, &a, &b, &c},
                  makeContext(1, rows, 0));
    std::vector<double> y = referenceMatmul(
        referenceNorm(x.values(), {}, rows, k, 1e-5), w.values(), rows, 48, k);
    Buffer *outs[] = {&a, &b, &c};
    int64_t offset = 0;
    for (int i = 0; i < 3; ++i) {
      expectClose(outs[i]->values(), columns(y, 48, offset, sizes[i]), 1e-5,
                  1e-5, "segment " + std::to_string(i));
      offset += sizes[i];
    }
  }
}

/// silu(y[:, :F]) * y[:, F:] of the normalized rows.
std::vector<double> referenceSwiglu(const std::vector<double> &y, int64_t f) {
  std::vector<double> out;
  for (size_t r = 0; r < y.size() / (2 * f); ++r)
    for (int64_t j = 0; j < f; ++j) {
      double a = y[r * 2 * f + j], b = y[r * 2 * f + f + j];
      out.push_back(a / (1.0 + std::exp(-a)) * b);
    }
  return out;
}

TEST(CpuFusedMatmul, SwigluF32) {
  const int64_t k = 48, f = 23, rows = 3;
  Buffer x = Buffer::random(Dtype::F32, rows * k, 40, -2.0f, 2.0f);
  Buffer w = Buffer::random(Dtype::F32, 2 * f * k, 41);
  Buffer out = Buffer::zeros(Dtype::F32, rows * f);
  library().run("swiglu_f32", {&x, &w, &out}, makeContext(1, rows, 0));
  std::vector<double> y = referenceMatmul(
      referenceNorm(x.values(), {}, rows, k, 1e-5), w.values(), rows, 2 * f, k);
  expectClose(out.values(), referenceSwiglu(y, f), 1e-5, 1e-5, "swiglu_f32");
}

TEST(CpuFusedMatmul, SwigluGainBf16) {
  const int64_t k = 48, f = 23, rows = 3;
  Buffer x = Buffer::random(Dtype::BF16, rows * k, 50, -2.0f, 2.0f);
  Buffer w = Buffer::random(Dtype::BF16, 2 * f * k, 51);
  Buffer g = Buffer::random(Dtype::BF16, k, 52, 0.5f, 1.5f);
  Buffer out = Buffer::zeros(Dtype::BF16, rows * f);
  library().run("swiglu_gain_bf16", {&x, &w, &g, &out},
                makeContext(1, rows, 0));
  std::vector<double> y =
      referenceMatmul(referenceNorm(x.values(), g.values(), rows, k, 1e-5),
                      w.values(), rows, 2 * f, k);
  expectClose(out.values(), referenceSwiglu(y, f), 2e-2, 2e-2,
              "swiglu_gain_bf16");
}

void checkResidual(Dtype dtype, const char *name, int64_t rows) {
  const int64_t k = 44, n = 48;
  Buffer x = Buffer::random(dtype, rows * k, 60);
  Buffer w = Buffer::random(dtype, n * k, 61);
  Buffer res = Buffer::random(dtype, rows * n, 62, -4.0f, 4.0f);
  Buffer out = Buffer::zeros(dtype, rows * n);
  library().run(name, {&x, &w, &res, &out}, makeContext(1, rows, 0));
  std::vector<double> y =
      referenceMatmul(toDouble(x.values()), w.values(), rows, n, k);
  std::vector<float> r = res.values();
  for (size_t i = 0; i < y.size(); ++i)
    y[i] += r[i];
  double tol = toleranceOf(dtype);
  expectClose(out.values(), y, tol, tol, name);
}

TEST(CpuFusedMatmul, ResidualF32) {
  checkResidual(Dtype::F32, "residual_f32", 2);
}
TEST(CpuFusedMatmul, ResidualF16) {
  checkResidual(Dtype::F16, "residual_f16", 3);
}

TEST(CpuFusedMatmul, ParallelMatchesSerial) {
  // 9 rows x 302 x 256 is past the parallel threshold.
  const int64_t k = 256, rows = 9;
  Buffer x = Buffer::random(Dtype::F32, rows * k, 70);
  Buffer w = Buffer::random(Dtype::F32, 302 * k, 71);
  std::vector<double> y = referenceMatmul(
      referenceNorm(x.values(), {}, rows, k, 1e-6), w.values(), rows, 302, k);
  for (int threads : {1, 2}) {
    Buffer a = Buffer::zeros(Dtype::F32, rows * 150),
           b = Buffer::zeros(Dtype::F32, rows * 152);
    library().run("parallel_f32", {&x, &w, &a, &b},
                  makeContext(1, rows, 0, threads));
    expectClose(a.values(), columns(y, 302, 0, 150), 1e-5, 1e-5,
                "first segment");
    expectClose(b.values(), columns(y, 302, 150, 152), 1e-5, 1e-5,
                "second segment");
  }
}

} // namespace
