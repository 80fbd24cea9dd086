//===- CpuOptimizerTest.cpp - Kernels of the optimizer ops ----------------===//
//
// The schedule, the global norm and AdamW against independent double
// references written from their definitions (the Llama 2 paper's schedule,
// PyTorch's clip_grad_norm_ and AdamW), over several steps so that the
// moments and the bias correction are exercised, with and without clipping.
//
//===----------------------------------------------------------------------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include <cmath>

using namespace llamac::test;

namespace {

const char *const optimizerIR = R"mlir(
func.func @lr_schedule(%s: tensor<3xi32>, %p: tensor<f32>) -> tensor<f32> {
  %0 = llama.lr_schedule %s, %p {final_ratio = 1.000000e-01 : f64} : (tensor<3xi32>, tensor<f32>) -> tensor<f32>
  return %0 : tensor<f32>
}
func.func @grad_norm(%a: tensor<5x7xf32>, %b: tensor<40000xf32>) -> tensor<f32> {
  %0 = llama.grad_norm %a, %b : (tensor<5x7xf32>, tensor<40000xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}
func.func @adamw(%w: tensor<5x7xf32>, %g: tensor<3xf32>, %dw: tensor<5x7xf32>, %dg: tensor<3xf32>,
                 %mw: tensor<5x7xf32>, %mg: tensor<3xf32>, %vw: tensor<5x7xf32>, %vg: tensor<3xf32>,
                 %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) -> tensor<5x7xf32> {
  %u:6 = llama.adamw_update params(%w, %g) grads(%dw, %dg) moments(%mw, %mg) second_moments(%vw, %vg) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<5x7xf32>, tensor<3xf32>, tensor<5x7xf32>, tensor<3xf32>, tensor<5x7xf32>, tensor<3xf32>, tensor<5x7xf32>, tensor<3xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>) -> (tensor<5x7xf32>, tensor<3xf32>, tensor<5x7xf32>, tensor<3xf32>, tensor<5x7xf32>, tensor<3xf32>)
  return %u#0 : tensor<5x7xf32>
}
func.func @adamw_rounded(%w: tensor<40xf32>, %dw: tensor<40xbf16>, %m: tensor<40xf32>, %v: tensor<40xf32>,
                         %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) -> tensor<40xbf16> {
  %c = llama.convert %w : (tensor<40xf32>) -> tensor<40xbf16>
  %u:4 = llama.adamw_update params(%w) grads(%dw) moments(%m) second_moments(%v) lr(%lr) grad_norm(%n) schedule(%s) rounded(%c) {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64} : (tensor<40xf32>, tensor<40xbf16>, tensor<40xf32>, tensor<40xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>, tensor<40xbf16>) -> (tensor<40xf32>, tensor<40xf32>, tensor<40xf32>, tensor<40xbf16>)
  return %u#3 : tensor<40xbf16>
}
)mlir";

const KernelLibrary &library() {
  static KernelLibrary lib = KernelLibrary::fromMlir(optimizerIR);
  return lib;
}

/// Linear warmup to the peak, then a half cosine to 10% of it.
double scheduleRef(double step, double warmup, double total, double peak) {
  if (step <= warmup)
    return peak * step / warmup;
  double progress = std::min(1.0, (step - warmup) / (total - warmup));
  return peak * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * progress)));
}

float runSchedule(int32_t step, int32_t warmup, int32_t total, float peak) {
  Buffer s = Buffer::tokens({step, warmup, total});
  Buffer p(Dtype::F32, {peak});
  Buffer out = Buffer::zeros(Dtype::F32, 1);
  library().run("lr_schedule", {&s, &p, &out}, makeContext(1, 1, 0));
  return out.values()[0];
}

} // namespace

TEST(CpuOptimizer, LibraryBuilds) { ASSERT_EQ(library().error(), ""); }

TEST(CpuOptimizer, ScheduleWarmsUpThenDecaysToTenPercent) {
  const float peak = 3e-4f;
  for (int32_t step : {1, 1000, 2000, 2001, 51000, 99999, 100000, 150000}) {
    double expected = scheduleRef(step, 2000, 100000, peak);
    EXPECT_NEAR(runSchedule(step, 2000, 100000, peak), expected,
                1e-6 * expected)
        << "step " << step;
  }
  // The endpoints the paper names: the peak after warmup, 10% at the end.
  EXPECT_FLOAT_EQ(runSchedule(2000, 2000, 100000, peak), peak);
  EXPECT_FLOAT_EQ(runSchedule(100000, 2000, 100000, peak), 0.1f * peak);
  // No warmup starts at the peak.
  EXPECT_FLOAT_EQ(runSchedule(1, 0, 10, peak),
                  float(scheduleRef(1, 0, 10, peak)));
}

