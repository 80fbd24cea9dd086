//===- LlamaOps.td - Operations of the llama dialect -------*- tablegen -*-===//

#ifndef LLAMAC_IR_LLAMAOPS_TD
#define LLAMAC_IR_LLAMAOPS_TD

include "ir/LlamaDialect.td"
include "ir/LlamaAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def Llama_Tensor : RankedTensorOf<[F32, F16, BF16]>;
def Llama_TokenTensor : RankedTensorOf<[I32]>;
def Llama_Loss : 0DTensorOf<[F32]>;

//===----------------------------------------------------------------------===//
// The decoder's building blocks
//===----------------------------------------------------------------------===//

def Llama_EmbeddingOp : Llama_Op<"embedding", [Pure]> {
  let summary = "looks up one row of the embedding table per token";
  let description = [{
    `result[b, s, :] = table[tokens[b, s], :]`. The table is `[vocab, dim]`,
    the tokens `[B, S]` of `i32`, the result `[B, S, dim]` of the table's
    element type. A token outside `[0, vocab)` is a runtime error.

    ```mlir
    %x = llama.embedding %table, %tokens
        : (tensor<32000x4096xbf16>, tensor<1x?xi32>) -> tensor<1x?x4096xbf16>
    ```
  }];
  let arguments = (ins Llama_Tensor:$table, Llama_TokenTensor:$tokens);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $table `,` $tokens attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_RMSNormOp : Llama_Op<"rmsnorm", [Pure]> {
  let summary = "root-mean-square normalization over the feature dimension";
  let description = [{
    For every row `x = input[b, s, :]` of `n` features:
    `result[b, s, i] = x[i] / sqrt(mean(x²) + epsilon) * gain[i]`,
    computed in `f32` and rounded to the element type once.

    ```mlir
    %y = llama.rmsnorm %x, %g {epsilon = 1.0e-05 : f64}
        : (tensor<1x?x4096xf32>, tensor<4096xf32>) -> tensor<1x?x4096xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$gain,
                       F64Attr:$epsilon);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $gain attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_MatmulOp : Llama_Op<"matmul", [Pure]> {
  let summary = "multiplies activations by a weight matrix stored [out][in]";
  let description = [{
    `result[b, s, o] = sum_k input[b, s, k] * weight[o, k]`, that is
    `x · Wᵀ` with `W` laid out as Meta's checkpoints and llama2.c store it.
    Accumulates in `f32`.

    ```mlir
    %q = llama.matmul %xn, %wq
        : (tensor<1x?x4096xf32>, tensor<4096x4096xf32>) -> tensor<1x?x4096xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$weight);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_RoPEOp : Llama_Op<"rope", [Pure]> {
  let summary = "rotary position embedding of every head";
  let description = [{
    The features of `input[b, s, :]` are `n / head_dim` heads of `head_dim`.
    Token `s` sits at absolute position `p = position + s`. Pair `i` of a
    head (`0 <= i < head_dim / 2`) is rotated by the angle
    `p * theta^(-2i / head_dim)`. With `style = adjacent` (Meta, llama2.c)
    the pair is elements `(2i, 2i + 1)` of the head; with `style = half`
    (Hugging Face) it is `(i, i + head_dim / 2)`. A rotation of `(a, b)` by
    `t` gives `(a cos t - b sin t, a sin t + b cos t)`.

    ```mlir
    %qr = llama.rope %q, %pos {head_dim = 128 : i64, style = #llama<rope_style adjacent>,
                               theta = 1.000000e+04 : f64}
        : (tensor<1x?x4096xf32>, i32) -> tensor<1x?x4096xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, I32:$position, I64Attr:$head_dim,
                       F64Attr:$theta, Llama_RopeStyleAttr:$style);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $position attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_KVCacheWriteOp : Llama_Op<"kv_cache_write", [Pure]> {
  let summary = "writes the keys or values of new tokens into a KV cache";
  let description = [{
    The cache is `[B, max_seq, kv_dim]`, the new rows `[B, S, kv_dim]`.
    The result is the cache with rows `[position, position + S)` replaced by
    `value`; every other row is unchanged. Writing past `max_seq` is a runtime
    error. Value semantics let the bufferizer update the cache in place.

    ```mlir
    %kc1 = llama.kv_cache_write %kc0, %k, %pos
        : (tensor<1x4096x1024xf32>, tensor<1x1x1024xf32>, i32) -> tensor<1x4096x1024xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$cache, Llama_Tensor:$value, I32:$position);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $cache `,` $value `,` $position attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_AttentionOp : Llama_Op<"attention", [Pure]> {
  let summary = "causal multi-head attention with grouped-query broadcast";
  let description = [{
    `query` is `[B, S, num_heads * d]`; `key` and `value` are
    `[B, L, num_kv_heads * d]` (a KV cache, or the keys of the same `S`
    tokens in training). Query token `s` sits at position `position + s` and
    attends to key rows `j <= position + s`. Query head `h` reads KV head
    `h / (num_heads / num_kv_heads)`: with `num_kv_heads = num_heads` this is
    multi-head attention; with fewer KV heads (grouped-query attention, as in
    Llama-2-70B) each KV head serves a group of consecutive query heads, and
    no repeated K/V is ever materialized. Scores are scaled by `scale`
    (default `1 / sqrt(d)`), softmaxed in `f32`, and the result is
    `[B, S, num_heads * d]`.

    ```mlir
    %o = llama.attention %qr, %kc, %vc, %pos {num_heads = 64 : i64, num_kv_heads = 8 : i64}
        : (tensor<1x1x8192xf32>, tensor<1x4096x1024xf32>, tensor<1x4096x1024xf32>, i32)
        -> tensor<1x1x8192xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$query, Llama_Tensor:$key,
                       Llama_Tensor:$value, I32:$position,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $position attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_SiLUOp : Llama_Op<"silu", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise x * sigmoid(x)";
  let description = [{
    ```mlir
    %a = llama.silu %gate : tensor<1x?x11008xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$input);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Llama_MulOp : Llama_Op<"mul", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise product of two tensors of one shape";
  let description = [{
    ```mlir
    %h = llama.mul %a, %up : tensor<1x?x11008xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$lhs, Llama_Tensor:$rhs);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Llama_AddOp : Llama_Op<"add", [Pure, SameOperandsAndResultType]> {
  let summary = "elementwise sum of two tensors of one shape (the residual add)";
  let description = [{
    ```mlir
    %x1 = llama.add %x0, %o : tensor<1x?x4096xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$lhs, Llama_Tensor:$rhs);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Llama_CrossEntropyOp : Llama_Op<"cross_entropy", [Pure]> {
  let summary = "weighted mean next-token cross-entropy";
  let description = [{
    `logits` is `[B, S, vocab]`, `targets` `[B, S]` of `i32` and `weights`
    `[B, S]` of `f32`. The result is the scalar
    `sum(w[b,s] * -log softmax(logits[b,s])[targets[b,s]]) / sum(w)`, or 0
    when every weight is 0. Weights of 0 mask tokens out of the loss: prompt
    tokens in supervised fine-tuning, or earlier turns under Ghost Attention.

    ```mlir
    %loss = llama.cross_entropy %logits, %targets, %weights
        : (tensor<4x256x512xf32>, tensor<4x256xi32>, tensor<4x256xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$logits, Llama_TokenTensor:$targets,
                       RankedTensorOf<[F32]>:$weights);
  let results = (outs Llama_Loss:$result);
  let assemblyFormat = [{
    $logits `,` $targets `,` $weights attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused kernels, formed by the fusion passes
//===----------------------------------------------------------------------===//

def Llama_PackWeightsOp : Llama_Op<"pack_weights",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "stacks weight matrices by rows, optionally folding a norm gain";
  let description = [{
    Depends only on weights, so the compiler evaluates it once when a
    checkpoint is bound, never per token. The result stacks the rows of
    `weights` in order (`[Wq; Wk; Wv]`, `[W1; W3]`); all must have the same
    number of columns. With `scaled_by %g` every column `c` is multiplied by
    `g[c]`, which folds an RMSNorm gain into the matrix:
    `rmsnorm(x, g) · Wᵀ = diag(1/rms(x)) · x · (W · diag(g))ᵀ`.

    ```mlir
    %wqkv = llama.pack_weights %wq, %wk, %wv scaled_by %g
        : (tensor<4096x4096xf32>, tensor<1024x4096xf32>, tensor<1024x4096xf32>,
           tensor<4096xf32>) -> tensor<6144x4096xf32>
    ```
  }];
  let arguments = (ins Variadic<Llama_Tensor>:$weights,
                       Optional<Llama_Tensor>:$gain);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $weights (`scaled_by` $gain^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_FusedMatmulOp : Llama_Op<"fused_matmul",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "one GEMM kernel: optional RMSNorm prologue, packed weights, epilogue";
  let description = [{
    Computes, for every row `x = input[b, s, :]`:
    1. the prologue: when `norm_epsilon` is set, `x' = x / sqrt(mean(x²) +
       norm_epsilon)`, times `gain` when a gain operand is present (training
       keeps the gain separate; inference folds it into `weight` with
       `llama.pack_weights ... scaled_by`); otherwise `x' = x`;
    2. `y = x' · weightᵀ`, where `weight` stacks matrices whose row counts
       are `segments`;
    3. the epilogue: `none` returns one result per segment (`y` split by
       columns); `swiglu` needs two equal segments `[a; b]` and returns
       `silu(y_a) * y_b`; `residual` needs one segment and returns
       `residual + y`.

    ```mlir
    %q, %k, %v = llama.fused_matmul %x, %wqkv {epilogue = #llama<epilogue none>,
        norm_epsilon = 1.0e-05 : f64, segments = array<i64: 4096, 1024, 1024>}
        : (tensor<1x1x4096xf32>, tensor<6144x4096xf32>)
        -> (tensor<1x1x4096xf32>, tensor<1x1x1024xf32>, tensor<1x1x1024xf32>)
    %h = llama.fused_matmul %x, %w13 {epilogue = #llama<epilogue swiglu>,
        norm_epsilon = 1.0e-05 : f64, segments = array<i64: 11008, 11008>}
        : (tensor<1x1x4096xf32>, tensor<22016x4096xf32>) -> tensor<1x1x11008xf32>
    %x2 = llama.fused_matmul %h, %w2 residual %x1 {epilogue = #llama<epilogue residual>,
        segments = array<i64: 4096>}
        : (tensor<1x1x11008xf32>, tensor<4096x11008xf32>, tensor<1x1x4096xf32>)
        -> tensor<1x1x4096xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$weight,
                       Optional<Llama_Tensor>:$gain,
                       Optional<Llama_Tensor>:$residual,
                       OptionalAttr<F64Attr>:$norm_epsilon,
                       DenseI64ArrayAttr:$segments,
                       Llama_EpilogueAttr:$epilogue);
  let results = (outs Variadic<Llama_Tensor>:$results);
  let assemblyFormat = [{
    $input `,` $weight (`gain` $gain^)? (`residual` $residual^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_FusedRoPEAttentionOp : Llama_Op<"fused_rope_attention",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "RoPE on Q and K, the KV-cache write and attention in one kernel";
  let description = [{
    Equivalent to `llama.rope` (with `head_dim`, `theta`, `style`) on `query`
    and `key`, then, when caches are given, `llama.kv_cache_write` of the
    rotated keys and of `value` at `position`, then `llama.attention` over
    the updated caches (or, without caches, over the rotated `key` and
    `value` themselves). Results: the attention output, then the updated key
    and value caches when caches are given. The GQA broadcast is internal: a
    group of `num_heads / num_kv_heads` query heads reads each K/V row once.

    ```mlir
    %o, %kc1, %vc1 = llama.fused_rope_attention %q, %k, %v, %pos cache(%kc0, %vc0)
        {head_dim = 128 : i64, num_heads = 64 : i64, num_kv_heads = 8 : i64,
         style = #llama<rope_style adjacent>, theta = 1.000000e+04 : f64}
        : (tensor<1x1x8192xf32>, tensor<1x1x1024xf32>, tensor<1x1x1024xf32>, i32,
           tensor<1x4096x1024xf32>, tensor<1x4096x1024xf32>)
        -> (tensor<1x1x8192xf32>, tensor<1x4096x1024xf32>, tensor<1x4096x1024xf32>)
    ```
  }];
  let arguments = (ins Llama_Tensor:$query, Llama_Tensor:$key,
                       Llama_Tensor:$value, I32:$position,
                       Optional<Llama_Tensor>:$key_cache,
                       Optional<Llama_Tensor>:$value_cache,
                       I64Attr:$head_dim, I64Attr:$num_heads,
                       I64Attr:$num_kv_heads, F64Attr:$theta,
                       Llama_RopeStyleAttr:$style,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Variadic<Llama_Tensor>:$results);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $position
    (`cache` `(` $key_cache^ `,` $value_cache `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // LLAMAC_IR_LLAMAOPS_TD
