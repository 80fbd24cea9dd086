// RUN: llama-opt %s -split-input-file -verify-diagnostics

// One case per verifier diagnostic of the llama dialect.

func.func @embedding_rank(%t: tensor<512xf32>, %tok: tensor<1x4xi32>) {
  // expected-error @+1 {{'llama.embedding' op expects table of rank 2, got rank 1}}
  %x = llama.embedding %t, %tok : (tensor<512xf32>, tensor<1x4xi32>) -> tensor<1x4x64xf32>
  return
}

// -----

func.func @embedding_width(%t: tensor<512x64xf32>, %tok: tensor<1x4xi32>) {
  // expected-error @+1 {{result features (32) must equal table columns (64)}}
  %x = llama.embedding %t, %tok : (tensor<512x64xf32>, tensor<1x4xi32>) -> tensor<1x4x32xf32>
  return
}

// -----

func.func @embedding_seq(%t: tensor<512x64xf32>, %tok: tensor<1x4xi32>) {
  // expected-error @+1 {{result sequence (5) must equal tokens sequence (4)}}
  %x = llama.embedding %t, %tok : (tensor<512x64xf32>, tensor<1x4xi32>) -> tensor<1x5x64xf32>
  return
}

// -----

func.func @embedding_dtype(%t: tensor<512x64xf32>, %tok: tensor<1x4xi32>) {
  // expected-error @+1 {{result element type 'bf16' differs from table element type 'f32'}}
  %x = llama.embedding %t, %tok : (tensor<512x64xf32>, tensor<1x4xi32>) -> tensor<1x4x64xbf16>
  return
}

// -----

func.func @rmsnorm_gain(%x: tensor<1x4x64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{gain size (32) must equal input features (64)}}
  %y = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x4x64xf32>, tensor<32xf32>) -> tensor<1x4x64xf32>
  return
}

// -----

func.func @rmsnorm_eps(%x: tensor<1x4x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{epsilon must be in (0, 1), got 0}}
  %y = llama.rmsnorm %x, %g {epsilon = 0.0 : f64} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  return
}

// -----

func.func @rmsnorm_result(%x: tensor<1x4x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{result type 'tensor<1x4x64xf16>' differs from input type 'tensor<1x4x64xf32>'}}
  %y = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf16>
  return
}

// -----

func.func @matmul_contraction(%x: tensor<1x4x64xf32>, %w: tensor<128x32xf32>) {
  // expected-error @+1 {{input features (64) must equal weight columns (32)}}
  %y = llama.matmul %x, %w : (tensor<1x4x64xf32>, tensor<128x32xf32>) -> tensor<1x4x128xf32>
  return
}

// -----

func.func @matmul_out(%x: tensor<1x4x64xf32>, %w: tensor<128x64xf32>) {
  // expected-error @+1 {{result feature dimension (64) must be 128}}
  %y = llama.matmul %x, %w : (tensor<1x4x64xf32>, tensor<128x64xf32>) -> tensor<1x4x64xf32>
  return
}

// -----

func.func @matmul_dtype(%x: tensor<1x4x64xf32>, %w: tensor<128x64xbf16>) {
  // expected-error @+1 {{weight element type 'bf16' differs from input element type 'f32'}}
  %y = llama.matmul %x, %w : (tensor<1x4x64xf32>, tensor<128x64xbf16>) -> tensor<1x4x128xf32>
  return
}

// -----

func.func @matmul_batch(%x: tensor<1x4x64xf32>, %w: tensor<128x64xf32>) {
  // expected-error @+1 {{result batch (2) must equal input batch (1)}}
  %y = llama.matmul %x, %w : (tensor<1x4x64xf32>, tensor<128x64xf32>) -> tensor<2x4x128xf32>
  return
}

// -----

func.func @rope_odd(%x: tensor<1x4x63xf32>, %p: i32) {
  // expected-error @+1 {{head_dim must be even so that RoPE can rotate pairs, got 7}}
  %y = llama.rope %x, %p {head_dim = 7 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x4x63xf32>, i32) -> tensor<1x4x63xf32>
  return
}

// -----

func.func @rope_heads(%x: tensor<1x4x60xf32>, %p: i32) {
  // expected-error @+1 {{input features (60) are not a whole number of heads of head_dim 8}}
  %y = llama.rope %x, %p {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x4x60xf32>, i32) -> tensor<1x4x60xf32>
  return
}

// -----

func.func @rope_theta(%x: tensor<1x4x64xf32>, %p: i32) {
  // expected-error @+1 {{theta must be positive, got -1}}
  %y = llama.rope %x, %p {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = -1.0 : f64} : (tensor<1x4x64xf32>, i32) -> tensor<1x4x64xf32>
  return
}

