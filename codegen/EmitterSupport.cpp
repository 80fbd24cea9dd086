//===- EmitterSupport.cpp - What every target's emitters share ------------===//

#include "codegen/EmitterSupport.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cstdio>

using namespace mlir;
using namespace llamac::codegen;

FailureOr<Elem> llamac::codegen::elemOf(Operation *op, Value value,
                                        StringRef target) {
  Type type = cast<RankedTensorType>(value.getType()).getElementType();
  if (type.isF32())
    return Elem::F32;
  if (type.isF16())
    return Elem::F16;
  if (type.isBF16())
    return Elem::BF16;
  return op->emitOpError() << "has element type " << type << ", which "
                           << target << " does not support";
}

std::string llamac::codegen::floatLiteral(double value) {
  float f = static_cast<float>(value);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%af", static_cast<double>(f));
  return buffer;
}

FailureOr<std::string>
llamac::codegen::dimExpr(Operation *op, RankedTensorType type, unsigned dim,
                         const ContextSpelling &spelling) {
  int64_t size = type.getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return std::to_string(size) + spelling.literalSuffix.str();
  if (dim == 0)
    return (spelling.prefix + "batch").str();
  if (dim == 1)
    return (spelling.prefix + "seq").str();
  return op->emitOpError() << "has a dynamic dimension " << dim << " in "
                           << type << "; " << spelling.target
                           << " only takes batch and sequence from the "
                              "launch context";
}

FailureOr<int64_t> llamac::codegen::staticDim(Operation *op,
                                              RankedTensorType type,
                                              unsigned dim, StringRef target) {
  int64_t size = type.getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return size;
  return op->emitOpError() << "needs dimension " << dim << " of " << type
                           << " to be static on " << target;
}

std::optional<int64_t> llamac::codegen::constantPosition(Value position) {
  if (auto constant = position.getDefiningOp<arith::ConstantOp>())
    if (auto literal = dyn_cast<IntegerAttr>(constant.getValue()))
      return literal.getInt();
  return std::nullopt;
}
