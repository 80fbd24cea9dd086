// RUN: llama-opt %s -split-input-file --pass-pipeline="builtin.module(func.func(llama-fuse-rmsnorm-matmul-grad))" | FileCheck %s

// The attention norm's backward: three matmul_grads of the norm output, the
// adds summing their input gradients, the rmsnorm_grad and the residual add
// become one op, weights in forward order.

// CHECK-LABEL: func.func @qkv
// CHECK-SAME:    (%[[X:[a-z0-9]+]]: tensor<1x4x8xf32>, %[[G:[a-z0-9]+]]: tensor<8xf32>, %[[WQ:[a-z0-9]+]]: tensor<8x8xf32>, %[[WK:[a-z0-9]+]]: tensor<4x8xf32>, %[[WV:[a-z0-9]+]]: tensor<4x8xf32>, %[[DQ:[a-z0-9]+]]: tensor<1x4x8xf32>, %[[DK:[a-z0-9]+]]: tensor<1x4x4xf32>, %[[DV:[a-z0-9]+]]: tensor<1x4x4xf32>, %[[DRES:[a-z0-9]+]]: tensor<1x4x8xf32>)
// CHECK-NEXT:    %[[N:.*]] = llama.rmsnorm %[[X]], %[[G]]
// CHECK-NEXT:    %[[DX:[a-z0-9_]+]], %[[DG:[a-z0-9_]+]], %[[DW:[a-z0-9_]+]]:3 = llama.fused_rmsnorm_matmul_grad %[[X]], %[[G]] weights(%[[WQ]], %[[WK]], %[[WV]]) dys(%[[DQ]], %[[DK]], %[[DV]]) residual(%[[DRES]]) {epsilon = 1.000000e-05 : f64}
// CHECK-NOT:     llama.add
// CHECK-NOT:     llama.matmul_grad
// CHECK-NOT:     llama.rmsnorm_grad
// CHECK:         return %[[N]], %[[DX]], %[[DG]], %[[DW]]#0, %[[DW]]#1, %[[DW]]#2
func.func @qkv(%x: tensor<1x4x8xf32>, %g: tensor<8xf32>, %wq: tensor<8x8xf32>,
               %wk: tensor<4x8xf32>, %wv: tensor<4x8xf32>, %dq: tensor<1x4x8xf32>,
               %dk: tensor<1x4x4xf32>, %dv: tensor<1x4x4xf32>, %dres: tensor<1x4x8xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %n = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %dxv, %dwv = llama.matmul_grad %n, %wv, %dv : (tensor<1x4x8xf32>, tensor<4x8xf32>, tensor<1x4x4xf32>) -> (tensor<1x4x8xf32>, tensor<4x8xf32>)
  %dxk, %dwk = llama.matmul_grad %n, %wk, %dk : (tensor<1x4x8xf32>, tensor<4x8xf32>, tensor<1x4x4xf32>) -> (tensor<1x4x8xf32>, tensor<4x8xf32>)
  %s0 = llama.add %dxv, %dxk : tensor<1x4x8xf32>
  %dxq, %dwq = llama.matmul_grad %n, %wq, %dq : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8x8xf32>)
  %s1 = llama.add %s0, %dxq : tensor<1x4x8xf32>
  %dx, %dg = llama.rmsnorm_grad %x, %g, %s1 {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8xf32>)
  %total = llama.add %dres, %dx : tensor<1x4x8xf32>
  return %n, %total, %dg, %dwq, %dwk, %dwv : tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<8xf32>, tensor<8x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// The final norm and the classifier: one matmul, and a norm gradient with two
// users, so no residual is folded in.

// CHECK-LABEL: func.func @classifier
// CHECK:         %[[DX:[a-z0-9_]+]], %[[DG:[a-z0-9_]+]], %[[DW:[a-z0-9_]+]] = llama.fused_rmsnorm_matmul_grad %arg0, %arg1 weights(%arg2) dys(%arg3) {epsilon = 1.000000e-05 : f64}
// CHECK-NEXT:    %[[A:.*]] = llama.add %[[DX]], %[[DX]]
// CHECK-NEXT:    return %[[A]], %[[DG]], %[[DW]]
func.func @classifier(%x: tensor<1x4x8xf32>, %g: tensor<8xf32>, %w: tensor<16x8xf32>, %dy: tensor<1x4x16xf32>)
    -> (tensor<1x4x8xf32>, tensor<8xf32>, tensor<16x8xf32>) {
  %n = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %dn, %dw = llama.matmul_grad %n, %w, %dy : (tensor<1x4x8xf32>, tensor<16x8xf32>, tensor<1x4x16xf32>) -> (tensor<1x4x8xf32>, tensor<16x8xf32>)
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dn {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8xf32>)
  %a = llama.add %dx, %dx : tensor<1x4x8xf32>
  return %a, %dg, %dw : tensor<1x4x8xf32>, tensor<8xf32>, tensor<16x8xf32>
}

// -----

// A partial sum with another user stays unfused.

// CHECK-LABEL: func.func @shared_sum
// CHECK-NOT:     llama.fused_rmsnorm_matmul_grad
// CHECK:         llama.rmsnorm_grad
func.func @shared_sum(%x: tensor<1x4x8xf32>, %g: tensor<8xf32>, %w: tensor<8x8xf32>, %dy: tensor<1x4x8xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x8xf32>) {
  %n = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %dn, %dw = llama.matmul_grad %n, %w, %dy : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8x8xf32>)
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dn {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8xf32>)
  return %dx, %dn : tensor<1x4x8xf32>, tensor<1x4x8xf32>
}

// -----

// Matmuls of another value than the norm's output, or a norm with another
// epsilon, stay unfused.

// CHECK-LABEL: func.func @other_input
// CHECK-NOT:     llama.fused_rmsnorm_matmul_grad
func.func @other_input(%x: tensor<1x4x8xf32>, %g: tensor<8xf32>, %w: tensor<8x8xf32>, %dy: tensor<1x4x8xf32>)
    -> (tensor<1x4x8xf32>, tensor<8x8xf32>) {
  %dn, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8x8xf32>)
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dn {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8xf32>)
  return %dx, %dw : tensor<1x4x8xf32>, tensor<8x8xf32>
}

// CHECK-LABEL: func.func @other_epsilon
// CHECK-NOT:     llama.fused_rmsnorm_matmul_grad
func.func @other_epsilon(%x: tensor<1x4x8xf32>, %g: tensor<8xf32>, %w: tensor<8x8xf32>, %dy: tensor<1x4x8xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x8xf32>) {
  %n = llama.rmsnorm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %dn, %dw = llama.matmul_grad %n, %w, %dy : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8x8xf32>)
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dn {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8xf32>)
  return %dx, %n : tensor<1x4x8xf32>, tensor<1x4x8xf32>
}

// -----

// A weight gradient used before the norm's backward (so before the fused op
// would be) stays unfused.

// CHECK-LABEL: func.func @early_use
// CHECK-NOT:     llama.fused_rmsnorm_matmul_grad
func.func @early_use(%x: tensor<1x4x8xf32>, %g: tensor<8xf32>, %w: tensor<8x8xf32>, %dy: tensor<1x4x8xf32>)
    -> (tensor<1x4x8xf32>, tensor<8x8xf32>) {
  %n = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %dn, %dw = llama.matmul_grad %n, %w, %dy : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8x8xf32>)
  %twice = llama.add %dw, %dw : tensor<8x8xf32>
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dn {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>, tensor<8xf32>)
  return %dx, %twice : tensor<1x4x8xf32>, tensor<8x8xf32>
}
