// RUN: llama-opt %s -split-input-file --llama-fuse-rmsnorm-matmul | FileCheck %s
// RUN: llama-opt %s -split-input-file --llama-fuse-rmsnorm-matmul=fold-gain=false | FileCheck %s --check-prefix=TRAIN

// The attention norm feeds Q, K and V (GQA: 8 query heads, 4 KV heads of 8):
// one GEMM over [Wq; Wk; Wv] with the gain folded into the packed weights.

// CHECK-LABEL: func.func @qkv
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[WQ:.*]]: tensor<64x64xf32>, %[[WK:.*]]: tensor<32x64xf32>, %[[WV:.*]]: tensor<32x64xf32>)
// CHECK-NOT: llama.rmsnorm
// CHECK: %[[W:.*]] = llama.pack_weights %[[WQ]], %[[WK]], %[[WV]] scaled_by %[[G]] : (tensor<64x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<64xf32>) -> tensor<128x64xf32>
// CHECK: %[[QKV:.*]]:3 = llama.fused_matmul %[[X]], %[[W]] {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 64, 32, 32>}
// CHECK-SAME: -> (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>)
// CHECK-NOT: llama.matmul
// CHECK: return %[[QKV]]#0, %[[QKV]]#1, %[[QKV]]#2

// Training keeps the gain as an operand of the kernel and packs unscaled.
// TRAIN-LABEL: func.func @qkv
// TRAIN-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[WQ:.*]]: tensor<64x64xf32>, %[[WK:.*]]: tensor<32x64xf32>, %[[WV:.*]]: tensor<32x64xf32>)
// TRAIN: %[[W:.*]] = llama.pack_weights %[[WQ]], %[[WK]], %[[WV]] : (tensor<64x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>) -> tensor<128x64xf32>
// TRAIN: %[[QKV:.*]]:3 = llama.fused_matmul %[[X]], %[[W]] gain %[[G]] {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 64, 32, 32>}
// TRAIN-NOT: llama.matmul
// TRAIN: return %[[QKV]]#0, %[[QKV]]#1, %[[QKV]]#2
func.func @qkv(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>, %wq: tensor<64x64xf32>,
               %wk: tensor<32x64xf32>, %wv: tensor<32x64xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>) {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %q = llama.matmul %xn, %wq : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %k = llama.matmul %xn, %wk : (tensor<1x1x64xf32>, tensor<32x64xf32>) -> tensor<1x1x32xf32>
  %v = llama.matmul %xn, %wv : (tensor<1x1x64xf32>, tensor<32x64xf32>) -> tensor<1x1x32xf32>
  return %q, %k, %v : tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>
}

// -----

// The FFN norm feeds gate (w1) and up (w3); a dynamic sequence is fine, only
// the weights' rows must be static. Results follow program order, and the
// epsilon is carried over (1e-6 prints as 9.9999999999999995E-7).

// CHECK-LABEL: func.func @gate_up
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x64xbf16>, %[[G:.*]]: tensor<64xbf16>, %[[W1:.*]]: tensor<172x64xbf16>, %[[W3:.*]]: tensor<172x64xbf16>)
// CHECK: %[[W:.*]] = llama.pack_weights %[[W1]], %[[W3]] scaled_by %[[G]] : {{.*}} -> tensor<344x64xbf16>
// CHECK: %[[H:.*]]:2 = llama.fused_matmul %[[X]], %[[W]] {epilogue = #llama<epilogue none>, norm_epsilon = 9.9999999999999995E-7 : f64, segments = array<i64: 172, 172>}
// CHECK: return %[[H]]#0, %[[H]]#1

// TRAIN-LABEL: func.func @gate_up
// TRAIN: llama.pack_weights %{{[^ ]*}}, %{{[^ ]*}} : (tensor<172x64xbf16>, tensor<172x64xbf16>) -> tensor<344x64xbf16>
// TRAIN: llama.fused_matmul {{.*}} gain {{.*}}segments = array<i64: 172, 172>
func.func @gate_up(%x: tensor<2x?x64xbf16>, %g: tensor<64xbf16>,
                   %w1: tensor<172x64xbf16>, %w3: tensor<172x64xbf16>)
    -> (tensor<2x?x172xbf16>, tensor<2x?x172xbf16>) {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-06 : f64} : (tensor<2x?x64xbf16>, tensor<64xbf16>) -> tensor<2x?x64xbf16>
  %a = llama.matmul %xn, %w1 : (tensor<2x?x64xbf16>, tensor<172x64xbf16>) -> tensor<2x?x172xbf16>
  %b = llama.matmul %xn, %w3 : (tensor<2x?x64xbf16>, tensor<172x64xbf16>) -> tensor<2x?x172xbf16>
  return %a, %b : tensor<2x?x172xbf16>, tensor<2x?x172xbf16>
}

// -----

