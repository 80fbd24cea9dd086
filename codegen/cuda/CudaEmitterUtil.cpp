//===- CudaEmitterUtil.cpp - Shared pieces of the CUDA kernel emitters ----===//

#include "codegen/cuda/CudaEmitterUtil.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cstdio>

using namespace mlir;

namespace llamac::codegen::cuda {

FailureOr<Elem> elemOf(Operation *op, Value value) {
  Type type = tensorType(value).getElementType();
  if (type.isF32())
    return Elem::F32;
  if (type.isF16())
    return Elem::F16;
  if (type.isBF16())
    return Elem::BF16;
  return op->emitOpError() << "has element type " << type
                           << ", which the CUDA target does not support";
}

const char *cudaType(Elem elem) {
  switch (elem) {
  case Elem::F32:
    return "float";
  case Elem::F16:
    return "__half";
  case Elem::BF16:
    return "__nv_bfloat16";
  }
  llvm_unreachable("unknown element type");
}

int64_t elemBytes(Elem elem) { return elem == Elem::F32 ? 4 : 2; }

std::string floatLiteral(double value) {
  float f = static_cast<float>(value);
  char buffer[64];
  // `%a` prints the exact binary value: no decimal round trip.
  std::snprintf(buffer, sizeof(buffer), "%af", static_cast<double>(f));
  return buffer;
}

FailureOr<std::string> dimExpr(Operation *op, RankedTensorType type,
                               unsigned dim) {
  int64_t size = type.getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return std::to_string(size) + "LL";
  if (dim == 0)
    return std::string("args.context.batch");
  if (dim == 1)
    return std::string("args.context.seq");
  return op->emitOpError() << "has a dynamic dimension " << dim << " in "
                           << type
                           << "; the CUDA target only takes batch and "
                              "sequence from the launch context";
}

FailureOr<Rows> rowsOf(Operation *op, RankedTensorType type) {
  Rows rows;
  int64_t literal = 1;
  bool dynamic = false;
  std::string expr;
  for (unsigned d = 0; d + 1 < type.getRank(); ++d) {
    FailureOr<std::string> dim = dimExpr(op, type, d);
    if (failed(dim))
      return failure();
    if (ShapedType::isDynamic(type.getDimSize(d))) {
      expr += " * " + *dim;
      dynamic = true;
    } else {
      literal *= type.getDimSize(d);
    }
  }
  if (!dynamic)
    rows.constant = literal;
  rows.expr = "(" + std::to_string(literal) + "LL" + expr + ")";
  return rows;
}

FailureOr<int64_t> staticDim(Operation *op, RankedTensorType type,
                             unsigned dim) {
  int64_t size = type.getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return size;
  return op->emitOpError() << "needs dimension " << dim << " of " << type
                           << " to be static on the CUDA target";
}

std::string positionExpr(Value position) {
  IntegerAttr literal;
  if (auto constant = position.getDefiningOp<arith::ConstantOp>())
    literal = dyn_cast<IntegerAttr>(constant.getValue());
  if (literal)
    return std::to_string(literal.getInt());
  return "args.context.position";
}

void emitSignature(raw_ostream &os, Operation *op, StringRef symbol,
                   int threads) {
  os << "\n// " << op->getName() << "\n";
  os << "extern \"C\" __global__ void __launch_bounds__(" << threads << ") "
     << symbol << "(LlamaGpuArgs args) {\n";
}

void emitBuffer(raw_ostream &os, StringRef name, unsigned index,
                StringRef type, bool isConst) {
  StringRef qualifier = isConst ? "const " : "";
  os << "  " << qualifier << type << " *__restrict__ " << name << " = ("
     << qualifier << type << " *)args.buffers[" << index << "];\n";
}

void setRowGrid(artifact::LaunchGeometry &geometry, unsigned axis,
                const Rows &rows, uint32_t rowsPerBlock) {
  if (rows.constant) {
    geometry.gridBase[axis] =
        static_cast<uint32_t>((*rows.constant + rowsPerBlock - 1) / rowsPerBlock);
    geometry.rowsPerBlock[axis] = 0;
  } else {
    geometry.gridBase[axis] = 0;
    geometry.rowsPerBlock[axis] = rowsPerBlock;
  }
}

artifact::LaunchGeometry fixedGrid(uint32_t x, uint32_t y, uint32_t z,
                                   uint32_t threads) {
  artifact::LaunchGeometry geometry;
  geometry.gridBase[0] = x;
  geometry.gridBase[1] = y;
  geometry.gridBase[2] = z;
  geometry.block[0] = threads;
  return geometry;
}

int64_t vectorBytes(int64_t bytes) {
  int64_t width = 16;
  while (width > 1 && bytes % width != 0)
    width /= 2;
  return width;
}

} // namespace llamac::codegen::cuda
