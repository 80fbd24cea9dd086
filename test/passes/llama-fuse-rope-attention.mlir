// RUN: llama-opt %s -split-input-file --llama-fuse-rope-attention | FileCheck %s

// Decode: rope(q), rope(k) -> kv_cache_write x2 -> attention becomes one
// kernel whose extra results replace the updated caches (returned here).
// GQA (8 query heads, 4 KV heads) and the explicit scale are preserved.

// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[Q:.*]]: tensor<1x1x64xf32>, %[[K:.*]]: tensor<1x1x32xf32>, %[[V:.*]]: tensor<1x1x32xf32>, %[[POS:.*]]: i32, %[[KC:.*]]: tensor<1x512x32xf32>, %[[VC:.*]]: tensor<1x512x32xf32>)
// CHECK-NOT: llama.rope
// CHECK-NOT: llama.kv_cache_write
// CHECK: %[[O:.*]]:3 = llama.fused_rope_attention %[[Q]], %[[K]], %[[V]], %[[POS]] cache(%[[KC]], %[[VC]]) {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 2.500000e-01 : f64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64}
// CHECK-SAME: : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32, tensor<1x512x32xf32>, tensor<1x512x32xf32>) -> (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>)
// CHECK-NOT: llama.attention
// CHECK: return %[[O]]#0, %[[O]]#1, %[[O]]#2
func.func @decode(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32,
                  %kc: tensor<1x512x32xf32>, %vc: tensor<1x512x32xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>) {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %vc1 = llama.kv_cache_write %vc, %v, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %o = llama.attention %qr, %kc1, %vc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 0.25 : f64} : (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o, %kc1, %vc1 : tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>
}

// -----

// Training: no caches; the attention reads the rotated keys and the values
// of the same tokens. Half-style RoPE and theta 5e5 are carried over.

// CHECK-LABEL: func.func @training
// CHECK-SAME: (%[[Q:.*]]: tensor<4x16x64xbf16>, %[[K:.*]]: tensor<4x16x32xbf16>, %[[V:.*]]: tensor<4x16x32xbf16>, %[[POS:.*]]: i32)
// CHECK: %[[O:.*]] = llama.fused_rope_attention %[[Q]], %[[K]], %[[V]], %[[POS]] {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, style = #llama<rope_style half>, theta = 5.000000e+05 : f64} : (tensor<4x16x64xbf16>, tensor<4x16x32xbf16>, tensor<4x16x32xbf16>, i32) -> tensor<4x16x64xbf16>
// CHECK-NOT: llama.rope
// CHECK: return %[[O]]
func.func @training(%q: tensor<4x16x64xbf16>, %k: tensor<4x16x32xbf16>, %v: tensor<4x16x32xbf16>, %pos: i32) -> tensor<4x16x64xbf16> {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 5.0e+05 : f64} : (tensor<4x16x64xbf16>, i32) -> tensor<4x16x64xbf16>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 5.0e+05 : f64} : (tensor<4x16x32xbf16>, i32) -> tensor<4x16x32xbf16>
  %o = llama.attention %qr, %kr, %v, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<4x16x64xbf16>, tensor<4x16x32xbf16>, tensor<4x16x32xbf16>, i32) -> tensor<4x16x64xbf16>
  return %o : tensor<4x16x64xbf16>
}

// -----

// Llama-2-70B's GQA shape (64 query heads, 8 KV heads of 128), prefill with a
// dynamic sequence; the cache results are used after the attention.

// CHECK-LABEL: func.func @gqa_70b
// CHECK: %[[O:.*]]:3 = llama.fused_rope_attention {{.*}} cache({{.*}}) {head_dim = 128 : i64, num_heads = 64 : i64, num_kv_heads = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64}
// CHECK-SAME: -> (tensor<1x?x8192xf16>, tensor<1x4096x1024xf16>, tensor<1x4096x1024xf16>)
// CHECK: llama.add %[[O]]#1, %[[O]]#2
func.func @gqa_70b(%q: tensor<1x?x8192xf16>, %k: tensor<1x?x1024xf16>, %v: tensor<1x?x1024xf16>, %pos: i32,
                   %kc: tensor<1x4096x1024xf16>, %vc: tensor<1x4096x1024xf16>)
    -> (tensor<1x?x8192xf16>, tensor<1x4096x1024xf16>) {
  %qr = llama.rope %q, %pos {head_dim = 128 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x?x8192xf16>, i32) -> tensor<1x?x8192xf16>
  %kr = llama.rope %k, %pos {head_dim = 128 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x?x1024xf16>, i32) -> tensor<1x?x1024xf16>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x4096x1024xf16>, tensor<1x?x1024xf16>, i32) -> tensor<1x4096x1024xf16>
  %vc1 = llama.kv_cache_write %vc, %v, %pos : (tensor<1x4096x1024xf16>, tensor<1x?x1024xf16>, i32) -> tensor<1x4096x1024xf16>
  %o = llama.attention %qr, %kc1, %vc1, %pos {num_heads = 64 : i64, num_kv_heads = 8 : i64} : (tensor<1x?x8192xf16>, tensor<1x4096x1024xf16>, tensor<1x4096x1024xf16>, i32) -> tensor<1x?x8192xf16>
  %s = llama.add %kc1, %vc1 : tensor<1x4096x1024xf16>
  return %o, %s : tensor<1x?x8192xf16>, tensor<1x4096x1024xf16>
}

// -----

