// RUN: llama-opt %s -split-input-file --llama-autodiff -verify-diagnostics | FileCheck %s

// A one-layer Llama with a classifier tied to the embedding: the reverse
// sweep, the SwiGLU backward, gradients of multi-use values summed with
// llama.add, and one gradient per weight in argument order.

// CHECK-LABEL: func.func @forward_loss
// CHECK-NOT:     _grad
// CHECK:         return %{{.*}} : tensor<f32>

// CHECK-LABEL: func.func @loss_and_grads
// CHECK-SAME:    (%[[TOK:.*]]: tensor<1x4xi32>, %[[TGT:.*]]: tensor<1x4xi32>, %[[LW:.*]]: tensor<1x4xf32>, %[[EMB:.*]]: tensor<16x8xf32> {llama.weight = "tok_embeddings.weight"}
// CHECK-SAME:    -> (tensor<f32>, tensor<16x8xf32> {llama.grad_of = "tok_embeddings.weight"}, tensor<8xf32> {llama.grad_of = "layers.0.attention_norm.weight"}, tensor<8x8xf32> {llama.grad_of = "layers.0.attention.wq.weight"}
// CHECK-SAME:    tensor<8xf32> {llama.grad_of = "norm.weight"})
// CHECK-SAME:    attributes {llama.entry = "loss_and_grads"}
// CHECK:         %[[ATTN:.*]] = llama.attention
// CHECK:         %[[LOGITS:.*]] = llama.matmul %{{.*}}, %[[EMB]]
// CHECK:         %[[LOSS:.*]] = llama.cross_entropy %[[LOGITS]], %[[TGT]], %[[LW]]
// CHECK:         %[[DLOGITS:.*]] = llama.cross_entropy_grad %[[LOGITS]], %[[TGT]], %[[LW]]
// CHECK:         %{{.*}}, %[[DHEAD:.*]] = llama.matmul_grad %{{.*}}, %[[EMB]], %[[DLOGITS]]
// CHECK:         %{{.*}}, %[[DNORM:.*]] = llama.rmsnorm_grad
// CHECK:         %{{.*}}, %[[DW2:.*]] = llama.matmul_grad
// CHECK:         %[[DGATE:.*]], %[[DUP:.*]] = llama.swiglu_grad
// CHECK-NOT:     llama.silu_grad
// CHECK:         llama.matmul_grad %{{.*}}, %{{.*}}, %[[DUP]]
// CHECK:         llama.matmul_grad %{{.*}}, %{{.*}}, %[[DGATE]]
// CHECK:         llama.add
// CHECK:         %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = llama.attention_grad
// CHECK-SAME:      {num_heads = 2 : i64, num_kv_heads = 1 : i64}
// CHECK:         llama.rope_grad %[[DK]]
// CHECK:         llama.rope_grad %[[DQ]]
// CHECK:         %[[DX0:.*]], %[[DAN:.*]] = llama.rmsnorm_grad
// CHECK:         %[[DEMB:.*]] = llama.embedding_grad %[[TOK]], %{{.*}} : (tensor<1x4xi32>, tensor<1x4x8xf32>) -> tensor<16x8xf32>
// CHECK:         %[[DTABLE:.*]] = llama.add %[[DHEAD]], %[[DEMB]] : tensor<16x8xf32>
// CHECK:         return %[[LOSS]], %[[DTABLE]], %[[DAN]], {{.*}}, %[[DW2]], {{.*}}, %[[DNORM]] :
func.func @forward_loss(%tokens: tensor<1x4xi32>, %targets: tensor<1x4xi32>, %lw: tensor<1x4xf32>,
    %emb: tensor<16x8xf32> {llama.weight = "tok_embeddings.weight"},
    %an: tensor<8xf32> {llama.weight = "layers.0.attention_norm.weight"},
    %wq: tensor<8x8xf32> {llama.weight = "layers.0.attention.wq.weight"},
    %wk: tensor<4x8xf32> {llama.weight = "layers.0.attention.wk.weight"},
    %wv: tensor<4x8xf32> {llama.weight = "layers.0.attention.wv.weight"},
    %wo: tensor<8x8xf32> {llama.weight = "layers.0.attention.wo.weight"},
    %fn: tensor<8xf32> {llama.weight = "layers.0.ffn_norm.weight"},
    %w1: tensor<12x8xf32> {llama.weight = "layers.0.feed_forward.w1.weight"},
    %w2: tensor<8x12xf32> {llama.weight = "layers.0.feed_forward.w2.weight"},
    %w3: tensor<12x8xf32> {llama.weight = "layers.0.feed_forward.w3.weight"},
    %norm: tensor<8xf32> {llama.weight = "norm.weight"})
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  %c0 = arith.constant 0 : i32
  %x0 = llama.embedding %emb, %tokens : (tensor<16x8xf32>, tensor<1x4xi32>) -> tensor<1x4x8xf32>
  %xn = llama.rmsnorm %x0, %an {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %q = llama.matmul %xn, %wq : (tensor<1x4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x8xf32>
  %k = llama.matmul %xn, %wk : (tensor<1x4x8xf32>, tensor<4x8xf32>) -> tensor<1x4x4xf32>
  %v = llama.matmul %xn, %wv : (tensor<1x4x8xf32>, tensor<4x8xf32>) -> tensor<1x4x4xf32>
  %qr = llama.rope %q, %c0 {head_dim = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x4x8xf32>, i32) -> tensor<1x4x8xf32>
  %kr = llama.rope %k, %c0 {head_dim = 4 : i64, style = #llama<rope_style adjacent>, theta = 1.0e+04 : f64} : (tensor<1x4x4xf32>, i32) -> tensor<1x4x4xf32>
  %o = llama.attention %qr, %kr, %v, %c0 {num_heads = 2 : i64, num_kv_heads = 1 : i64} : (tensor<1x4x8xf32>, tensor<1x4x4xf32>, tensor<1x4x4xf32>, i32) -> tensor<1x4x8xf32>
  %ao = llama.matmul %o, %wo : (tensor<1x4x8xf32>, tensor<8x8xf32>) -> tensor<1x4x8xf32>
  %x1 = llama.add %x0, %ao : tensor<1x4x8xf32>
  %hn = llama.rmsnorm %x1, %fn {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %gate = llama.matmul %hn, %w1 : (tensor<1x4x8xf32>, tensor<12x8xf32>) -> tensor<1x4x12xf32>
  %up = llama.matmul %hn, %w3 : (tensor<1x4x8xf32>, tensor<12x8xf32>) -> tensor<1x4x12xf32>
  %a = llama.silu %gate : tensor<1x4x12xf32>
  %h = llama.mul %a, %up : tensor<1x4x12xf32>
  %down = llama.matmul %h, %w2 : (tensor<1x4x12xf32>, tensor<8x12xf32>) -> tensor<1x4x8xf32>
  %x2 = llama.add %x1, %down : tensor<1x4x8xf32>
  %fnorm = llama.rmsnorm %x2, %norm {epsilon = 1.0e-05 : f64} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %logits = llama.matmul %fnorm, %emb : (tensor<1x4x8xf32>, tensor<16x8xf32>) -> tensor<1x4x16xf32>
  %loss = llama.cross_entropy %logits, %targets, %lw : (tensor<1x4x16xf32>, tensor<1x4xi32>, tensor<1x4xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// A silu with another user is not a SwiGLU: silu_grad, then the mul's
// product rule. A weight the loss does not read gets zeros.

// CHECK-LABEL: func.func @loss_and_grads
// CHECK:         %[[A:.*]] = llama.silu %[[X:.*]] :
// CHECK:         %[[H:.*]] = llama.mul %[[A]], %[[A]]
// CHECK:         %[[DL:.*]] = llama.cross_entropy_grad
// CHECK:         %[[DA1:.*]] = llama.mul %[[DL]], %[[A]]
// CHECK:         %[[DA2:.*]] = llama.mul %[[DL]], %[[A]]
// CHECK:         %[[DA:.*]] = llama.add %[[DA1]], %[[DA2]]
// CHECK:         %[[DX:.*]] = llama.silu_grad %[[X]], %[[DA]]
// CHECK:         %[[DT:.*]] = llama.embedding_grad %{{.*}}, %[[DX]]
// CHECK:         %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK:         return %{{.*}}, %[[DT]], %[[ZERO]] :
func.func @forward_loss(%tokens: tensor<1x2xi32>, %targets: tensor<1x2xi32>, %lw: tensor<1x2xf32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"},
    %unused: tensor<4xf32> {llama.weight = "unused.weight"})
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  %x = llama.embedding %emb, %tokens : (tensor<4x4xf32>, tensor<1x2xi32>) -> tensor<1x2x4xf32>
  %a = llama.silu %x : tensor<1x2x4xf32>
  %h = llama.mul %a, %a : tensor<1x2x4xf32>
  %loss = llama.cross_entropy %h, %targets, %lw : (tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Fused ops have no gradient rule: autodiff runs before fusion.

func.func @forward_loss(%tokens: tensor<1x2xi32>, %targets: tensor<1x2xi32>, %lw: tensor<1x2xf32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"})
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  %x = llama.embedding %emb, %tokens : (tensor<4x4xf32>, tensor<1x2xi32>) -> tensor<1x2x4xf32>
  // expected-error @+1 {{'llama.fused_matmul' op has no gradient rule in llama-autodiff (it differentiates the unfused graph; run it before fusion)}}
  %l = llama.fused_matmul %x, %emb {epilogue = #llama<epilogue none>, segments = array<i64: 4>} : (tensor<1x2x4xf32>, tensor<4x4xf32>) -> tensor<1x2x4xf32>
  %loss = llama.cross_entropy %l, %targets, %lw : (tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// Attention over a KV cache longer than the queries is not training.

func.func @forward_loss(%tokens: tensor<1x2xi32>, %targets: tensor<1x2xi32>, %lw: tensor<1x2xf32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"}, %kc: tensor<1x8x4xf32>)
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  %c0 = arith.constant 0 : i32
  %x = llama.embedding %emb, %tokens : (tensor<4x4xf32>, tensor<1x2xi32>) -> tensor<1x2x4xf32>
  // expected-error @+1 {{'llama.attention' op cannot be differentiated: llama-autodiff needs as many keys as queries (training attends without a KV cache)}}
  %o = llama.attention %x, %kc, %kc, %c0 {num_heads = 1 : i64, num_kv_heads = 1 : i64} : (tensor<1x2x4xf32>, tensor<1x8x4xf32>, tensor<1x8x4xf32>, i32) -> tensor<1x2x4xf32>
  %loss = llama.cross_entropy %o, %targets, %lw : (tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}

// -----

// The loss must be a llama.cross_entropy used only by the return.

func.func @forward_loss(%tokens: tensor<1x2xi32>, %loss: tensor<f32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"})
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  // expected-error @+1 {{'func.return' op of a forward_loss entry must return a llama.cross_entropy used only by the return}}
  return %loss : tensor<f32>
}

// -----

// A forward_loss returns only its loss.

func.func @forward_loss(%tokens: tensor<1x2xi32>, %targets: tensor<1x2xi32>, %lw: tensor<1x2xf32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"})
    -> (tensor<f32>, tensor<1x2x4xf32>) attributes {llama.entry = "forward_loss"} {
  %x = llama.embedding %emb, %tokens : (tensor<4x4xf32>, tensor<1x2xi32>) -> tensor<1x2x4xf32>
  %loss = llama.cross_entropy %x, %targets, %lw : (tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32>
  // expected-error @+1 {{'func.return' op of a forward_loss entry must return only the loss}}
  return %loss, %x : tensor<f32>, tensor<1x2x4xf32>
}

// -----

// A module that already has the entry it would create.

// expected-error @+1 {{'func.func' op cannot be differentiated: the module already has @loss_and_grads}}
func.func @forward_loss(%tokens: tensor<1x2xi32>, %targets: tensor<1x2xi32>, %lw: tensor<1x2xf32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"})
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  %x = llama.embedding %emb, %tokens : (tensor<4x4xf32>, tensor<1x2xi32>) -> tensor<1x2x4xf32>
  %loss = llama.cross_entropy %x, %targets, %lw : (tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}
func.func @loss_and_grads() {
  return
}

// -----

// A declaration has nothing to differentiate.

// expected-error @+1 {{'func.func' op cannot be differentiated: llama-autodiff needs a body of one block}}
func.func private @forward_loss(tensor<1x2xi32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32> attributes {llama.entry = "forward_loss"}

// -----

// An unused weight of dynamic shape has no zero gradient to build.

// expected-error @+1 {{'func.func' op cannot be differentiated: weight 'w' does not affect the loss and has a dynamic shape}}
func.func @forward_loss(%tokens: tensor<1x2xi32>, %targets: tensor<1x2xi32>, %lw: tensor<1x2xf32>,
    %emb: tensor<4x4xf32> {llama.weight = "tok_embeddings.weight"}, %w: tensor<?xf32> {llama.weight = "w"})
    -> tensor<f32> attributes {llama.entry = "forward_loss"} {
  %x = llama.embedding %emb, %tokens : (tensor<4x4xf32>, tensor<1x2xi32>) -> tensor<1x2x4xf32>
  %loss = llama.cross_entropy %x, %targets, %lw : (tensor<1x2x4xf32>, tensor<1x2xi32>, tensor<1x2xf32>) -> tensor<f32>
  return %loss : tensor<f32>
}
