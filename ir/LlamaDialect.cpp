//===- LlamaDialect.cpp - The llama dialect -------------------------------===//

#include "ir/LlamaDialect.h"
#include "ir/LlamaOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace llamac::llama;

#include "ir/LlamaDialect.cpp.inc"
#include "ir/LlamaEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/LlamaAttrs.cpp.inc"

void LlamaDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/LlamaOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ir/LlamaAttrs.cpp.inc"
      >();
}
