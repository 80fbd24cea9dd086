// RUN: llama-opt %s -split-input-file --llama-fuse-swiglu | FileCheck %s

// mul(silu(a), b) over the two equal halves of a gate/up GEMM (the output of
// llama-fuse-rmsnorm-matmul) becomes that GEMM with a swiglu epilogue; the
// norm prologue and the packed weights are kept.

// CHECK-LABEL: func.func @fused_gate_up
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[W13:.*]]: tensor<344x64xf32>)
// CHECK-NOT: llama.silu
// CHECK: %[[H:.*]] = llama.fused_matmul %[[X]], %[[W13]] {epilogue = #llama<epilogue swiglu>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf32>, tensor<344x64xf32>) -> tensor<1x1x172xf32>
// CHECK-NOT: llama.silu
// CHECK-NOT: llama.mul
// CHECK: return %[[H]]
func.func @fused_gate_up(%x: tensor<1x1x64xf32>, %w13: tensor<344x64xf32>) -> tensor<1x1x172xf32> {
  %a, %b = llama.fused_matmul %x, %w13 {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf32>, tensor<344x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>)
  %s = llama.silu %a : tensor<1x1x172xf32>
  %h = llama.mul %s, %b : tensor<1x1x172xf32>
  return %h : tensor<1x1x172xf32>
}

// -----

// The mul's operands commuted; training keeps the gain operand.

// CHECK-LABEL: func.func @fused_gate_up_commuted
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[W13:.*]]: tensor<344x64xf32>, %[[G:.*]]: tensor<64xf32>)
// CHECK: %[[H:.*]] = llama.fused_matmul %[[X]], %[[W13]] gain %[[G]] {epilogue = #llama<epilogue swiglu>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 172, 172>}
// CHECK-NOT: llama.mul
// CHECK: return %[[H]]
func.func @fused_gate_up_commuted(%x: tensor<1x1x64xf32>, %w13: tensor<344x64xf32>, %g: tensor<64xf32>) -> tensor<1x1x172xf32> {
  %a, %b = llama.fused_matmul %x, %w13 gain %g {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf32>, tensor<344x64xf32>, tensor<64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>)
  %s = llama.silu %a : tensor<1x1x172xf32>
  %h = llama.mul %b, %s : tensor<1x1x172xf32>
  return %h : tensor<1x1x172xf32>
}

// -----

// Two plain matmuls of one input: the weights are packed [W1; W3] (no gain
// to fold) and one GEMM without a norm prologue computes silu(a) * b.

// CHECK-LABEL: func.func @matmul_gate_up
// CHECK-SAME: (%[[X:.*]]: tensor<1x?x64xf16>, %[[W1:.*]]: tensor<172x64xf16>, %[[W3:.*]]: tensor<172x64xf16>)
// CHECK-NOT: llama.matmul
// CHECK: %[[W:.*]] = llama.pack_weights %[[W1]], %[[W3]] : (tensor<172x64xf16>, tensor<172x64xf16>) -> tensor<344x64xf16>
// CHECK: %[[H:.*]] = llama.fused_matmul %[[X]], %[[W]] {epilogue = #llama<epilogue swiglu>, segments = array<i64: 172, 172>} : (tensor<1x?x64xf16>, tensor<344x64xf16>) -> tensor<1x?x172xf16>
// CHECK-NOT: llama.silu
// CHECK: return %[[H]]
func.func @matmul_gate_up(%x: tensor<1x?x64xf16>, %w1: tensor<172x64xf16>, %w3: tensor<172x64xf16>) -> tensor<1x?x172xf16> {
  %a = llama.matmul %x, %w1 : (tensor<1x?x64xf16>, tensor<172x64xf16>) -> tensor<1x?x172xf16>
  %b = llama.matmul %x, %w3 : (tensor<1x?x64xf16>, tensor<172x64xf16>) -> tensor<1x?x172xf16>
  %s = llama.silu %a : tensor<1x?x172xf16>
  %h = llama.mul %s, %b : tensor<1x?x172xf16>
  return %h : tensor<1x?x172xf16>
}

// -----

// add(r, x · Wᵀ) and add(x · Wᵀ, r) both become a residual epilogue.

