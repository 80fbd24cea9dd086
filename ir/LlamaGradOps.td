//===- LlamaGradOps.td - Backward ops of the llama dialect -*- tablegen -*-===//
//
// One backward op per differentiable forward op (and one for the fused
// SwiGLU), written by llama-autodiff. They follow the forward ops' tensor
// conventions, take the upstream gradient `dy` (the gradient of the loss with
// respect to the forward result) and return the gradients of the forward
// operands, accumulated in f32 and rounded to the element type once.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_IR_LLAMAGRADOPS_TD
#define LLAMAC_IR_LLAMAGRADOPS_TD

include "ir/LlamaOps.td"

def Llama_EmbeddingGradOp : Llama_Op<"embedding_grad", [Pure]> {
  let summary = "gradient of llama.embedding with respect to its table";
  let description = [{
    Scatter-adds the rows of `dy` into a zero table:
    `result[v, :] = sum over (b, s) with tokens[b, s] == v of dy[b, s, :]`.
    `tokens` is `[B, S]` of `i32`, `dy` `[B, S, dim]`, and the result
    `[vocab, dim]` of `dy`'s element type; the vocabulary size comes from the
    result type. Tokens outside `[0, vocab)` contribute nothing (the forward
    kernel reads them as zero rows).

    ```mlir
    %dtable = llama.embedding_grad %tokens, %dy
        : (tensor<1x8xi32>, tensor<1x8x64xf32>) -> tensor<512x64xf32>
    ```
  }];
  let arguments = (ins Llama_TokenTensor:$tokens, Llama_Tensor:$dy);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $tokens `,` $dy attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_RMSNormGradOp : Llama_Op<"rmsnorm_grad", [Pure]> {
  let summary = "gradients of llama.rmsnorm with respect to input and gain";
  let description = [{
    For every row `x` of `n` features with `r = 1 / sqrt(mean(x²) + epsilon)`
    and upstream row `dy`:
    `dx[i] = r * (g[i] * dy[i] - x[i] * r² * mean_j(g[j] * dy[j] * x[j]))`,
    and `dgain[i] = sum over every row of dy[i] * x[i] * r`.
    `dx` has the type of `input`, `dgain` the type of `gain`.

    ```mlir
    %dx, %dg = llama.rmsnorm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64}
        : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<1x8x64xf32>)
        -> (tensor<1x8x64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$gain,
                       Llama_Tensor:$dy, F64Attr:$epsilon);
  let results = (outs Llama_Tensor:$dinput, Llama_Tensor:$dgain);
  let assemblyFormat = [{
    $input `,` $gain `,` $dy attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_MatmulGradOp : Llama_Op<"matmul_grad", [Pure]> {
  let summary = "gradients of llama.matmul with respect to input and weight";
  let description = [{
    For `y = x · Wᵀ` with `x` `[B, S, K]`, `W` `[N, K]` and `dy` `[B, S, N]`:
    `dx[b, s, k] = sum_n dy[b, s, n] * W[n, k]` (that is `dy · W`), and
    `dW[n, k] = sum over all rows (b, s) of dy[b, s, n] * x[b, s, k]`.
    `dx` has the type of `input`, `dW` the type of `weight`.

    ```mlir
    %dx, %dw = llama.matmul_grad %x, %w, %dy
        : (tensor<1x8x64xf32>, tensor<32x64xf32>, tensor<1x8x32xf32>)
        -> (tensor<1x8x64xf32>, tensor<32x64xf32>)
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$weight,
                       Llama_Tensor:$dy);
  let results = (outs Llama_Tensor:$dinput, Llama_Tensor:$dweight);
  let assemblyFormat = [{
    $input `,` $weight `,` $dy attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_RoPEGradOp : Llama_Op<"rope_grad", [Pure]> {
  let summary = "gradient of llama.rope: the inverse rotation";
  let description = [{
    RoPE is a rotation, so its gradient is the rotation of `dy` by the
    negated angle: pair `(a, b)` of head pair `i` of token `s` (the same
    pairs as `llama.rope` with the same `style`) becomes
    `(a cos t + b sin t, -a sin t + b cos t)` with
    `t = (position + s) * theta^(-2i / head_dim)`.

    ```mlir
    %dq = llama.rope_grad %dqr, %pos {head_dim = 8 : i64, style = #llama<rope_style adjacent>,
                                      theta = 1.000000e+04 : f64}
        : (tensor<1x8x64xf32>, i32) -> tensor<1x8x64xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$dy, I32:$position, I64Attr:$head_dim,
                       F64Attr:$theta, Llama_RopeStyleAttr:$style);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $dy `,` $position attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_AttentionGradOp : Llama_Op<"attention_grad", [Pure]> {
  let summary = "gradients of causal GQA llama.attention, by recomputation";
  let description = [{
    Recomputes the probabilities `P = softmax(scale · q kᵀ)` of
    `llama.attention` (same causal mask, positions, GQA mapping and default
    `scale = 1 / sqrt(d)`) from `query` and `key`, then, per query head `h`
    reading KV head `g = h / (num_heads / num_kv_heads)`, with upstream
    gradient `do = dout[b, s, h]`:
    `dP[j] = do · v[j]`, `dS[j] = P[j] * (dP[j] - sum_i P[i] dP[i])`,
    `dq[s, h] = scale * sum_j dS[j] k[j, g]`, and, summed over every query
    head of the group and every query token,
    `dk[j, g] += scale * dS[j] q[s, h]` and `dv[j, g] += P[j] do`.
    Key and value have the query's sequence length (training: no KV cache).
    Results have the types of `query`, `key` and `value`.

    ```mlir
    %dq, %dk, %dv = llama.attention_grad %q, %k, %v, %pos, %do
        {num_heads = 8 : i64, num_kv_heads = 4 : i64}
        : (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>, i32,
           tensor<1x8x64xf32>)
        -> (tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x32xf32>)
    ```
  }];
  let arguments = (ins Llama_Tensor:$query, Llama_Tensor:$key,
                       Llama_Tensor:$value, I32:$position, Llama_Tensor:$dout,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Llama_Tensor:$dquery, Llama_Tensor:$dkey,
                      Llama_Tensor:$dvalue);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $position `,` $dout attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_SiLUGradOp : Llama_Op<"silu_grad",
    [Pure, SameOperandsAndResultType]> {
  let summary = "gradient of llama.silu";
  let description = [{
    `result = dy * silu'(x)` elementwise, where with `σ = sigmoid(x)`,
    `silu'(x) = σ * (1 + x * (1 - σ))`.

    ```mlir
    %dx = llama.silu_grad %x, %dy : tensor<1x8x172xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$dy);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = "$input `,` $dy attr-dict `:` type($result)";
}

def Llama_SwiGLUGradOp : Llama_Op<"swiglu_grad", [Pure, AllTypesMatch<
    ["gate", "up", "dh", "dgate", "dup"]>]> {
  let summary = "gradients of h = silu(gate) * up";
  let description = [{
    The backward of the SwiGLU product in one pass over the elements:
    `dgate = dh * up * silu'(gate)` and `dup = dh * silu(gate)`, with
    `silu'` as in `llama.silu_grad`. All operands and results have one type.

    ```mlir
    %dgate, %dup = llama.swiglu_grad %gate, %up, %dh : tensor<1x8x172xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$gate, Llama_Tensor:$up,
                       Llama_Tensor:$dh);
  let results = (outs Llama_Tensor:$dgate, Llama_Tensor:$dup);
  let assemblyFormat = "$gate `,` $up `,` $dh attr-dict `:` type($dh)";
}

def Llama_CrossEntropyGradOp : Llama_Op<"cross_entropy_grad", [Pure]> {
  let summary = "gradient of llama.cross_entropy with respect to the logits";
  let description = [{
    For a loss seed of 1:
    `result[b, s, :] = w[b, s] * (softmax(logits[b, s]) - onehot(targets[b, s])) / sum(w)`,
    and all zeros when every weight is 0 (the forward loss is then the
    constant 0). Rows of weight 0 are zero. The result has the type of
    `logits`.

    ```mlir
    %dlogits = llama.cross_entropy_grad %logits, %targets, %weights
        : (tensor<1x8x512xf32>, tensor<1x8xi32>, tensor<1x8xf32>) -> tensor<1x8x512xf32>
    ```
  }];
  let arguments = (ins Llama_Tensor:$logits, Llama_TokenTensor:$targets,
                       RankedTensorOf<[F32]>:$weights);
  let results = (outs Llama_Tensor:$result);
  let assemblyFormat = [{
    $logits `,` $targets `,` $weights attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_FusedRMSNormMatmulGradOp : Llama_Op<"fused_rmsnorm_matmul_grad",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "backward of an RMSNorm and the matmuls it feeds, in one kernel";
  let description = [{
    The gradient of `y_i = rmsnorm(input, gain) · W_iᵀ` for every weight
    `W_i` (`[N_i, K]`), given each upstream `dy_i` (`[B, S, N_i]`), formed by
    `llama-fuse-rmsnorm-matmul-grad` from `llama.matmul_grad`s that share a
    norm output, the `llama.add`s summing their input gradients, the
    `llama.rmsnorm_grad` after them, and the residual stream's `llama.add`:

    - `dn = sum_i dy_i · W_i`, never stored;
    - `dinput = rmsnorm_grad_x(input, gain, dn)`, plus `residual` when given
      (the gradient already flowing along the residual stream);
    - `dgain = rmsnorm_grad_gain(input, gain, dn)`;
    - `dW_i = dy_iᵀ · rmsnorm(input, gain)`, the norm recomputed from
      `input` rather than read back.

    ```mlir
    %dx, %dg, %dwq, %dwk = llama.fused_rmsnorm_matmul_grad %x, %g
        weights(%wq, %wk) dys(%dq, %dk) residual(%dres) {epsilon = 1.0e-05 : f64}
        : (tensor<1x8x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>,
           tensor<1x8x64xf32>, tensor<1x8x32xf32>, tensor<1x8x64xf32>)
        -> (tensor<1x8x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>)
    ```
  }];
  let arguments = (ins Llama_Tensor:$input, Llama_Tensor:$gain,
                       Variadic<Llama_Tensor>:$weights,
                       Variadic<Llama_Tensor>:$dys,
                       Optional<Llama_Tensor>:$residual, F64Attr:$epsilon);
  let results = (outs Llama_Tensor:$dinput, Llama_Tensor:$dgain,
                      Variadic<Llama_Tensor>:$dweights);
  let assemblyFormat = [{
    $input `,` $gain `weights` `(` $weights `)` `dys` `(` $dys `)`
    (`residual` `(` $residual^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // LLAMAC_IR_LLAMAGRADOPS_TD
