//===- Passes.td - The llama passes ------------------------*- tablegen -*-===//

#ifndef LLAMAC_PASSES_PASSES_TD
#define LLAMAC_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseRMSNormMatmulPass
    : Pass<"llama-fuse-rmsnorm-matmul", "::mlir::func::FuncOp"> {
  let summary = "Fuses an RMSNorm into the matmuls it feeds, over packed weights";
  let description = [{
    Matches a `llama.rmsnorm` whose every user is a `llama.matmul` taking the
    normalized activations as its input (Q, K and V share one norm; gate and
    up share another; the final norm feeds the LM head), and replaces the
    group by one `llama.fused_matmul` with an RMSNorm prologue over the
    weights stacked by `llama.pack_weights`, in program order, one result per
    matmul.

    With `fold-gain` (the default, for inference) the norm's gain is folded
    into the packed weights (`pack_weights ... scaled_by %g`), so the kernel
    only scales each row by `1/rms(x)`. Without it (training) the gain stays a
    separate operand, so it keeps its own gradient.

    It refuses, leaving the IR unchanged, when the normalized value has any
    other user (it would then have to be materialized anyway), when a weight
    is not defined before the first matmul of the group, when the users are
    in another block, or when a weight has a dynamic row count.
  }];
  let options = [
    Option<"foldGain", "fold-gain", "bool", /*default=*/"true",
           "Fold the RMSNorm gain into the packed weights (inference only)">,
  ];
  let dependentDialects = ["::llamac::llama::LlamaDialect"];
}

def FuseSwiGLUPass : Pass<"llama-fuse-swiglu", "::mlir::func::FuncOp"> {
  let summary = "Fuses SwiGLU and residual adds into the matmuls that produce them";
  let description = [{
    Two rewrites, each producing one `llama.fused_matmul` kernel:
    * SwiGLU: `mul(silu(a), b)`, where `a` and `b` are the two results of one
      `llama.fused_matmul` with two equal segments and no epilogue, or of two
      `llama.matmul` of the same input with same-shaped weights, becomes the
      gate/up GEMM with a `swiglu` epilogue. The intermediate `a`, `silu(a)`
      and `b` must have no other user.
    * Residual: `add(r, matmul(x, W))` (either operand order), where the
      matmul has no other user, becomes a `llama.fused_matmul` with a
      `residual` epilogue: the down and output projections write
      `r + x · Wᵀ` directly.
    Anything else is left alone.
  }];
  let dependentDialects = ["::llamac::llama::LlamaDialect"];
}

def FuseRoPEAttentionPass
    : Pass<"llama-fuse-rope-attention", "::mlir::func::FuncOp"> {
  let summary = "Fuses RoPE, the KV-cache write and attention into one kernel";
  let description = [{
    Matches `llama.attention(rope(q), keys, values, pos)` where either
    * `keys = kv_cache_write(kc, rope(k), pos)` and
      `values = kv_cache_write(vc, v, pos)` (prefill and decode), or
    * `keys = rope(k)` and `values = v` (training, no cache),
    and replaces it by one `llama.fused_rope_attention`, whose extra results
    replace the updated caches. Both ropes must use the attention's position
    and the same `head_dim`, `theta` and `style`, and must have no other
    user; the cache writes' results may have other users (the function
    returns them) only after the attention.
  }];
  let dependentDialects = ["::llamac::llama::LlamaDialect"];
}

def FuseRMSNormMatmulGradPass
    : Pass<"llama-fuse-rmsnorm-matmul-grad", "::mlir::func::FuncOp"> {
  let summary = "Fuses an RMSNorm's backward with the matmul backwards it follows";
  let description = [{
    In a backward graph from `llama-autodiff`, finds a `llama.rmsnorm_grad`
    whose upstream gradient is the `llama.add`-sum of the input gradients of
    `llama.matmul_grad`s of that norm's output (Q, K and V; gate and up; or
    the classifier alone), and replaces them, the adds, and the residual
    stream's `llama.add` of the norm's input gradient when there is one, by
    one `llama.fused_rmsnorm_matmul_grad`: a decoder layer's seven backward
    kernels around its attention norm become one, and five around its FFN
    norm. It leaves the graph alone when an intermediate value has another
    user, the matmuls read another value than that norm's output, or a
    replaced value is used before the fused op.
  }];
  let dependentDialects = ["::llamac::llama::LlamaDialect"];
}