// -----

func.func @rope_head_dim(%x: tensor<1x4x64xf32>, %p: i32) {
  // expected-error @+1 {{head_dim must be positive, got 0}}
  %y = llama.rope %x, %p {head_dim = 0 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x4x64xf32>, i32) -> tensor<1x4x64xf32>
  return
}

// -----

func.func @rope_result(%x: tensor<1x4x64xf32>, %p: i32) {
  // expected-error @+1 {{result type 'tensor<1x4x64xbf16>' differs from input type 'tensor<1x4x64xf32>'}}
  %y = llama.rope %x, %p {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x4x64xf32>, i32) -> tensor<1x4x64xbf16>
  return
}

// -----

func.func @cache_overflow(%c: tensor<1x4x32xf32>, %v: tensor<1x8x32xf32>, %p: i32) {
  // expected-error @+1 {{writes 8 rows into a cache of capacity 4}}
  %r = llama.kv_cache_write %c, %v, %p : (tensor<1x4x32xf32>, tensor<1x8x32xf32>, i32) -> tensor<1x4x32xf32>
  return
}

// -----

func.func @cache_features(%c: tensor<1x16x32xf32>, %v: tensor<1x1x64xf32>, %p: i32) {
  // expected-error @+1 {{value features (64) must equal cache features (32)}}
  %r = llama.kv_cache_write %c, %v, %p : (tensor<1x16x32xf32>, tensor<1x1x64xf32>, i32) -> tensor<1x16x32xf32>
  return
}

// -----

