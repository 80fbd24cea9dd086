//===- LlamaOps.h - Operations of the llama dialect -------------*- C++ -*-===//

#ifndef LLAMAC_IR_LLAMAOPS_H
#define LLAMAC_IR_LLAMAOPS_H

#include "ir/LlamaAttrs.h"
#include "ir/LlamaDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ir/LlamaOps.h.inc"

namespace llamac::llama {
/// Names of the attributes the frontend puts on weights, caches and modules,
/// shared by the passes, the report and code generation.
namespace attrs {
/// On a function argument: the checkpoint tensor it binds, e.g.
/// "layers.3.attention.wq.weight".
inline constexpr llvm::StringLiteral weight = "llama.weight";
/// On a function argument: "k" or "v", the cache this argument is.
inline constexpr llvm::StringLiteral kvCache = "llama.kv_cache";
/// On a function argument of a KV cache: its decoder layer.
inline constexpr llvm::StringLiteral layer = "llama.layer";
/// On the module: a dictionary with the model config.
inline constexpr llvm::StringLiteral config = "llama.config";
/// On a function argument: the name of the input buffer it is ("schedule").
inline constexpr llvm::StringLiteral input = "llama.input";
/// On a function argument: the optimizer-state tensor it is, named after its
/// weight ("adamw.m.layers.3.attention.wq.weight"). Updated in place.
inline constexpr llvm::StringLiteral optimizerState = "llama.optimizer_state";
/// On a function result: the name of the output buffer it is ("loss").
inline constexpr llvm::StringLiteral output = "llama.output";
/// On a function: "prefill", "decode", "forward_loss", "loss_and_grads" or
/// "train_step".
inline constexpr llvm::StringLiteral entry = "llama.entry";
} // namespace attrs
} // namespace llamac::llama

#endif // LLAMAC_IR_LLAMAOPS_H