// CHECK-LABEL: func.func @residual
// CHECK-SAME: (%[[R:.*]]: tensor<1x1x64xf32>, %[[H:.*]]: tensor<1x1x172xf32>, %[[W2:.*]]: tensor<64x172xf32>, %[[O:.*]]: tensor<1x1x64xf32>, %[[WO:.*]]: tensor<64x64xf32>)
// CHECK: %[[Y1:.*]] = llama.fused_matmul %[[H]], %[[W2]] residual %[[R]] {epilogue = #llama<epilogue residual>, segments = array<i64: 64>} : (tensor<1x1x172xf32>, tensor<64x172xf32>, tensor<1x1x64xf32>) -> tensor<1x1x64xf32>
// CHECK: %[[Y2:.*]] = llama.fused_matmul %[[O]], %[[WO]] residual %[[Y1]] {epilogue = #llama<epilogue residual>, segments = array<i64: 64>}
// CHECK-NOT: llama.add
// CHECK-NOT: llama.matmul
// CHECK: return %[[Y2]]
func.func @residual(%r: tensor<1x1x64xf32>, %h: tensor<1x1x172xf32>, %w2: tensor<64x172xf32>,
                    %o: tensor<1x1x64xf32>, %wo: tensor<64x64xf32>) -> tensor<1x1x64xf32> {
  %d = llama.matmul %h, %w2 : (tensor<1x1x172xf32>, tensor<64x172xf32>) -> tensor<1x1x64xf32>
  %y1 = llama.add %r, %d : tensor<1x1x64xf32>
  %p = llama.matmul %o, %wo : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %y2 = llama.add %p, %y1 : tensor<1x1x64xf32>
  return %y2 : tensor<1x1x64xf32>
}

// -----

// Refused: silu(a) has another user.

// CHECK-LABEL: func.func @silu_other_user
// CHECK: %[[GU:.*]]:2 = llama.fused_matmul {{.*}}epilogue = #llama<epilogue none>
// CHECK: %[[S:.*]] = llama.silu %[[GU]]#0
// CHECK: llama.mul %[[S]], %[[GU]]#1
// CHECK-NOT: swiglu
func.func @silu_other_user(%x: tensor<1x1x64xf32>, %w13: tensor<344x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>) {
  %a, %b = llama.fused_matmul %x, %w13 {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf32>, tensor<344x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>)
  %s = llama.silu %a : tensor<1x1x172xf32>
  %h = llama.mul %s, %b : tensor<1x1x172xf32>
  return %h, %s : tensor<1x1x172xf32>, tensor<1x1x172xf32>
}

// -----

// Refused: the gate itself has another user, for both gate/up forms.

// CHECK-LABEL: func.func @gate_other_user
// CHECK: %[[GU:.*]]:2 = llama.fused_matmul {{.*}}epilogue = #llama<epilogue none>
// CHECK: llama.silu %[[GU]]#0
// CHECK: llama.mul
// CHECK: %[[A:.*]] = llama.matmul
// CHECK: llama.matmul
// CHECK: llama.silu %[[A]]
// CHECK: llama.mul
// CHECK-NOT: swiglu
func.func @gate_other_user(%x: tensor<1x1x64xf32>, %w13: tensor<344x64xf32>,
                           %w1: tensor<172x64xf32>, %w3: tensor<172x64xf32>)
    -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>, tensor<1x1x172xf32>, tensor<1x1x172xf32>) {
  %a, %b = llama.fused_matmul %x, %w13 {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf32>, tensor<344x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>)
  %s = llama.silu %a : tensor<1x1x172xf32>
  %h = llama.mul %s, %b : tensor<1x1x172xf32>
  %c = llama.matmul %x, %w1 : (tensor<1x1x64xf32>, tensor<172x64xf32>) -> tensor<1x1x172xf32>
  %d = llama.matmul %x, %w3 : (tensor<1x1x64xf32>, tensor<172x64xf32>) -> tensor<1x1x172xf32>
  %t = llama.silu %c : tensor<1x1x172xf32>
  %i = llama.mul %t, %d : tensor<1x1x172xf32>
  return %h, %a, %i, %c : tensor<1x1x172xf32>, tensor<1x1x172xf32>, tensor<1x1x172xf32>, tensor<1x1x172xf32>
}

// -----

// Refused: gate and up are matmuls of different inputs.

