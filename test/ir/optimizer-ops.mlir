// RUN: llama-opt %s | llama-opt | FileCheck %s
// RUN: llama-opt %s --mlir-print-op-generic | llama-opt | FileCheck %s

// The optimizer ops round-trip through their custom syntax.

// CHECK-LABEL: func.func @optimizer_ops
func.func @optimizer_ops(%w: tensor<32x64xf32>, %g: tensor<64xf32>,
                         %dw: tensor<32x64xf32>, %dg: tensor<64xf32>,
                         %mw: tensor<32x64xf32>, %vw: tensor<32x64xf32>,
                         %mg: tensor<64xf32>, %vg: tensor<64xf32>,
                         %schedule: tensor<3xi32>, %peak: tensor<f32>)
    -> (tensor<32x64xf32>, tensor<64xf32>) {
  // CHECK: %[[NORM:.*]] = llama.grad_norm %{{.*}}, %{{.*}} : (tensor<32x64xf32>, tensor<64xf32>) -> tensor<f32>
  %norm = llama.grad_norm %dw, %dg : (tensor<32x64xf32>, tensor<64xf32>) -> tensor<f32>
  // CHECK: %[[LR:.*]] = llama.lr_schedule %{{.*}}, %{{.*}} {final_ratio = 1.000000e-01 : f64} : (tensor<3xi32>, tensor<f32>) -> tensor<f32>
  %lr = llama.lr_schedule %schedule, %peak {final_ratio = 0.1 : f64} : (tensor<3xi32>, tensor<f32>) -> tensor<f32>
  // CHECK: llama.adamw_update params(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}) grads(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}) moments(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}) second_moments(%{{[a-z0-9]+}}, %{{[a-z0-9]+}}) lr(%[[LR]]) grad_norm(%[[NORM]]) schedule(%{{[a-z0-9]+}})
  // CHECK-SAME: beta1 = 9.000000e-01 : f64, beta2 = 0.94999999999999996 : f64, epsilon = 1.000000e-05 : f64, max_grad_norm = 1.000000e+00 : f64, weight_decay = 1.000000e-01 : f64
  // CHECK-SAME: -> (tensor<32x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<64xf32>)
  %u:6 = llama.adamw_update params(%w, %g) grads(%dw, %dg) moments(%mw, %mg)
      second_moments(%vw, %vg) lr(%lr) grad_norm(%norm) schedule(%schedule)
      {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64,
       weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64}
      : (tensor<32x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<64xf32>,
         tensor<32x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<64xf32>,
         tensor<f32>, tensor<f32>, tensor<3xi32>)
      -> (tensor<32x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<64xf32>,
          tensor<32x64xf32>, tensor<64xf32>)
  return %u#0, %u#1 : tensor<32x64xf32>, tensor<64xf32>
}

// Mixed precision: 16-bit copies of the master weights, 16-bit gradients.
// CHECK-LABEL: func.func @mixed_precision
func.func @mixed_precision(%w: tensor<32x64xf32>, %g: tensor<64xf32>,
                           %m: tensor<32x64xf32>, %v: tensor<32x64xf32>,
                           %lr: tensor<f32>, %schedule: tensor<3xi32>)
    -> tensor<32x64xf32> {
  // CHECK: %[[W16:.*]]:2 = llama.convert %{{.*}}, %{{.*}} : (tensor<32x64xf32>, tensor<64xf32>) -> (tensor<32x64xbf16>, tensor<64xbf16>)
  %w16:2 = llama.convert %w, %g : (tensor<32x64xf32>, tensor<64xf32>) -> (tensor<32x64xbf16>, tensor<64xbf16>)
  // CHECK: llama.grad_norm %[[W16]]#0 : (tensor<32x64xbf16>) -> tensor<f32>
  %norm = llama.grad_norm %w16#0 : (tensor<32x64xbf16>) -> tensor<f32>
  // CHECK: llama.adamw_update params(%{{.*}}) grads(%[[W16]]#0)
  %u:3 = llama.adamw_update params(%w) grads(%w16#0) moments(%m)
      second_moments(%v) lr(%lr) grad_norm(%norm) schedule(%schedule)
      {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64,
       weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64}
      : (tensor<32x64xf32>, tensor<32x64xbf16>, tensor<32x64xf32>,
         tensor<32x64xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>)
      -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>)
  return %u#0 : tensor<32x64xf32>
}

// The update can also write its parameters' bf16 copies, rounded anew.
// CHECK-LABEL: func.func @rounded_copies
func.func @rounded_copies(%w: tensor<32x64xf32>, %dw: tensor<32x64xbf16>,
                          %m: tensor<32x64xf32>, %v: tensor<32x64xf32>,
                          %lr: tensor<f32>, %norm: tensor<f32>,
                          %schedule: tensor<3xi32>) -> tensor<32x64xbf16> {
  // CHECK: %[[W16:.*]] = llama.convert
  %w16 = llama.convert %w : (tensor<32x64xf32>) -> tensor<32x64xbf16>
  // CHECK: %[[U:.*]]:4 = llama.adamw_update {{.*}} schedule(%{{.*}}) rounded(%[[W16]])
  // CHECK-SAME: -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>)
  %u:4 = llama.adamw_update params(%w) grads(%dw) moments(%m)
      second_moments(%v) lr(%lr) grad_norm(%norm) schedule(%schedule)
      rounded(%w16)
      {beta1 = 0.9 : f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64,
       weight_decay = 0.1 : f64, max_grad_norm = 1.0 : f64}
      : (tensor<32x64xf32>, tensor<32x64xbf16>, tensor<32x64xf32>,
         tensor<32x64xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>,
         tensor<32x64xbf16>)
      -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>,
          tensor<32x64xbf16>)
  // CHECK: return %[[U]]#3
  return %u#3 : tensor<32x64xbf16>
}
