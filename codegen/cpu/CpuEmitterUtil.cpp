//===- CpuEmitterUtil.cpp - Shared pieces of the CPU kernel emitters ------===//

#include "codegen/cpu/CpuEmitterUtil.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/Support/Format.h"

#include <cstdio>

using namespace mlir;

namespace llamac::codegen::cpu {

FailureOr<Elem> elemOf(Operation *op, Value value) {
  Type type = tensorType(value).getElementType();
  if (type.isF32())
    return Elem::F32;
  if (type.isF16())
    return Elem::F16;
  if (type.isBF16())
    return Elem::BF16;
  return op->emitOpError() << "has element type " << type
                           << ", which the CPU target does not support";
}

const char *cType(Elem elem) {
  return elem == Elem::F32 ? "float" : "uint16_t";
}

int64_t elemBytes(Elem elem) { return elem == Elem::F32 ? 4 : 2; }

std::string load(Elem elem, StringRef expr) {
  switch (elem) {
  case Elem::F32:
    return expr.str();
  case Elem::F16:
    return ("llamaF16ToF32(" + expr + ")").str();
  case Elem::BF16:
    return ("llamaBf16ToF32(" + expr + ")").str();
  }
  llvm_unreachable("unknown element type");
}

std::string store(Elem elem, StringRef expr) {
  switch (elem) {
  case Elem::F32:
    return expr.str();
  case Elem::F16:
    return ("llamaF32ToF16(" + expr + ")").str();
  case Elem::BF16:
    return ("llamaF32ToBf16(" + expr + ")").str();
  }
  llvm_unreachable("unknown element type");
}

const char *helperSuffix(Elem elem) {
  switch (elem) {
  case Elem::F32:
    return "F32";
  case Elem::F16:
    return "F16";
  case Elem::BF16:
    return "Bf16";
  }
  llvm_unreachable("unknown element type");
}

std::string floatLiteral(double value) {
  float f = static_cast<float>(value);
  char buffer[64];
  // `%a` prints the exact binary value, so the kernel sees the same float
  // the compiler computed, with no decimal round trip.
  std::snprintf(buffer, sizeof(buffer), "%af", static_cast<double>(f));
  return buffer;
}

FailureOr<std::string> dimExpr(Operation *op, RankedTensorType type,
                               unsigned dim) {
  int64_t size = type.getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return std::to_string(size);
  if (dim == 0)
    return std::string("ctx->batch");
  if (dim == 1)
    return std::string("ctx->seq");
  return op->emitOpError() << "has a dynamic dimension " << dim << " in "
                           << type
                           << "; the CPU target only takes batch and sequence "
                              "from the launch context";
}

FailureOr<std::string> rowsExpr(Operation *op, RankedTensorType type) {
  std::string expr;
  int64_t literal = 1;
  for (unsigned d = 0; d + 1 < type.getRank(); ++d) {
    FailureOr<std::string> dim = dimExpr(op, type, d);
    if (failed(dim))
      return failure();
    if (ShapedType::isDynamic(type.getDimSize(d)))
      expr += " * " + *dim;
    else
      literal *= type.getDimSize(d);
  }
  return "(int64_t)" + std::to_string(literal) + expr;
}

FailureOr<int64_t> staticDim(Operation *op, RankedTensorType type,
                             unsigned dim) {
  int64_t size = type.getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return size;
  return op->emitOpError() << "needs dimension " << dim << " of " << type
                           << " to be static on the CPU target";
}

std::string positionExpr(Value position) {
  IntegerAttr literal;
  if (auto constant = position.getDefiningOp<arith::ConstantOp>())
    literal = dyn_cast<IntegerAttr>(constant.getValue());
  if (literal)
    return "(int32_t)" + std::to_string(literal.getInt());
  return "ctx->position";
}

void emitSignature(raw_ostream &os, Operation *op, StringRef symbol) {
  os << "\n// " << op->getName() << "\n";
  os << "extern \"C\" void " << symbol
     << "(void *const *buffers, const LlamaKernelContext *ctx) {\n";
  os << "  (void)ctx;\n";
}

void emitBuffer(raw_ostream &os, StringRef name, unsigned index,
                StringRef elemType, bool isConst) {
  StringRef qualifier = isConst ? "const " : "";
  os << "  " << qualifier << elemType << " *__restrict " << name << " = ("
     << qualifier << elemType << " *)buffers[" << index << "];\n";
}

} // namespace llamac::codegen::cpu
