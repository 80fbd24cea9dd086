//===- LlamaDialect.h - The llama dialect -----------------------*- C++ -*-===//

#ifndef LLAMAC_IR_LLAMADIALECT_H
#define LLAMAC_IR_LLAMADIALECT_H

#include "mlir/IR/Dialect.h"

#include "ir/LlamaDialect.h.inc"

#endif // LLAMAC_IR_LLAMADIALECT_H