// The final norm feeds the LM head alone. Inference still packs, to fold the
// gain; training needs no packing at all and uses the weight as it is.

// CHECK-LABEL: func.func @lm_head
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[WO:.*]]: tensor<512x64xf32>)
// CHECK: %[[W:.*]] = llama.pack_weights %[[WO]] scaled_by %[[G]] : (tensor<512x64xf32>, tensor<64xf32>) -> tensor<512x64xf32>
// CHECK: %[[L:.*]] = llama.fused_matmul %[[X]], %[[W]] {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 512>} : (tensor<1x1x64xf32>, tensor<512x64xf32>) -> tensor<1x1x512xf32>
// CHECK: return %[[L]]

// TRAIN-LABEL: func.func @lm_head
// TRAIN-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[WO:.*]]: tensor<512x64xf32>)
// TRAIN-NOT: llama.pack_weights
// TRAIN: %[[L:.*]] = llama.fused_matmul %[[X]], %[[WO]] gain %[[G]] {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 512>} : (tensor<1x1x64xf32>, tensor<512x64xf32>, tensor<64xf32>) -> tensor<1x1x512xf32>
// TRAIN: return %[[L]]
func.func @lm_head(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>, %wo: tensor<512x64xf32>) -> tensor<1x1x512xf32> {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %l = llama.matmul %xn, %wo : (tensor<1x1x64xf32>, tensor<512x64xf32>) -> tensor<1x1x512xf32>
  return %l : tensor<1x1x512xf32>
}

// -----

// Refused: the normalized activations are also returned, so they would have
// to be materialized anyway.

// CHECK-LABEL: func.func @norm_returned
// CHECK: %[[N:.*]] = llama.rmsnorm
// CHECK: llama.matmul %[[N]]
// CHECK-NOT: llama.fused_matmul
// CHECK-NOT: llama.pack_weights
// CHECK: return

// TRAIN-LABEL: func.func @norm_returned
// TRAIN-NOT: llama.fused_matmul
func.func @norm_returned(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>, %w: tensor<64x64xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>) {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %y = llama.matmul %xn, %w : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  return %y, %xn : tensor<1x1x64xf32>, tensor<1x1x64xf32>
}

// -----

// Refused: one user of the norm is an add, not a matmul.

// CHECK-LABEL: func.func @norm_added
// CHECK: %[[N:.*]] = llama.rmsnorm
// CHECK: llama.matmul %[[N]]
// CHECK: llama.add %[[N]]
// CHECK-NOT: llama.fused_matmul
func.func @norm_added(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>, %w: tensor<64x64xf32>) -> tensor<1x1x64xf32> {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %y = llama.matmul %xn, %w : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %z = llama.add %xn, %y : tensor<1x1x64xf32>
  return %z : tensor<1x1x64xf32>
}

// -----

// Refused: the second weight is computed after the first matmul of the
// group, so the packed weight could not be formed at the first matmul.

// CHECK-LABEL: func.func @weight_after_first_matmul
// CHECK: %[[N:.*]] = llama.rmsnorm
// CHECK: llama.matmul %[[N]]
// CHECK: %[[W:.*]] = llama.pack_weights
// CHECK: llama.matmul %[[N]], %[[W]]
// CHECK-NOT: llama.fused_matmul
func.func @weight_after_first_matmul(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>, %wq: tensor<64x64xf32>,
                                     %wk: tensor<32x64xf32>, %wv: tensor<32x64xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>) {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %q = llama.matmul %xn, %wq : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %wkv = llama.pack_weights %wk, %wv : (tensor<32x64xf32>, tensor<32x64xf32>) -> tensor<64x64xf32>
  %kv = llama.matmul %xn, %wkv : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  return %q, %kv : tensor<1x1x64xf32>, tensor<1x1x64xf32>
}

// -----

// Refused: a weight with a dynamic row count cannot be packed.

// CHECK-LABEL: func.func @dynamic_rows
// CHECK: llama.rmsnorm
// CHECK: llama.matmul
// CHECK: llama.matmul
// CHECK-NOT: llama.fused_matmul
// TRAIN-LABEL: func.func @dynamic_rows
// TRAIN-NOT: llama.fused_matmul
func.func @dynamic_rows(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<?x64xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x?xf32>) {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %q = llama.matmul %xn, %wq : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %k = llama.matmul %xn, %wk : (tensor<1x1x64xf32>, tensor<?x64xf32>) -> tensor<1x1x?xf32>
  return %q, %k : tensor<1x1x64xf32>, tensor<1x1x?xf32>
}

// -----

// A norm with no users is left alone (and not crashed on).

// CHECK-LABEL: func.func @unused_norm
// CHECK: llama.rmsnorm
// CHECK-NOT: llama.fused_matmul
func.func @unused_norm(%x: tensor<1x1x64xf32>, %g: tensor<64xf32>) {
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  return
}
