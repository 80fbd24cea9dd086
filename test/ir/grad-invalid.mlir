// RUN: llama-opt %s -split-input-file -verify-diagnostics

// One case per verifier diagnostic of the backward ops.

func.func @embedding_grad_tokens_rank(%t: tensor<8xi32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{'llama.embedding_grad' op expects tokens of rank 2, got rank 1}}
  %r = llama.embedding_grad %t, %dy : (tensor<8xi32>, tensor<1x8x64xf32>) -> tensor<512x64xf32>
  return
}

// -----

func.func @embedding_grad_dy_rank(%t: tensor<1x8xi32>, %dy: tensor<8x64xf32>) {
  // expected-error @+1 {{expects dy of rank 3, got rank 2}}
  %r = llama.embedding_grad %t, %dy : (tensor<1x8xi32>, tensor<8x64xf32>) -> tensor<512x64xf32>
  return
}

// -----

func.func @embedding_grad_result_rank(%t: tensor<1x8xi32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{expects result of rank 2, got rank 1}}
  %r = llama.embedding_grad %t, %dy : (tensor<1x8xi32>, tensor<1x8x64xf32>) -> tensor<64xf32>
  return
}

// -----

func.func @embedding_grad_batch(%t: tensor<1x8xi32>, %dy: tensor<2x8x64xf32>) {
  // expected-error @+1 {{dy batch (2) must equal tokens batch (1)}}
  %r = llama.embedding_grad %t, %dy : (tensor<1x8xi32>, tensor<2x8x64xf32>) -> tensor<512x64xf32>
  return
}

// -----

func.func @embedding_grad_seq(%t: tensor<1x8xi32>, %dy: tensor<1x7x64xf32>) {
  // expected-error @+1 {{dy sequence (7) must equal tokens sequence (8)}}
  %r = llama.embedding_grad %t, %dy : (tensor<1x8xi32>, tensor<1x7x64xf32>) -> tensor<512x64xf32>
  return
}

// -----

func.func @embedding_grad_columns(%t: tensor<1x8xi32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{result columns (32) must equal dy features (64)}}
  %r = llama.embedding_grad %t, %dy : (tensor<1x8xi32>, tensor<1x8x64xf32>) -> tensor<512x32xf32>
  return
}

// -----

func.func @embedding_grad_dtype(%t: tensor<1x8xi32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{result element type 'bf16' differs from dy element type 'f32'}}
  %r = llama.embedding_grad %t, %dy : (tensor<1x8xi32>, tensor<1x8x64xf32>) -> tensor<512x64xbf16>
  return
}

// -----

func.func @rmsnorm_grad_input_rank(%x: tensor<8x64xf32>, %g: tensor<64xf32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{expects input of rank 3, got rank 2}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>) -> (tensor<8x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @rmsnorm_grad_gain_rank(%x: tensor<1x8x64xf32>, %g: tensor<1x64xf32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{expects gain of rank 1, got rank 2}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<1x64xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x64xf32>)
  return
}

// -----

func.func @rmsnorm_grad_gain_size(%x: tensor<1x8x64xf32>, %g: tensor<32xf32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{gain size (32) must equal input features (64)}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<32xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<32xf32>)
  return
}

// -----

func.func @rmsnorm_grad_gain_dtype(%x: tensor<1x8x64xf32>, %g: tensor<64xbf16>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{gain element type 'bf16' differs from input element type 'f32'}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xbf16>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xbf16>)
  return
}

// -----

func.func @rmsnorm_grad_dy_type(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %dy: tensor<1x7x64xf32>) {
  // expected-error @+1 {{dy type 'tensor<1x7x64xf32>' differs from input type 'tensor<1x8x64xf32>'}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x7x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @rmsnorm_grad_dinput_type(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{dinput type 'tensor<1x8x64xbf16>' differs from input type 'tensor<1x8x64xf32>'}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xbf16>, tensor<64xf32>)
  return
}

// -----

func.func @rmsnorm_grad_dgain_type(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{dgain type 'tensor<32xf32>' differs from gain type 'tensor<64xf32>'}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<32xf32>)
  return
}

// -----

func.func @rmsnorm_grad_epsilon(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %dy: tensor<1x8x64xf32>) {
  // expected-error @+1 {{epsilon must be in (0, 1), got 2}}
  %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 2.0 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>)
  return
}

// -----

func.func @matmul_grad_operands(%x: tensor<1x8x64xf32>, %w: tensor<32x48xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{input features (64) must equal weight columns (48)}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x48xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<32x48xf32>)
  return
}

// -----