TEST(CpuOptimizer, GradNormIsTheGlobalL2Norm) {
  Buffer a = Buffer::random(Dtype::F32, 35, 1);
  Buffer b = Buffer::random(Dtype::F32, 40000, 2);
  Buffer out = Buffer::zeros(Dtype::F32, 1);
  double sum = 0;
  for (Buffer *buffer : {&a, &b})
    for (float v : buffer->values())
      sum += double(v) * v;
  for (int threads : {1, 2}) {
    library().run("grad_norm", {&a, &b, &out}, makeContext(1, 1, 0, threads));
    EXPECT_NEAR(out.values()[0], std::sqrt(sum), 1e-6 * std::sqrt(sum));
  }
}

/// PyTorch's clip_grad_norm_ followed by AdamW, in double.
struct AdamWRef {
  std::vector<double> p, m, v;
  void step(const std::vector<float> &grad, double lr, double norm, int t,
            double decay) {
    double clip = std::min(1.0, 1.0 / (norm + 1e-6));
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i] * clip;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.95 * v[i] + 0.05 * g * g;
      p[i] *= 1 - lr * decay;
      double mHat = m[i] / (1 - std::pow(0.9, t));
      double vHat = v[i] / (1 - std::pow(0.95, t));
      p[i] -= lr * mHat / (std::sqrt(vHat) + 1e-5);
    }
  }
};

TEST(CpuOptimizer, AdamWMatchesPyTorchOverSteps) {
  Buffer w = Buffer::random(Dtype::F32, 35, 3);
  Buffer g = Buffer::random(Dtype::F32, 3, 4, 0.5f, 1.5f);
  Buffer mw = Buffer::zeros(Dtype::F32, 35), vw = Buffer::zeros(Dtype::F32, 35);
  Buffer mg = Buffer::zeros(Dtype::F32, 3), vg = Buffer::zeros(Dtype::F32, 3);
  std::vector<float> w0 = w.values(), g0 = g.values();
  AdamWRef refW{std::vector<double>(w0.begin(), w0.end()),
                std::vector<double>(35), std::vector<double>(35)};
  AdamWRef refG{std::vector<double>(g0.begin(), g0.end()),
                std::vector<double>(3), std::vector<double>(3)};
  const float lr = 1e-2f;
  // Steps 1-2 are clipped (norm 4), step 3 is not (norm 0.5).
  for (int t = 1; t <= 3; ++t) {
    float norm = t < 3 ? 4.0f : 0.5f;
    Buffer dw = Buffer::random(Dtype::F32, 35, 10 + t);
    Buffer dg = Buffer::random(Dtype::F32, 3, 20 + t);
    Buffer lrBuf(Dtype::F32, {lr}), normBuf(Dtype::F32, {norm});
    Buffer s = Buffer::tokens({t, 0, 3});
    // The results alias the parameters and moments: pass them again.
    library().run("adamw",
                  {&w, &g, &dw, &dg, &mw, &mg, &vw, &vg, &lrBuf, &normBuf, &s,
                   &w, &g, &mw, &mg, &vw, &vg},
                  makeContext(1, 1, 0));
    refW.step(dw.values(), lr, norm, t, 0.1);
    refG.step(dg.values(), lr, norm, t, 0.1);
    expectClose(w.values(), refW.p, 1e-6, 1e-5, "weights");
    expectClose(g.values(), refG.p, 1e-6, 1e-5, "gains");
    expectClose(mw.values(), refW.m, 1e-7, 1e-5, "first moments");
    expectClose(vw.values(), refW.v, 1e-8, 1e-5, "second moments");
  }
}

TEST(CpuOptimizer, AdamWWritesTheRoundingOfTheNewWeights) {
  // The convert (kernel adamw_rounded) makes the bf16 copy; each update
  // (adamw_rounded_1) must leave it equal to the new weights rounded.
  Buffer w = Buffer::random(Dtype::F32, 40, 5);
  Buffer m = Buffer::zeros(Dtype::F32, 40), v = Buffer::zeros(Dtype::F32, 40);
  Buffer copy = Buffer::zeros(Dtype::BF16, 40);
  library().run("adamw_rounded", {&w, &copy}, makeContext(1, 1, 0));
  for (int t = 1; t <= 2; ++t) {
    std::vector<float> before = copy.values();
    Buffer dw = Buffer::random(Dtype::BF16, 40, 30 + t);
    Buffer lr(Dtype::F32, {1e-2f}), norm(Dtype::F32, {0.5f});
    Buffer s = Buffer::tokens({t, 0, 2});
    library().run("adamw_rounded_1",
                  {&w, &dw, &m, &v, &lr, &norm, &s, &copy, &w, &m, &v, &copy},
                  makeContext(1, 1, 0));
    std::vector<float> weights = w.values(), rounded = copy.values();
    int changed = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
      ASSERT_EQ(rounded[i], roundTo(Dtype::BF16, weights[i]))
          << "element " << i << " of step " << t;
      changed += rounded[i] != before[i];
    }
    // A step of 1e-2 moves most weights by more than half a bf16 step.
    EXPECT_GT(changed, 20) << "step " << t;
  }
}
