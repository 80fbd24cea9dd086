// RUN: llama-opt %s --llama-fusion-pipeline | FileCheck %s --implicit-check-not=llama.rmsnorm --implicit-check-not=llama.matmul --implicit-check-not=llama.rope --implicit-check-not=llama.attention --implicit-check-not=llama.silu --implicit-check-not=llama.mul --implicit-check-not=llama.add --implicit-check-not=llama.kv_cache_write
// RUN: llama-opt %s --llama-fusion-pipeline=training=true | FileCheck %s --check-prefix=TRAIN --implicit-check-not=scaled_by --implicit-check-not=llama.rmsnorm --implicit-check-not=llama.matmul

// One GQA decoder layer (8 query heads, 4 KV heads of 8) with its LM head:
// the three passes together leave six kernels (plus three load-time packs).

// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:[^:]+]]: tensor<1x1x64xf32>, %[[POS:[^:]+]]: i32, %[[G1:[^:]+]]: tensor<64xf32>, %[[WQ:[^:]+]]: tensor<64x64xf32>, %[[WK:[^:]+]]: tensor<32x64xf32>, %[[WV:[^:]+]]: tensor<32x64xf32>, %[[WO:[^:]+]]: tensor<64x64xf32>, %[[KC:[^:]+]]: tensor<1x16x32xf32>, %[[VC:[^:]+]]: tensor<1x16x32xf32>, %[[G2:[^:]+]]: tensor<64xf32>, %[[W1:[^:]+]]: tensor<172x64xf32>, %[[W2:[^:]+]]: tensor<64x172xf32>, %[[W3:[^:]+]]: tensor<172x64xf32>, %[[G3:[^:]+]]: tensor<64xf32>, %[[WOUT:[^:]+]]: tensor<512x64xf32>)
// CHECK-NEXT: %[[WQKV:.+]] = llama.pack_weights %[[WQ]], %[[WK]], %[[WV]] scaled_by %[[G1]]
// CHECK-NEXT: %[[QKV:.+]]:3 = llama.fused_matmul %[[X]], %[[WQKV]] {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 64, 32, 32>}
// CHECK-NEXT: %[[ATT:.+]]:3 = llama.fused_rope_attention %[[QKV]]#0, %[[QKV]]#1, %[[QKV]]#2, %[[POS]] cache(%[[KC]], %[[VC]]) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64}
// CHECK-NEXT: %[[X1:.+]] = llama.fused_matmul %[[ATT]]#0, %[[WO]] residual %[[X]] {epilogue = #llama<epilogue residual>, segments = array<i64: 64>}
// CHECK-NEXT: %[[W13:.+]] = llama.pack_weights %[[W1]], %[[W3]] scaled_by %[[G2]]
// CHECK-NEXT: %[[H:.+]] = llama.fused_matmul %[[X1]], %[[W13]] {epilogue = #llama<epilogue swiglu>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 172, 172>}
// CHECK-NEXT: %[[X2:.+]] = llama.fused_matmul %[[H]], %[[W2]] residual %[[X1]] {epilogue = #llama<epilogue residual>, segments = array<i64: 64>}
// CHECK-NEXT: %[[WL:.+]] = llama.pack_weights %[[WOUT]] scaled_by %[[G3]]
// CHECK-NEXT: %[[L:.+]] = llama.fused_matmul %[[X2]], %[[WL]] {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 512>}
// CHECK-NEXT: return %[[L]], %[[ATT]]#1, %[[ATT]]#2

// Training: every gain stays an operand of its GEMM, nothing is scaled_by,
// and the LM head needs no packing at all.
// TRAIN-LABEL: func.func @layer
// TRAIN: llama.pack_weights %{{[^ ]+}}, %{{[^ ]+}}, %{{[^ ]+}} :
// TRAIN: llama.fused_matmul {{.*}} gain {{.*}}segments = array<i64: 64, 32, 32>
// TRAIN: llama.fused_rope_attention
// TRAIN: llama.fused_matmul {{.*}} residual
// TRAIN: llama.pack_weights %{{[^ ]+}}, %{{[^ ]+}} :
// TRAIN: llama.fused_matmul {{.*}} gain {{.*}}#llama<epilogue swiglu>
// TRAIN: llama.fused_matmul {{.*}} residual
// TRAIN-NOT: llama.pack_weights
// TRAIN: llama.fused_matmul %{{[^ ]+}}, %arg14 gain %arg13 {{.*}}segments = array<i64: 512>
func.func @layer(%x: tensor<1x1x64xf32>, %pos: i32, %g1: tensor<64xf32>,
                 %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %wv: tensor<32x64xf32>, %wo: tensor<64x64xf32>,
                 %kc: tensor<1x16x32xf32>, %vc: tensor<1x16x32xf32>, %g2: tensor<64xf32>,
                 %w1: tensor<172x64xf32>, %w2: tensor<64x172xf32>, %w3: tensor<172x64xf32>,
                 %g3: tensor<64xf32>, %wout: tensor<512x64xf32>)
    -> (tensor<1x1x512xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>) {
  %xn = llama.rmsnorm %x, %g1 {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %q = llama.matmul %xn, %wq : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %k = llama.matmul %xn, %wk : (tensor<1x1x64xf32>, tensor<32x64xf32>) -> tensor<1x1x32xf32>
  %v = llama.matmul %xn, %wv : (tensor<1x1x64xf32>, tensor<32x64xf32>) -> tensor<1x1x32xf32>
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x16x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x16x32xf32>
  %vc1 = llama.kv_cache_write %vc, %v, %pos : (tensor<1x16x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x16x32xf32>
  %a = llama.attention %qr, %kc1, %vc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x1x64xf32>
  %o = llama.matmul %a, %wo : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  %x1 = llama.add %x, %o : tensor<1x1x64xf32>
  %hn = llama.rmsnorm %x1, %g2 {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %gate = llama.matmul %hn, %w1 : (tensor<1x1x64xf32>, tensor<172x64xf32>) -> tensor<1x1x172xf32>
  %up = llama.matmul %hn, %w3 : (tensor<1x1x64xf32>, tensor<172x64xf32>) -> tensor<1x1x172xf32>
  %s = llama.silu %gate : tensor<1x1x172xf32>
  %h = llama.mul %s, %up : tensor<1x1x172xf32>
  %d = llama.matmul %h, %w2 : (tensor<1x1x172xf32>, tensor<64x172xf32>) -> tensor<1x1x64xf32>
  %x2 = llama.add %x1, %d : tensor<1x1x64xf32>
  %fn = llama.rmsnorm %x2, %g3 {epsilon = 1.0e-05 : f64} : (tensor<1x1x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  %logits = llama.matmul %fn, %wout : (tensor<1x1x64xf32>, tensor<512x64xf32>) -> tensor<1x1x512xf32>
  return %logits, %kc1, %vc1 : tensor<1x1x512xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>
}