func.func @matmul_grad_dy_rank(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<8x32xf32>) {
  // expected-error @+1 {{expects dy of rank 3, got rank 2}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<8x32xf32>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @matmul_grad_dy_batch(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<2x8x32xf32>) {
  // expected-error @+1 {{dy batch (2) must equal input batch (1)}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<2x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @matmul_grad_dy_seq(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x9x32xf32>) {
  // expected-error @+1 {{dy sequence (9) must equal input sequence (8)}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x9x32xf32>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @matmul_grad_dy_features(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x16xf32>) {
  // expected-error @+1 {{dy features (16) must equal weight rows (32)}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x16xf32>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @matmul_grad_dy_dtype(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xbf16>) {
  // expected-error @+1 {{dy element type 'bf16' differs from input element type 'f32'}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x32xbf16>) -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @matmul_grad_dinput_type(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{dinput type 'tensor<1x8x32xf32>' differs from input type 'tensor<1x8x64xf32>'}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x32xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @matmul_grad_dweight_type(%x: tensor<1x8x64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{dweight type 'tensor<64x32xf32>' differs from weight type 'tensor<32x64xf32>'}}
  %dx, %dw = llama.matmul_grad %x, %w, %dy : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<64x32xf32>)
  return
}

// -----

func.func @rope_grad_rank(%dy: tensor<8x64xf32>, %pos: i32) {
  // expected-error @+1 {{expects dy of rank 3, got rank 2}}
  %r = llama.rope_grad %dy, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<8x64xf32>, i32) -> tensor<8x64xf32>
  return
}

// -----

func.func @rope_grad_head_dim_positive(%dy: tensor<1x8x64xf32>, %pos: i32) {
  // expected-error @+1 {{head_dim must be positive, got 0}}
  %r = llama.rope_grad %dy, %pos {head_dim = 0 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
  return
}

// -----

func.func @rope_grad_head_dim_odd(%dy: tensor<1x8x64xf32>, %pos: i32) {
  // expected-error @+1 {{head_dim must be even so that RoPE can rotate pairs, got 7}}
  %r = llama.rope_grad %dy, %pos {head_dim = 7 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
  return
}

// -----

func.func @rope_grad_theta(%dy: tensor<1x8x64xf32>, %pos: i32) {
  // expected-error @+1 {{theta must be positive, got -1}}
  %r = llama.rope_grad %dy, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = -1.0 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
  return
}

// -----

func.func @rope_grad_heads(%dy: tensor<1x8x64xf32>, %pos: i32) {
  // expected-error @+1 {{dy features (64) are not a whole number of heads of head_dim 6}}
  %r = llama.rope_grad %dy, %pos {head_dim = 6 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
  return
}

// -----

func.func @rope_grad_result(%dy: tensor<1x8x64xf32>, %pos: i32) {
  // expected-error @+1 {{result type 'tensor<1x8x64xbf16>' differs from dy type 'tensor<1x8x64xf32>'}}
  %r = llama.rope_grad %dy, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xbf16>
  return
}

// -----

func.func @attention_grad_gqa(%q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>, %v: tensor<1x8x32xf32>, %pos: i32, %do: tensor<1x8x64xf32>) {
  // expected-error @+1 {{num_heads (8) must be a multiple of num_kv_heads (3) so that each KV head serves a whole group of query heads}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 3 : i64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
  return
}

// -----

func.func @attention_grad_key_seq(%q: tensor<1x8x64xf32>, %k: tensor<1x16x32xf32>, %v: tensor<1x16x32xf32>, %pos: i32, %do: tensor<1x8x64xf32>) {
  // expected-error @+1 {{key sequence (16) must equal query sequence (8)}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x8x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>)
  return
}

// -----

func.func @attention_grad_dout(%q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>, %v: tensor<1x8x32xf32>, %pos: i32, %do: tensor<1x8x32xf32>) {
  // expected-error @+1 {{dout type 'tensor<1x8x32xf32>' differs from query type 'tensor<1x8x64xf32>'}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
  return
}

// -----

func.func @attention_grad_scale(%q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>, %v: tensor<1x8x32xf32>, %pos: i32, %do: tensor<1x8x64xf32>) {
  // expected-error @+1 {{scale must be positive}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = -1.0 : f64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
  return
}

// -----

func.func @attention_grad_dquery(%q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>, %v: tensor<1x8x32xf32>, %pos: i32, %do: tensor<1x8x64xf32>) {
  // expected-error @+1 {{dquery type 'tensor<1x8x64xbf16>' differs from query type 'tensor<1x8x64xf32>'}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xbf16>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
  return
}

// -----

func.func @attention_grad_dkey(%q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>, %v: tensor<1x8x32xf32>, %pos: i32, %do: tensor<1x8x64xf32>) {
  // expected-error @+1 {{dkey type 'tensor<1x8x64xf32>' differs from key type 'tensor<1x8x32xf32>'}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x64xf32>, tensor<1x8x32xf32>)
  return
}

// -----

func.func @attention_grad_dvalue(%q: tensor<1x8x64xf32>, %k: tensor<1x8x32xf32>, %v: tensor<1x8x32xf32>, %pos: i32, %do: tensor<1x8x64xf32>) {
  // expected-error @+1 {{dvalue type 'tensor<1x8x64xf32>' differs from value type 'tensor<1x8x32xf32>'}}
  %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x64xf32>)
  return
}

// -----

func.func @silu_grad_types(%x: tensor<1x8x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %r = "llama.silu_grad"(%x, %dy) : (tensor<1x8x64xf32>, tensor<1x8x32xf32>) -> tensor<1x8x64xf32>
  return
}

// -----

func.func @swiglu_grad_types(%g: tensor<1x8x64xf32>, %u: tensor<1x8x32xf32>, %dh: tensor<1x8x64xf32>) {
  // expected-error @+1 {{failed to verify that all of {gate, up, dh, dgate, dup} have same type}}
  %dg, %du = "llama.swiglu_grad"(%g, %u, %dh) : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8x64xf32>)
  return
}

// -----

func.func @cross_entropy_grad_logits_rank(%l: tensor<8x512xf32>, %t: tensor<1x8xi32>, %w: tensor<1x8xf32>) {
  // expected-error @+1 {{expects logits of rank 3, got rank 2}}
  %r = llama.cross_entropy_grad %l, %t, %w : (tensor<8x512xf32>, tensor<1x8xi32>, tensor<1x8xf32>) -> tensor<8x512xf32>
  return
}

// -----

func.func @cross_entropy_grad_targets_rank(%l: tensor<1x8x512xf32>, %t: tensor<8xi32>, %w: tensor<1x8xf32>) {
  // expected-error @+1 {{expects targets of rank 2, got rank 1}}
  %r = llama.cross_entropy_grad %l, %t, %w : (tensor<1x8x512xf32>, tensor<8xi32>, tensor<1x8xf32>) -> tensor<1x8x512xf32>
  return
}

// -----

func.func @cross_entropy_grad_weights_rank(%l: tensor<1x8x512xf32>, %t: tensor<1x8xi32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{expects weights of rank 2, got rank 1}}
  %r = llama.cross_entropy_grad %l, %t, %w : (tensor<1x8x512xf32>, tensor<1x8xi32>, tensor<8xf32>) -> tensor<1x8x512xf32>
  return
}

