//===- Llama.td - Umbrella for the llama dialect -----------*- tablegen -*-===//

#ifndef LLAMAC_IR_LLAMA_TD
#define LLAMAC_IR_LLAMA_TD

include "ir/LlamaDialect.td"
include "ir/LlamaAttrs.td"
include "ir/LlamaOps.td"
include "ir/LlamaGradOps.td"
include "ir/LlamaOptimizerOps.td"

#endif // LLAMAC_IR_LLAMA_TD