// Refused: q and k are rotated with different theta.

// CHECK-LABEL: func.func @different_theta
// CHECK-COUNT-2: llama.rope
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @different_theta(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32) -> tensor<1x1x64xf32> {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 5.0e+05 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %o = llama.attention %qr, %kr, %v, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o : tensor<1x1x64xf32>
}

// -----

// Refused: q and k are rotated with different pair layouts.

// CHECK-LABEL: func.func @different_style
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @different_style(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32) -> tensor<1x1x64xf32> {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style half>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %o = llama.attention %qr, %kr, %v, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o : tensor<1x1x64xf32>
}

// -----

// Refused: the key rope uses another position than the attention, with a
// cache and without.

// CHECK-LABEL: func.func @different_position
// CHECK: llama.attention
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @different_position(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32, %pos2: i32,
                              %kc: tensor<1x512x32xf32>, %vc: tensor<1x512x32xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>) {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos2 {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %vc1 = llama.kv_cache_write %vc, %v, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %o = llama.attention %qr, %kc1, %vc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>, i32) -> tensor<1x1x64xf32>
  %qr2 = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr2 = llama.rope %k, %pos2 {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %o2 = llama.attention %qr2, %kr2, %v, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o, %o2 : tensor<1x1x64xf32>, tensor<1x1x64xf32>
}

// -----

// Refused: the cache writes use another position than the attention.

// CHECK-LABEL: func.func @write_position
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @write_position(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32, %pos2: i32,
                          %kc: tensor<1x512x32xf32>, %vc: tensor<1x512x32xf32>) -> tensor<1x1x64xf32> {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %vc1 = llama.kv_cache_write %vc, %v, %pos2 : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %o = llama.attention %qr, %kc1, %vc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o : tensor<1x1x64xf32>
}

// -----

// Refused: the rotated query (and, separately, the rotated key) has another
// user, so it must be materialized anyway.

// CHECK-LABEL: func.func @rope_other_user
// CHECK: llama.attention
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @rope_other_user(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32)
    -> (tensor<1x1x64xf32>, tensor<1x1x64xf32>, tensor<1x1x64xf32>, tensor<1x1x32xf32>) {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %o = llama.attention %qr, %kr, %v, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x1x64xf32>
  %qr2 = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr2 = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %o2 = llama.attention %qr2, %kr2, %v, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x1x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o, %qr, %o2, %kr2 : tensor<1x1x64xf32>, tensor<1x1x64xf32>, tensor<1x1x64xf32>, tensor<1x1x32xf32>
}

// -----

// Refused: a cache write's result is used by an op placed before the
// attention, which the fused kernel (built at the attention) would not
// dominate.

// CHECK-LABEL: func.func @cache_used_before_attention
// CHECK: %[[KC1:.*]] = llama.kv_cache_write
// CHECK: llama.kv_cache_write
// CHECK: llama.add %[[KC1]], %[[KC1]]
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @cache_used_before_attention(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %v: tensor<1x1x32xf32>, %pos: i32,
                                       %kc: tensor<1x512x32xf32>, %vc: tensor<1x512x32xf32>)
    -> (tensor<1x1x64xf32>, tensor<1x512x32xf32>) {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %vc1 = llama.kv_cache_write %vc, %v, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %early = llama.add %kc1, %kc1 : tensor<1x512x32xf32>
  %o = llama.attention %qr, %kc1, %vc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o, %early : tensor<1x1x64xf32>, tensor<1x512x32xf32>
}

// -----

// Refused: only the keys go through a cache write; the values do not.

// CHECK-LABEL: func.func @one_cache_write
// CHECK: llama.attention
// CHECK-NOT: llama.fused_rope_attention
func.func @one_cache_write(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %pos: i32,
                           %kc: tensor<1x512x32xf32>, %vc: tensor<1x512x32xf32>) -> tensor<1x1x64xf32> {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x512x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x512x32xf32>
  %o = llama.attention %qr, %kc1, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x512x32xf32>, tensor<1x512x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o : tensor<1x1x64xf32>
}

// -----

// Regression: one cache write feeding both the keys and the values of an
// attention is verifier-valid, but the fused kernel cannot express it (it
// would store the rotated keys as the values). It must be left alone, and
// the pass must not erase that single write twice.
// CHECK-LABEL: func.func @same_write_for_keys_and_values
// CHECK: %[[KC1:.*]] = llama.kv_cache_write
// CHECK: llama.attention %{{.*}}, %[[KC1]], %[[KC1]]
// CHECK-NOT: llama.fused_rope_attention
func.func @same_write_for_keys_and_values(%q: tensor<1x1x64xf32>, %k: tensor<1x1x32xf32>, %pos: i32,
                                          %kc: tensor<1x16x32xf32>) -> tensor<1x1x64xf32> {
  %qr = llama.rope %q, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x64xf32>, i32) -> tensor<1x1x64xf32>
  %kr = llama.rope %k, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x1x32xf32>, i32) -> tensor<1x1x32xf32>
  %kc1 = llama.kv_cache_write %kc, %kr, %pos : (tensor<1x16x32xf32>, tensor<1x1x32xf32>, i32) -> tensor<1x16x32xf32>
  %o = llama.attention %qr, %kc1, %kc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64} : (tensor<1x1x64xf32>, tensor<1x16x32xf32>, tensor<1x16x32xf32>, i32) -> tensor<1x1x64xf32>
  return %o : tensor<1x1x64xf32>
}
