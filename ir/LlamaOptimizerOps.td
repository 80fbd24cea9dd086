//===- LlamaOptimizerOps.td - Optimizer ops of llama -*- tablegen -*-===//
//
// The update half of a training step, written by llama-build-train-step
// after llama-autodiff: the learning-rate schedule, the global gradient norm
// that clipping divides by, and the AdamW update of a parameter group. The
// update writes the parameters and moments it is given in place (its results
// are those buffers), so a step needs no second copy of the model.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_IR_LLAMAOPTIMIZEROPS_TD
#define LLAMAC_IR_LLAMAOPTIMIZEROPS_TD

include "ir/LlamaOps.td"

def Llama_Scalar : 0DTensorOf<[F32]>;
def Llama_ScheduleTensor : 1DTensorOf<[I32]>;

def Llama_ConvertOp : Llama_Op<"convert", [Pure]> {
  let summary = "rounds tensors to another float type, all in one kernel";
  let description = [{
    Result `i` is operand `i` converted elementwise to the result's element
    type, rounded to the nearest even. Mixed-precision training uses it at
    the top of each step: the f32 master weights, which AdamW updates, are
    rounded to the 16-bit copies that the forward and backward read (see
    `llama-master-weights`). Shapes must match pairwise; one op is one
    launch however many tensors it converts.

    ```mlir
    %w16, %g16 = llama.convert %w, %g
        : (tensor<64x32xf32>, tensor<32xf32>) -> (tensor<64x32xbf16>, tensor<32xbf16>)
    ```
  }];
  let arguments = (ins Variadic<Llama_Tensor>:$inputs);
  let results = (outs Variadic<Llama_Tensor>:$results);
  let assemblyFormat = [{
    $inputs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_LRScheduleOp : Llama_Op<"lr_schedule", [Pure]> {
  let summary = "learning rate of a step: linear warmup, then cosine decay";
  let description = [{
    `schedule` holds `[step, warmup_steps, total_steps]`, with `step`
    counting from 1; `peak_lr` is the peak rate. The rate rises linearly to
    the peak over the warmup (`peak * step / warmup_steps`), then follows a
    half cosine down to `final_ratio * peak` at `total_steps`, and stays
    there after it. Llama 2 pretrained with 2000 warmup steps and a final
    ratio of 0.1.

    ```mlir
    %lr = llama.lr_schedule %schedule, %peak {final_ratio = 1.0e-01 : f64}
        : (tensor<3xi32>, tensor<f32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Llama_ScheduleTensor:$schedule, Llama_Scalar:$peak_lr,
                       F64Attr:$final_ratio);
  let results = (outs Llama_Scalar:$result);
  let assemblyFormat = [{
    $schedule `,` $peak_lr attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_GradNormOp : Llama_Op<"grad_norm", [Pure]> {
  let summary = "global L2 norm of a list of gradients";
  let description = [{
    `sqrt(sum over every element g of every operand of g²)`, accumulated in
    f64 in a fixed order, so the norm (and every clipped update after it) is
    the same whatever the thread count. The gradients may be f32, or 16-bit
    under mixed precision (read as f32).

    ```mlir
    %norm = llama.grad_norm %dw0, %dw1
        : (tensor<32x64xf32>, tensor<64xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Variadic<Llama_Tensor>:$grads);
  let results = (outs Llama_Scalar:$result);
  let assemblyFormat = [{
    $grads attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Llama_AdamWUpdateOp : Llama_Op<"adamw_update",
    [AttrSizedOperandSegments]> {
  let summary = "one clipped AdamW step of a parameter group, in place";
  let description = [{
    Updates every parameter `p` of the group with its gradient `g` and
    moments `m`, `v`. Parameters and moments are f32 (the parameters are the
    master weights); a gradient is f32 or, under mixed precision, 16-bit of
    its parameter's shape, read as f32:

    ```
    c  = min(1, max_grad_norm / (grad_norm + 1e-6))   // global clipping
    g' = c * g
    m  = beta1 * m + (1 - beta1) * g'
    v  = beta2 * v + (1 - beta2) * g'²
    p  = p * (1 - lr * weight_decay)                  // decoupled decay
    p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
    ```

    where `t` is `schedule[0]`, the step counted from 1, and `lr` and
    `grad_norm` are scalars. This is PyTorch's `AdamW` after
    `clip_grad_norm_`. A `max_grad_norm` of 0 disables clipping.

    The results are the updated parameters, then the first moments, then
    the second moments, in operand order. They are the operand buffers
    written in place: lowering rejects a graph that reads a parameter or moment after
    its update. One op is one kernel, so a group (the decayed matrices, or
    the undecayed norm gains) is updated by one launch.

    Under mixed precision, `rounded` may name each parameter's 16-bit copy:
    the `llama.convert` of that parameter that the step computes with. The
    update then also writes the new parameter rounded to the copy's type
    (to nearest even, as `llama.convert` rounds), as a fourth group of
    results. Lowering keeps such copies in persistent buffers, rounded
    once at load and kept current by the update, so that a step need not
    read every master weight again to round it.

    ```mlir
    %p, %m, %v = llama.adamw_update params(%w) grads(%dw) moments(%m0)
        second_moments(%v0) lr(%lr) grad_norm(%norm) schedule(%schedule)
        {beta1 = 9.0e-01 : f64, beta2 = 9.5e-01 : f64, epsilon = 1.0e-05 : f64,
         weight_decay = 1.0e-01 : f64, max_grad_norm = 1.0 : f64}
        : (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>,
           tensor<32x64xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>)
        -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>)

    %w16 = llama.convert %w : (tensor<32x64xf32>) -> tensor<32x64xbf16>
    %p, %m, %v, %p16 = llama.adamw_update params(%w) grads(%dw16)
        moments(%m0) second_moments(%v0) lr(%lr) grad_norm(%norm)
        schedule(%schedule) rounded(%w16)
        {beta1 = 9.0e-01 : f64, beta2 = 9.5e-01 : f64, epsilon = 1.0e-05 : f64,
         weight_decay = 1.0e-01 : f64, max_grad_norm = 1.0 : f64}
        : (tensor<32x64xf32>, tensor<32x64xbf16>, tensor<32x64xf32>,
           tensor<32x64xf32>, tensor<f32>, tensor<f32>, tensor<3xi32>,
           tensor<32x64xbf16>)
        -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>,
            tensor<32x64xbf16>)
    ```
  }];
  let arguments = (ins Variadic<Llama_Tensor>:$params,
                       Variadic<Llama_Tensor>:$grads,
                       Variadic<Llama_Tensor>:$moments,
                       Variadic<Llama_Tensor>:$second_moments,
                       Llama_Scalar:$lr, Llama_Scalar:$grad_norm,
                       Llama_ScheduleTensor:$schedule,
                       Variadic<Llama_Tensor>:$rounded,
                       F64Attr:$beta1, F64Attr:$beta2, F64Attr:$epsilon,
                       F64Attr:$weight_decay, F64Attr:$max_grad_norm);
  let results = (outs Variadic<Llama_Tensor>:$updated);
  let assemblyFormat = [{
    `params` `(` $params `)` `grads` `(` $grads `)`
    `moments` `(` $moments `)` `second_moments` `(` $second_moments `)`
    `lr` `(` $lr `)` `grad_norm` `(` $grad_norm `)`
    `schedule` `(` $schedule `)` (`rounded` `(` $rounded^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    ::mlir::LogicalResult verifyRoundedCopy(size_t i);

    /// The updated parameters, first and second moments and rounded
    /// copies: slices of `updated`, which has three results per parameter,
    /// and a fourth with `rounded`.
    ::mlir::ResultRange getNewParams() {
      return getUpdated().slice(0, getParams().size());
    }
    ::mlir::ResultRange getNewMoments() {
      return getUpdated().slice(getParams().size(), getParams().size());
    }
    ::mlir::ResultRange getNewSecondMoments() {
      return getUpdated().slice(2 * getParams().size(), getParams().size());
    }
    ::mlir::ResultRange getNewRounded() {
      return getUpdated().slice(3 * getParams().size(), getRounded().size());
    }
  }];
  let hasVerifier = 1;
}

#endif // LLAMAC_IR_LLAMAOPTIMIZEROPS_TD