func.func @cache_result(%c: tensor<1x16x32xf32>, %v: tensor<1x1x32xf32>, %p: i32) {
  // expected-error @+1 {{result type 'tensor<1x8x32xf32>' differs from cache type 'tensor<1x16x32xf32>'}}
  %r = llama.kv_cache_write %c, %v, %p : (tensor<1x16x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x8x32xf32>
  return
}

// -----

func.func @gqa_divisibility(%q: tensor<1x1x64xf32>, %k: tensor<1x16x40xf32>, %p: i32) {
  // expected-error @+1 {{num_heads (8) must be a multiple of num_kv_heads (5) so that each KV head serves a whole group of query heads}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 5 : i64} : (tensor<1x1x64xf32>, tensor<1x16x40xf32>, tensor<1x16x40xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @head_dims(%q: tensor<1x1x64xf32>, %k: tensor<1x16x64xf32>, %p: i32) {
  // expected-error @+1 {{query head dim 8 (64 / 8 heads) differs from key head dim 16 (64 / 4 KV heads)}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x64xf32>, tensor<1x16x64xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @query_heads(%q: tensor<1x1x60xf32>, %k: tensor<1x16x32xf32>, %p: i32) {
  // expected-error @+1 {{query features (60) are not divisible by num_heads (8)}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x60xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x1x60xf32>
  return
}

// -----

func.func @kv_heads(%q: tensor<1x1x64xf32>, %k: tensor<1x16x30xf32>, %p: i32) {
  // expected-error @+1 {{key features (30) are not divisible by num_kv_heads (4)}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x30xf32>, tensor<1x16x30xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @zero_heads(%q: tensor<1x1x64xf32>, %k: tensor<1x16x32xf32>, %p: i32) {
  // expected-error @+1 {{num_kv_heads must be positive, got 0}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 0 : i64} : (tensor<1x1x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @kv_mismatch(%q: tensor<1x1x64xf32>, %k: tensor<1x16x32xf32>, %v: tensor<1x8x32xf32>, %p: i32) {
  // expected-error @+1 {{key type 'tensor<1x16x32xf32>' differs from value type 'tensor<1x8x32xf32>'}}
  %o = llama.attention %q, %k, %v, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x32xf32>, tensor<1x8x32xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @dynamic_heads(%q: tensor<1x1x?xf32>, %k: tensor<1x16x32xf32>, %p: i32) {
  // expected-error @+1 {{query and key feature dimensions must be static: they fix the head layout}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x?xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x1x?xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<1x1x64xf32>, %k: tensor<1x16x32xf32>, %p: i32) {
  // expected-error @+1 {{scale must be positive}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 0.0 : f64} : (tensor<1x1x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<1x1x64xf32>, %k: tensor<1x16x32xf32>, %p: i32) {
  // expected-error @+1 {{result type 'tensor<1x2x64xf32>' differs from query type 'tensor<1x1x64xf32>'}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x2x64xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<1x1x64xf32>, %k: tensor<2x16x32xf32>, %p: i32) {
  // expected-error @+1 {{query batch (1) must equal key batch (2)}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<2x16x32xf32>, tensor<2x16x32xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @attention_dtype(%q: tensor<1x1x64xf32>, %k: tensor<1x16x32xf16>, %p: i32) {
  // expected-error @+1 {{query element type 'f32' differs from key element type 'f16'}}
  %o = llama.attention %q, %k, %k, %p {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x32xf16>, tensor<1x16x32xf16>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @xent_targets(%l: tensor<2x4x512xf32>, %t: tensor<2x5xi32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{targets dimension (5) must equal logits dimension (4)}}
  %r = llama.cross_entropy %l, %t, %w : (tensor<2x4x512xf32>, tensor<2x5xi32>, tensor<2x4xf32>) -> tensor<f32>
  return
}

// -----

func.func @xent_weights(%l: tensor<2x4x512xf32>, %t: tensor<2x4xi32>, %w: tensor<3x4xf32>) {
  // expected-error @+1 {{weights dimension (3) must equal logits dimension (2)}}
  %r = llama.cross_entropy %l, %t, %w : (tensor<2x4x512xf32>, tensor<2x4xi32>, tensor<3x4xf32>) -> tensor<f32>
  return
}

// -----

func.func @pack_columns(%a: tensor<64x64xf32>, %b: tensor<32x48xf32>) {
  // expected-error @+1 {{weight #1 has 48 columns, but weight #0 has 64}}
  %p = llama.pack_weights %a, %b : (tensor<64x64xf32>, tensor<32x48xf32>) -> tensor<96x64xf32>
  return
}

// -----

func.func @pack_rows(%a: tensor<64x64xf32>, %b: tensor<32x64xf32>) {
  // expected-error @+1 {{result has 100 rows, but the weights stack to 96}}
  %p = llama.pack_weights %a, %b : (tensor<64x64xf32>, tensor<32x64xf32>) -> tensor<100x64xf32>
  return
}

// -----

func.func @pack_empty(%g: tensor<64xf32>) {
  // expected-error @+1 {{needs at least one weight}}
  %p = "llama.pack_weights"(%g) {operandSegmentSizes = array<i32: 0, 1>} : (tensor<64xf32>) -> tensor<0x64xf32>
  return
}

// -----

func.func @pack_gain(%a: tensor<64x64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{gain size (32) must equal weight columns (64)}}
  %p = llama.pack_weights %a scaled_by %g : (tensor<64x64xf32>, tensor<32xf32>) -> tensor<64x64xf32>
  return
}

// -----

func.func @pack_dtype(%a: tensor<64x64xf32>, %b: tensor<32x64xf16>) {
  // expected-error @+1 {{weight element type 'f16' differs from first weight element type 'f32'}}
  %p = llama.pack_weights %a, %b : (tensor<64x64xf32>, tensor<32x64xf16>) -> tensor<96x64xf32>
  return
}

// -----

func.func @fused_segments_sum(%x: tensor<1x1x64xf32>, %w: tensor<128x64xf32>) {
  // expected-error @+1 {{segments sum to 96 rows, but the weight has 128}}
  %a, %b = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, segments = array<i64: 64, 32>} : (tensor<1x1x64xf32>, tensor<128x64xf32>) -> (tensor<1x1x64xf32>, tensor<1x1x32xf32>)
  return
}

// -----

func.func @fused_segment_positive(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{segment sizes must be positive, got 0}}
  %a, %b = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, segments = array<i64: 64, 0>} : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> (tensor<1x1x64xf32>, tensor<1x1x0xf32>)
  return
}

// -----

func.func @fused_no_segments(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{needs at least one segment}}
  llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, segments = array<i64>} : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> ()
  return
}

// -----

func.func @fused_result_count(%x: tensor<1x1x64xf32>, %w: tensor<96x64xf32>) {
  // expected-error @+1 {{with epilogue 'none' and 2 segment(s) must have 2 result(s), got 1}}
  %a = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, segments = array<i64: 64, 32>} : (tensor<1x1x64xf32>, tensor<96x64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_result_width(%x: tensor<1x1x64xf32>, %w: tensor<96x64xf32>) {
  // expected-error @+1 {{result feature dimension (64) must be 32}}
  %a, %b = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, segments = array<i64: 64, 32>} : (tensor<1x1x64xf32>, tensor<96x64xf32>) -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>)
  return
}

// -----