def AutodiffPass : Pass<"llama-autodiff", "::mlir::ModuleOp"> {
  let summary = "Builds @loss_and_grads, the reverse-mode gradients of @forward_loss";
  let description = [{
    For every function tagged `llama.entry = "forward_loss"`, adds
    `@loss_and_grads` with the same arguments (and argument attributes),
    tagged `llama.entry = "loss_and_grads"`, returning the loss and then
    `d(loss)/d(weight)` for every argument tagged `llama.weight`, in argument
    order, each result tagged `{llama.grad_of = "<weight name>"}`. The forward
    function is kept.

    The body is the forward graph followed by its reverse sweep: each
    unfused op becomes its backward op (`llama.matmul_grad`,
    `llama.rmsnorm_grad`, `llama.rope_grad`, `llama.attention_grad`,
    `llama.embedding_grad`, `llama.cross_entropy_grad`, `llama.silu_grad`;
    `llama.mul` and `llama.add` become muls and pass-throughs), and
    `mul(silu(gate), up)` with a single-use silu becomes one
    `llama.swiglu_grad`. A value with several users (the residual stream, a
    norm output shared by Q, K and V, a classifier tied to the embedding)
    gets the `llama.add` of its users' contributions. A weight the loss does
    not read gets a zero gradient.

    It runs before fusion, and refuses, with an error naming the op, any op
    it has no rule for (the fused ops, `llama.kv_cache_write`, attention over
    more keys than queries), a loss that is not a single-use
    `llama.cross_entropy`, and a module that already has `@loss_and_grads`.
  }];
  let dependentDialects = ["::llamac::llama::LlamaDialect",
                           "::mlir::arith::ArithDialect"];
}

def MasterWeightsPass : Pass<"llama-master-weights", "::mlir::ModuleOp"> {
  let summary = "Mixed precision: f32 master weights, rounded to 16 bits per call";
  let description = [{
    For mixed-precision training. In every function, each argument tagged
    `llama.weight` whose element type is f16 or bf16 becomes f32, and one
    `llama.convert` at the top of the body rounds all of them back to
    their 16-bit types for the ops that read them. The model still computes
    in 16 bits, with f32 accumulation, but the weights the caller binds (and
    that `llama-build-train-step`'s AdamW updates) are f32, so that an
    update smaller than a 16-bit weight's rounding step is not lost.
    Gradients stay 16-bit; the optimizer reads them as f32.

    Every function of the module is rewritten, not just the training ones,
    because an artifact shares one buffer per weight name between its
    entries. Run it after `llama-autodiff` and before
    `llama-build-train-step`; `llamac --entry=train_step --dtype bf16` does.
    A module without 16-bit weights is left as it is.
  }];
  let dependentDialects = ["::llamac::llama::LlamaDialect"];
}

def BuildTrainStepPass : Pass<"llama-build-train-step", "::mlir::ModuleOp"> {
  let summary = "Turns @loss_and_grads into @train_step: clipping, schedule and AdamW";
  let description = [{
    Rewrites the function tagged `llama.entry = "loss_and_grads"` (from
    `llama-autodiff`) into `@train_step`, tagged `llama.entry = "train_step"`,
    which takes two more inputs and two optimizer-state tensors per weight:

    - `schedule` (`tensor<3xi32>`, `[step, warmup_steps, total_steps]`, the
      step counted from 1) and `peak_lr` (`tensor<f32>`), tagged
      `llama.input`;
    - for every weight `W` with a gradient, its first and second AdamW
      moments, tagged `llama.optimizer_state = "adamw.m.W"` and `"adamw.v.W"`.

    After the gradients it computes their global norm (`llama.grad_norm`)
    and the step's rate (`llama.lr_schedule`), then updates the weights in
    two parameter groups, one `llama.adamw_update` each: the matrices (the
    embedding and every projection, with weight decay) and the RMSNorm gains
    (no decay). It returns the loss, the rate and the gradient norm (tagged
    `llama.output = "loss"`, `"lr"`, `"grad_norm"`), then the updated
    weights and moments, which lowering writes in place.

    The defaults are the Llama 2 paper's: AdamW with beta1 0.9, beta2 0.95,
    epsilon 1e-5, weight decay 0.1, gradients clipped to a global norm of
    1.0, and a cosine schedule decaying to 10% of the peak rate. Weights must
    be f32: they are the master copy the optimizer updates. Gradients may be
    16-bit (after `llama-master-weights`); the moments are f32 regardless.
    Where every weight of a group is rounded to 16 bits by a `llama.convert`
    (`llama-master-weights`), its update takes those copies as `rounded` and
    writes the new weights' roundings over them, returned after the moments
    (tagged `llama.updates = "rounded.W"`): lowering then rounds the weights
    once, at load, rather than reading every master weight again each step.

    It fails, naming the reason, on a module without `@loss_and_grads`, one
    that already has `@train_step`, or a weight that is not f32.
  }];
  let options = [
    Option<"beta1", "beta1", "double", /*default=*/"0.9",
           "AdamW first-moment decay">,
    Option<"beta2", "beta2", "double", /*default=*/"0.95",
           "AdamW second-moment decay">,
    Option<"epsilon", "epsilon", "double", /*default=*/"1e-5",
           "AdamW denominator epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.1",
           "Decoupled weight decay of the matrices (not of the norm gains)">,
    Option<"maxGradNorm", "max-grad-norm", "double", /*default=*/"1.0",
           "Global gradient-norm clipping threshold; 0 disables clipping">,
    Option<"finalLrRatio", "final-lr-ratio", "double", /*default=*/"0.1",
           "The cosine schedule's final rate, as a fraction of the peak">,
  ];
  let dependentDialects = ["::llamac::llama::LlamaDialect"];
}

#endif // LLAMAC_PASSES_PASSES_TD