// -----

func.func @cross_entropy_grad_targets_dim(%l: tensor<1x8x512xf32>, %t: tensor<1x7xi32>, %w: tensor<1x8xf32>) {
  // expected-error @+1 {{targets dimension (7) must equal logits dimension (8)}}
  %r = llama.cross_entropy_grad %l, %t, %w : (tensor<1x8x512xf32>, tensor<1x7xi32>, tensor<1x8xf32>) -> tensor<1x8x512xf32>
  return
}

// -----

func.func @cross_entropy_grad_weights_dim(%l: tensor<1x8x512xf32>, %t: tensor<1x8xi32>, %w: tensor<2x8xf32>) {
  // expected-error @+1 {{weights dimension (2) must equal logits dimension (1)}}
  %r = llama.cross_entropy_grad %l, %t, %w : (tensor<1x8x512xf32>, tensor<1x8xi32>, tensor<2x8xf32>) -> tensor<1x8x512xf32>
  return
}

// -----

func.func @cross_entropy_grad_result(%l: tensor<1x8x512xf32>, %t: tensor<1x8xi32>, %w: tensor<1x8xf32>) {
  // expected-error @+1 {{result type 'tensor<1x8x512xbf16>' differs from logits type 'tensor<1x8x512xf32>'}}
  %r = llama.cross_entropy_grad %l, %t, %w : (tensor<1x8x512xf32>, tensor<1x8xi32>, tensor<1x8xf32>) -> tensor<1x8x512xbf16>
  return
}

// -----

func.func @fused_norm_grad_counts(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{'llama.fused_rmsnorm_matmul_grad' op needs one dy and one dweight per weight, and at least one weight: got 1 weights, 0 dys and 1 dweights}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys() {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @fused_norm_grad_dy_width(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x16xf32>) {
  // expected-error @+1 {{dy features (16) must equal weight rows (32)}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys(%dy) {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<1x8x16xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @fused_norm_grad_weight_cols(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %w: tensor<32x48xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{input features (64) must equal weight columns (48)}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys(%dy) {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x48xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x48xf32>)
  return
}

// -----

func.func @fused_norm_grad_residual(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>, %r: tensor<1x4x64xf32>) {
  // expected-error @+1 {{residual type 'tensor<1x4x64xf32>' differs from input type 'tensor<1x8x64xf32>'}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys(%dy) residual(%r) {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>, tensor<1x4x64xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @fused_norm_grad_dweight(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{dweight type 'tensor<64x32xf32>' differs from weight type 'tensor<32x64xf32>'}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys(%dy) {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<64x32xf32>)
  return
}

// -----

func.func @fused_norm_grad_gain(%x: tensor<1x8x64xf32>, %g: tensor<32xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{gain size (32) must equal input features (64)}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys(%dy) {epsilon = 1.0e-05 : f64} : (tensor<1x8x64xf32>, tensor<32xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<32xf32>, tensor<32x64xf32>)
  return
}

// -----

func.func @fused_norm_grad_epsilon(%x: tensor<1x8x64xf32>, %g: tensor<64xf32>, %w: tensor<32x64xf32>, %dy: tensor<1x8x32xf32>) {
  // expected-error @+1 {{epsilon must be in (0, 1), got 0}}
  %dx, %dg, %dw = llama.fused_rmsnorm_matmul_grad %x, %g weights(%w) dys(%dy) {epsilon = 0.0 : f64} : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>) -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<32x64xf32>)
  return
}
