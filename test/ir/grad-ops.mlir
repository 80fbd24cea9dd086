// RUN: llama-opt %s | llama-opt | FileCheck %s
// RUN: llama-opt %s --mlir-print-op-generic | llama-opt | FileCheck %s

// Every backward op of the llama dialect round-trips through its custom
// syntax.

// CHECK-LABEL: func.func @grad_ops
func.func @grad_ops(%tokens: tensor<1x8xi32>, %targets: tensor<1x8xi32>,
                    %weights: tensor<1x8xf32>, %pos: i32,
                    %x: tensor<1x8x64xf32>, %g: tensor<64xf32>,
                    %w: tensor<32x64xf32>, %dy32: tensor<1x8x32xf32>,
                    %q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>,
                    %v: tensor<1x8x32xf32>, %h: tensor<1x8x172xf32>,
                    %logits: tensor<1x8x512xf32>) {
  // CHECK: llama.embedding_grad %{{.*}}, %{{.*}} : (tensor<1x8xi32>, tensor<1x8x64xf32>) -> tensor<512x64xf32>
  %dt = llama.embedding_grad %tokens, %x : (tensor<1x8xi32>, tensor<1x8x64xf32>) -> tensor<512x64xf32>
  // CHECK: llama.rmsnorm_grad %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>)
  %dx, %dg = llama.rmsnorm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>)
  // CHECK: llama.matmul_grad %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  %dmx, %dw = llama.matmul_grad %x, %w, %dy32 : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  // CHECK: llama.rope_grad %{{.*}}, %{{.*}} {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 1.000000e+04 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
  %dr = llama.rope_grad %q, %pos {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 1.000000e+04 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
  // CHECK: llama.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 5.000000e-01 : f64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %q {num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 0.5 : f64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
  // CHECK: llama.silu_grad %{{.*}}, %{{.*}} : tensor<1x8x172xf32>
  %ds = llama.silu_grad %h, %h : tensor<1x8x172xf32>
  // CHECK: llama.swiglu_grad %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x8x172xf32>
  %dgate, %dup = llama.swiglu_grad %h, %h, %h : tensor<1x8x172xf32>
  // CHECK: llama.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x8x512xf32>, tensor<1x8xi32>, tensor<1x8xf32>) -> tensor<1x8x512xf32>
  %dl = llama.cross_entropy_grad %logits, %targets, %weights : (tensor<1x8x512xf32>, tensor<1x8xi32>, tensor<1x8xf32>) -> tensor<1x8x512xf32>
  return
}

// CHECK-LABEL: func.func @dynamic_seq_bf16
func.func @dynamic_seq_bf16(%x: tensor<2x?x64xbf16>, %w: tensor<32x64xbf16>,
                            %dy: tensor<2x?x32xbf16>) {
  // CHECK: llama.matmul_grad %{{.*}} : (tensor<2x?x64xbf16>, tensor<32x64xbf16>, tensor<2x?x32xbf16>) -> (tensor<2x?x64xbf16>, tensor<32x64xbf16>)
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<2x?x64xbf16>, tensor<32x64xbf16>, tensor<2x?x32xbf16>) -> (tensor<2x?x64xbf16>, tensor<32x64xbf16>)
  return
}

// CHECK-LABEL: func.func @fused_rmsnorm_matmul_grad
func.func @fused_rmsnorm_matmul_grad(%x: tensor<1x?x64xf32>, %g: tensor<64xf32>,
                                     %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>,
                                     %dq: tensor<1x?x64xf32>, %dk: tensor<1x?x32xf32>,
                                     %dres: tensor<1x?x64xf32>) {
  // CHECK: llama.fused_rmsnorm_matmul_grad %{{.*}}, %{{.*}} weights(%{{.*}}, %{{.*}}) dys(%{{.*}}, %{{.*}}) residual(%{{.*}}) {epsilon = 1.000000e-05 : f64}
  %dx, %dg, %dw:2 = llama.fused_rmsnorm_matmul_grad %x, %g weights(%wq, %wk) dys(%dq, %dk) residual(%dres) {epsilon = 1.0e-05 : f64} : (tensor<1x?x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<1x?x64xf32>, tensor<1x?x32xf32>, tensor<1x?x64xf32>) -> (tensor<1x?x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>)
  // CHECK: llama.fused_rmsnorm_matmul_grad %{{.*}}, %{{.*}} weights(%{{.*}}) dys(%{{.*}}) {epsilon = 1.000000e-05 : f64}
  %dx2, %dg2, %dw2 = llama.fused_rmsnorm_matmul_grad %x, %g weights(%wk) dys(%dk) {epsilon = 1.0e-05 : f64} : (tensor<1x?x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<1x?x32xf32>) -> (tensor<1x?x64xf32>, tensor<64xf32>, tensor<32x64xf32>)
  return
}
