//===- LlamaDialect.td - The llama dialect -----------------*- tablegen -*-===//

#ifndef LLAMAC_IR_LLAMADIALECT_TD
#define LLAMAC_IR_LLAMADIALECT_TD

include "mlir/IR/OpBase.td"

def Llama_Dialect : Dialect {
  let name = "llama";
  let summary = "The Llama 2 decoder at the level of its building blocks";
  let description = [{
    The `llama` dialect expresses the Llama 2 decoder (token embedding,
    RMSNorm, matmuls, RoPE, causal attention with grouped-query broadcast,
    SwiGLU, residual adds, the KV cache and the LM head) on ranked tensors
    with value semantics, and the fused kernels the fusion passes form from
    them.

    Conventions shared by every op:
    * Activations are `tensor<B x S x N x T>`: batch, sequence, features.
      `S` may be dynamic (`?`) in prefill graphs.
    * Weights are function arguments, never constants, so one compiled
      artifact binds any checkpoint of that shape. A matrix is stored
      `[out][in]` as in Meta's checkpoints and llama2.c, so `matmul(x, W)`
      computes `x · Wᵀ`.
    * `T` is `f32`, `f16` or `bf16`; kernels accumulate in `f32`.
    * Positions are a scalar `i32`: the absolute position of the first
      token of the sequence, shared by the whole batch.
  }];
  let cppNamespace = "::llamac::llama";
  let useDefaultAttributePrinterParser = 1;
}

class Llama_Op<string mnemonic, list<Trait> traits = []>
    : Op<Llama_Dialect, mnemonic, traits>;

#endif // LLAMAC_IR_LLAMADIALECT_TD