func.func @fused_gain_without_norm(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>, %g: tensor<64xf32>) {
  // expected-error @+1 {{has a gain but no norm_epsilon: a gain only makes sense with the RMSNorm prologue}}
  %a = llama.fused_matmul %x, %w gain %g {epilogue = #llama<epilogue none>, segments = array<i64: 64>} : (tensor<1x1x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_norm_eps(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{norm_epsilon must be in (0, 1), got 2}}
  %a = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, norm_epsilon = 2.0 : f64, segments = array<i64: 64>} : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_gain_size(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{gain size (32) must equal input features (64)}}
  %a = llama.fused_matmul %x, %w gain %g {epilogue = #llama<epilogue none>, norm_epsilon = 1.0e-05 : f64, segments = array<i64: 64>} : (tensor<1x1x64xf32>, tensor<64x64xf32>, tensor<32xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_swiglu_segments(%x: tensor<1x1x64xf32>, %w: tensor<96x64xf32>) {
  // expected-error @+1 {{with epilogue 'swiglu' needs two equal segments (gate and up)}}
  %a = llama.fused_matmul %x, %w {epilogue = #llama<epilogue swiglu>, segments = array<i64: 64, 32>} : (tensor<1x1x64xf32>, tensor<96x64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_residual_missing(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{takes a residual operand if and only if its epilogue is 'residual'}}
  %a = llama.fused_matmul %x, %w {epilogue = #llama<epilogue residual>, segments = array<i64: 64>} : (tensor<1x1x64xf32>, tensor<64x64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_residual_segments(%x: tensor<1x1x64xf32>, %w: tensor<128x64xf32>, %r: tensor<1x1x64xf32>) {
  // expected-error @+1 {{with epilogue 'residual' needs one segment}}
  %a = llama.fused_matmul %x, %w residual %r {epilogue = #llama<epilogue residual>, segments = array<i64: 64, 64>} : (tensor<1x1x64xf32>, tensor<128x64xf32>, tensor<1x1x64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_residual_type(%x: tensor<1x1x64xf32>, %w: tensor<64x64xf32>, %r: tensor<1x2x64xf32>) {
  // expected-error @+1 {{residual type 'tensor<1x2x64xf32>' differs from result type 'tensor<1x1x64xf32>'}}
  %a = llama.fused_matmul %x, %w residual %r {epilogue = #llama<epilogue residual>, segments = array<i64: 64>} : (tensor<1x1x64xf32>, tensor<64x64xf32>, tensor<1x2x64xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fused_contraction(%x: tensor<1x1x64xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{input features (64) must equal weight columns (32)}}
  %a = llama.fused_matmul %x, %w {epilogue = #llama<epilogue none>, segments = array<i64: 64>} : (tensor<1x1x64xf32>, tensor<64x32xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fra_one_cache(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %p: i32, %c: tensor<1x16x32xf32>) {
  // expected-error @+1 {{needs both a key cache and a value cache, or neither}}
  %o:2 = "llama.fused_rope_attention"(%q, %k, %k, %p, %c) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32, tensor<1x16x32xf32>) -> (tensor<1x1x64xf32>, tensor<1x16x32xf32>)
  return
}

// -----

func.func @fra_results(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %p: i32, %c: tensor<1x16x32xf32>) {
  // expected-error @+1 {{must have 3 result(s) with caches, got 1}}
  %o = llama.fused_rope_attention %q, %k, %k, %p cache(%c, %c) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32, tensor<1x16x32xf32>, tensor<1x16x32xf32>) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fra_head_dim(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %p: i32) {
  // expected-error @+1 {{head_dim (16) differs from the query head dim (8)}}
  %o = llama.fused_rope_attention %q, %k, %k, %p {head_dim = 16 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x1x64xf32>
  return
}

// -----

func.func @fra_key_seq(%q: tensor<1x2x64xf32>, %k: tensor<1x3x32xf32>, %p: i32) {
  // expected-error @+1 {{key sequence (3) must equal query sequence (2)}}
  %o = llama.fused_rope_attention %q, %k, %k, %p {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x2x64xf32>, tensor<1x3x32xf32>, tensor<1x3x32xf32>, i32) -> tensor<1x2x64xf32>
  return
}

// -----

func.func @fra_cache_features(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %p: i32, %c: tensor<1x16x16xf32>) {
  // expected-error @+1 {{cache features (16) must equal key features (32)}}
  %o:3 = llama.fused_rope_attention %q, %k, %k, %p cache(%c, %c) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32, tensor<1x16x16xf32>, tensor<1x16x16xf32>) -> (tensor<1x1x64xf32>, tensor<1x16x16xf32>, tensor<1x16x16xf32>)
  return
}

// -----

func.func @fra_cache_result(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %p: i32, %c: tensor<1x16x32xf32>) {
  // expected-error @+1 {{updated key cache type 'tensor<1x8x32xf32>' differs from 'tensor<1x16x32xf32>'}}
  %o:3 = llama.fused_rope_attention %q, %k, %k, %p cache(%c, %c) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32, tensor<1x16x32xf32>, tensor<1x16x32xf32>) -> (tensor<1x1x64xf32>, tensor<1x8x32xf32>, tensor<1x16x32xf32>)
  return
}
