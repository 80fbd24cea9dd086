// RUN: llama-opt %s | llama-opt | FileCheck %s
// RUN: llama-opt %s --mlir-print-op-generic | llama-opt | FileCheck %s

// Every op of the llama dialect round-trips through its custom syntax.

// CHECK-LABEL: func.func @decoder_ops
func.func @decoder_ops(%tokens: tensor<2x?xi32>, %pos: i32,
                       %table: tensor<512x64xf32>, %g: tensor<64xf32>,
                       %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>,
                       %kc: tensor<2x128x32xf32>)
    -> (tensor<2x?x64xf32>, tensor<2x128x32xf32>) {
  // CHECK: llama.embedding %{{.*}}, %{{.*}} : (tensor<512x64xf32>, tensor<2x?xi32>) -> tensor<2x?x64xf32>
  %x = llama.embedding %table, %tokens : (tensor<512x64xf32>, tensor<2x?xi32>) -> tensor<2x?x64xf32>
  // CHECK: llama.rmsnorm {{.*}} {epsilon = 1.000000e-05 : f64}
  %xn = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<2x?x64xf32>, tensor<64xf32>) -> tensor<2x?x64xf32>
  // CHECK: llama.matmul
  %q = llama.matmul %xn, %wq : (tensor<2x?x64xf32>, tensor<64x64xf32>) -> tensor<2x?x64xf32>
  %k = llama.matmul %xn, %wk : (tensor<2x?x64xf32>, tensor<32x64xf32>) -> tensor<2x?x32xf32>
  // CHECK: llama.rope {{.*}} {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64}
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<2x?x64xf32>, i32) -> tensor<2x?x64xf32>
  // CHECK: #llama<rope_style half>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 1.0e+04 : f64} : (tensor<2x?x32xf32>, i32) -> tensor<2x?x32xf32>
  // CHECK: llama.kv_cache_write
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<2x128x32xf32>, tensor<2x?x32xf32>, i32) -> tensor<2x128x32xf32>
  // CHECK: llama.attention {{.*}} {num_heads = 8 : i64, num_kv_heads = 4 : i64}
  %a = llama.attention %qr, %kc1, %kc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<2x?x64xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32>, i32) -> tensor<2x?x64xf32>
  // CHECK: llama.silu %{{.*}} : tensor<2x?x64xf32>
  %s = llama.silu %a : tensor<2x?x64xf32>
  // CHECK: llama.mul
  %m = llama.mul %s, %a : tensor<2x?x64xf32>
  // CHECK: llama.add
  %r = llama.add %m, %x : tensor<2x?x64xf32>
  return %r, %kc1 : tensor<2x?x64xf32>, tensor<2x128x32xf32>
}

// CHECK-LABEL: func.func @loss
func.func @loss(%logits: tensor<4x16x512xbf16>, %targets: tensor<4x16xi32>, %w: tensor<4x16xf32>) -> tensor<f32> {
  // CHECK: llama.cross_entropy {{.*}} -> tensor<f32>
  %l = llama.cross_entropy %logits, %targets, %w : (tensor<4x16x512xbf16>, tensor<4x16xi32>, tensor<4x16xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @fused_ops
func.func @fused_ops(%x: tensor<1x1x64xf16>, %g: tensor<64xf16>, %wq: tensor<64x64xf16>,
                     %wk: tensor<32x64xf16>, %wv: tensor<32x64xf16>,
                     %w1: tensor<172x64xf16>, %w3: tensor<172x64xf16>, %w2: tensor<64x172xf16>,
                     %pos: i32, %kc: tensor<1x512x32xf16>, %vc: tensor<1x512x32xf16>)
    -> (tensor<1x1x64xf16>, tensor<1x512x32xf16>, tensor<1x512x32xf16>) {
  // CHECK: llama.pack_weights %{{.*}}, %{{.*}}, %{{.*}} scaled_by %{{.*}} :
  %wqkv = llama.pack_weights %wq, %wk, %wv scaled_by %g : (tensor<64x64xf16>, tensor<32x64xf16>, tensor<32x64xf16>, tensor<64xf16>) -> tensor<128x64xf16>
  // CHECK: llama.fused_matmul {{.*}} {epilogue = #llama<epilogue none>, norm_epsilon = 1.000000e-05 : f64, segments = array<i64: 64, 32, 32>}
  %q, %k, %v = llama.fused_matmul %x, %wqkv {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 64, 32, 32>} : (tensor<1x1x64xf16>, tensor<128x64xf16>) -> (tensor<1x1x64xf16>, tensor<1x1x32xf16>, tensor<1x1x32xf16>)
  // CHECK: llama.fused_rope_attention {{.*}} cache(%{{.*}}, %{{.*}})
  %o, %kc1, %vc1 = llama.fused_rope_attention %q, %k, %v, %pos cache(%kc, %vc) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf16>, tensor<1x1x32xf16>, tensor<1x1x32xf16>, i32, tensor<1x512x32xf16>, tensor<1x512x32xf16>) -> (tensor<1x1x64xf16>, tensor<1x512x32xf16>, tensor<1x512x32xf16>)
  // CHECK: llama.fused_rope_attention %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}} {
  %o2 = llama.fused_rope_attention %q, %k, %v, %pos {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style half>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf16>, tensor<1x1x32xf16>, tensor<1x1x32xf16>, i32) -> tensor<1x1x64xf16>
  // CHECK: llama.pack_weights %{{[^ ]*}}, %{{[^ ]*}} :
  %w13 = llama.pack_weights %w1, %w3 : (tensor<172x64xf16>, tensor<172x64xf16>) -> tensor<344x64xf16>
  // CHECK: llama.fused_matmul {{.*}} gain {{.*}} #llama<epilogue swiglu>
  %h = llama.fused_matmul %o2, %w13 gain %g {epilogue = #llama<epilogue swiglu>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 172, 172>} : (tensor<1x1x64xf16>, tensor<344x64xf16>, tensor<64xf16>) -> tensor<1x1x172xf16>
  // CHECK: llama.fused_matmul {{.*}} residual {{.*}} #llama<epilogue residual>
  %y = llama.fused_matmul %h, %w2 residual %o {epilogue = #llama<epilogue residual>, segments = array<i64: 64>} : (tensor<1x1x172xf16>, tensor<64x172xf16>, tensor<1x1x64xf16>) -> tensor<1x1x64xf16>
  return %y, %kc1, %vc1 : tensor<1x1x64xf16>, tensor<1x512x32xf16>, tensor<1x512x32xf16>
}