// CHECK-LABEL: func.func @different_inputs
// CHECK-SAME: (%[[X:[^:]*]]: {{[^,]*}}, %[[Y:[^:]*]]:
// CHECK: llama.matmul %[[X]]
// CHECK: llama.matmul %[[Y]]
// CHECK: llama.silu
// CHECK: llama.mul
// CHECK-NOT: llama.fused_matmul
// CHECK-NOT: llama.pack_weights
func.func @different_inputs(%x: tensor<1x1x64xf32>, %y: tensor<1x1x64xf32>,
                            %w1: tensor<172x64xf32>, %w3: tensor<172x64xf32>) -> tensor<1x1x172xf32> {
  %a = llama.matmul %x, %w1 : (tensor<1x1x64xf32>, tensor<172x64xf32>) -> tensor<1x1x172xf32>
  %b = llama.matmul %y, %w3 : (tensor<1x1x64xf32>, tensor<172x64xf32>) -> tensor<1x1x172xf32>
  %s = llama.silu %a : tensor<1x1x172xf32>
  %h = llama.mul %s, %b : tensor<1x1x172xf32>
  return %h : tensor<1x1x172xf32>
}

// -----

// Refused: the halves must be the two results of a two-segment GEMM. (Two
// unequal segments cannot reach the pass: the verifier ties each result's
// width to its segment and llama.mul needs equal types.) Here the GEMM has a
// third segment.

// CHECK-LABEL: func.func @three_segments
// CHECK: %[[GU:.*]]:3 = llama.fused_matmul {{.*}}epilogue = #llama<epilogue none>{{.*}}segments = array<i64: 172, 172, 64>
// CHECK: llama.silu %[[GU]]#0
// CHECK: llama.mul
// CHECK-NOT: swiglu
func.func @three_segments(%x: tensor<1x1x64xf32>, %w: tensor<408x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x64xf32>) {
  %a, %b, %c = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172, 64>} : (tensor<1x1x64xf32>, tensor<408x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>, tensor<1x1x64xf32>)
  %s = llama.silu %a : tensor<1x1x172xf32>
  %h = llama.mul %s, %b : tensor<1x1x172xf32>
  return %h, %c : tensor<1x1x172xf32>, tensor<1x1x64xf32>
}

// -----

// Refused: the epilogue computes silu(first half) * second half, so
// silu(second half) * first half does not match.

// CHECK-LABEL: func.func @swapped_halves
// CHECK: %[[GU:.*]]:2 = llama.fused_matmul {{.*}}epilogue = #llama<epilogue none>
// CHECK: %[[S:.*]] = llama.silu %[[GU]]#1
// CHECK: llama.mul %[[S]], %[[GU]]#0
// CHECK-NOT: swiglu
func.func @swapped_halves(%x: tensor<1x1x64xf32>, %w13: tensor<344x64xf32>) -> tensor<1x1x172xf32> {
  %a, %b = llama.fused_matmul %x, %w13 {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf32>, tensor<344x64xf32>) -> (tensor<1x1x172xf32>, tensor<1x1x172xf32>)
  %s = llama.silu %b : tensor<1x1x172xf32>
  %h = llama.mul %s, %a : tensor<1x1x172xf32>
  return %h : tensor<1x1x172xf32>
}

// -----

// Refused: the matmul result feeding the add has another user.

// CHECK-LABEL: func.func @residual_matmul_other_user
// CHECK: %[[D:.*]] = llama.matmul
// CHECK: llama.add %{{.*}}, %[[D]]
// CHECK-NOT: llama.fused_matmul
// CHECK: return
func.func @residual_matmul_other_user(%r: tensor<1x1x64xf32>, %h: tensor<1x1x172xf32>, %w2: tensor<64x172xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>) {
  %d = llama.matmul %h, %w2 : (tensor<1x1x172xf32>, tensor<64x172xf32>) -> tensor<1x1x64xf32>
  %y = llama.add %r, %d : tensor<1x1x64xf32>
  return %y, %d : tensor<1x1x64xf32>, tensor<1x1x64xf32>
}

// -----

// The add's own result may have many users: the fused kernel replaces it.

// CHECK-LABEL: func.func @residual_add_other_users
// CHECK: %[[Y:.*]] = llama.fused_matmul {{.*}} residual
// CHECK-NOT: llama.add
// CHECK: return %[[Y]], %[[Y]]
func.func @residual_add_other_users(%r: tensor<1x1x64xf32>, %h: tensor<1x1x172xf32>, %w2: tensor<64x172xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>) {
  %d = llama.matmul %h, %w2 : (tensor<1x1x172xf32>, tensor<64x172xf32>) -> tensor<1x1x64xf32>
  %y = llama.add %r, %d : tensor<1x1x64xf32>
  return %y, %y : tensor<1x1x64xf32>, tensor<1x1x64xf32>
}
