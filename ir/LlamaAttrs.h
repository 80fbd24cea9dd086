//===- LlamaAttrs.h - Attributes of the llama dialect -----------*- C++ -*-===//

#ifndef LLAMAC_IR_LLAMAATTRS_H
#define LLAMAC_IR_LLAMAATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "ir/LlamaEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/LlamaAttrs.h.inc"

#endif // LLAMAC_IR_LLAMAATTRS_H
