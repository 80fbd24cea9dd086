//===- CudaEmitterUtil.cpp - Shared pieces of the CUDA kernel emitters ----===//

#include "codegen/cuda/CudaEmitterUtil.h"
#include "runtime/KernelAbi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <algorithm>
#include <cstdio>

using namespace mlir;

namespace llamac::codegen::cuda {

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

std::string positionExpr(Value position) {
  if (std::optional<int64_t> literal = constantPosition(position))
    return std::to_string(*literal);
  return "(*args.livePosition)";
}

void emitGridDependencyWait(raw_ostream &os) {
  os << "  llamaGridDependencyWait();\n"
     << "  llamaLaunchDependents();\n";
}

void emitSignature(raw_ostream &os, Operation *op, StringRef symbol,
                   int threads, StringRef minBlocks, GridWait wait) {
  emitSignature(os, op, symbol, std::to_string(threads), minBlocks, wait);
}

void emitSignature(raw_ostream &os, Operation *op, StringRef symbol,
                   StringRef threads, StringRef minBlocks, GridWait wait) {
  os << "\n// " << op->getName() << "\n";
  os << "extern \"C\" __global__ void __launch_bounds__(" << threads;
  if (!minBlocks.empty())
    os << ", " << minBlocks;
  os << ") " << symbol << "(const __grid_constant__ LlamaGpuArgs args) {\n";
  // Nothing before the wait touches memory, so a kernel launched while the
  // previous one drains computes the same as one launched after it.
  if (wait == GridWait::AtStart)
    emitGridDependencyWait(os);
}

void emitBuffer(raw_ostream &os, StringRef name, unsigned index, StringRef type,
                bool isConst, StringRef array) {
  StringRef qualifier = isConst ? "const " : "";
  os << "  " << qualifier << type << " *__restrict__ " << name << " = ("
     << qualifier << type << " *)" << array << "[" << index << "];\n";
}

unsigned launchBufferCount(Operation *op) {
  unsigned count = op->getNumResults();
  for (Value operand : op->getOperands())
    count += isa<RankedTensorType>(operand.getType()) ? 1 : 0;
  return count;
}

void emitBufferTable(raw_ostream &os, Operation *op) {
  if (launchBufferCount(op) > LLAMA_MAX_KERNEL_BUFFERS)
    os << "  void *const *bufs = (void *const *)args.buffers[0];\n";
  else
    os << "  void *const *bufs = args.buffers;\n";
}

void setRowGrid(artifact::LaunchGeometry &geometry, unsigned axis,
                const Rows &rows, uint32_t rowsPerBlock) {
  if (rows.constant) {
    geometry.gridBase[axis] = static_cast<uint32_t>(
        (*rows.constant + rowsPerBlock - 1) / rowsPerBlock);
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

int64_t vectorElements(int64_t count, Elem elem) {
  return std::max<int64_t>(1, vectorBytes(count * elemBytes(elem)) /
                                  elemBytes(elem));
}

} // namespace llamac::codegen::cuda
