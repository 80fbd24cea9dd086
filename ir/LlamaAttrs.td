//===- LlamaAttrs.td - Attributes of the llama dialect -----*- tablegen -*-===//

#ifndef LLAMAC_IR_LLAMAATTRS_TD
#define LLAMAC_IR_LLAMAATTRS_TD

include "ir/LlamaDialect.td"
include "mlir/IR/EnumAttr.td"

def Llama_RopeStyle : I32EnumAttr<"RopeStyle", "which pairs RoPE rotates", [
    I32EnumAttrCase<"Adjacent", 0, "adjacent">,
    I32EnumAttrCase<"HalfSplit", 1, "half">
  ]> {
  let cppNamespace = "::llamac::llama";
  let genSpecializedAttr = 0;
}
def Llama_RopeStyleAttr : EnumAttr<Llama_Dialect, Llama_RopeStyle, "rope_style"> {
  let summary = [{`adjacent` rotates pairs (2i, 2i+1) as Meta's code and
    llama2.c do; `half` rotates (i, i + d/2) as Hugging Face does}];
}

def Llama_Epilogue : I32EnumAttr<"Epilogue", "what a fused matmul does with its result", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"SwiGLU", 1, "swiglu">,
    I32EnumAttrCase<"Residual", 2, "residual">
  ]> {
  let cppNamespace = "::llamac::llama";
  let genSpecializedAttr = 0;
}
def Llama_EpilogueAttr : EnumAttr<Llama_Dialect, Llama_Epilogue, "epilogue"> {
  let summary = [{`none` returns each weight segment's product; `swiglu`
    returns silu(first half) * second half; `residual` adds the `residual`
    operand}];
}

#endif // LLAMAC_IR_LLAMAATTRS_TD
