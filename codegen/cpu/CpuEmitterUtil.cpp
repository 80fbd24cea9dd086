//===- CpuEmitterUtil.cpp - Shared pieces of the CPU kernel emitters ------===//

#include "codegen/cpu/CpuEmitterUtil.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include "llvm/Support/Format.h"

#include <cstdio>

using namespace mlir;

namespace llamac::codegen::cpu {

const char *cType(Elem elem) {
  return elem == Elem::F32 ? "float" : "uint16_t";
}

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

std::string positionExpr(Value position) {
  if (std::optional<int64_t> literal = constantPosition(position))
    return "(int32_t)" + std::to_string(*literal);
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

void emitElementwiseLoopBegin(raw_ostream &os, int64_t chunk) {
  os << "  auto body = [&](int64_t chunk) {\n"
     << "    const int64_t begin = chunk * " << chunk << ";\n"
     << "    const int64_t end = begin + " << chunk << " < count ? begin + "
     << chunk << " : count;\n"
     << "#pragma omp simd\n"
     << "    for (int64_t i = begin; i < end; ++i) {\n";
}

void emitElementwiseLoopEnd(raw_ostream &os, int64_t chunk) {
  os << "    }\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, (count + " << chunk - 1 << ") / " << chunk
     << ", count, body);\n";
}

FailureOr<Elem> emitCrossEntropyPrologue(Operation *op, Value logits,
                                         StringRef symbol, bool gradient,
                                         raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, logits);
  FailureOr<int64_t> vocab = staticDim(op, tensorType(logits), 2);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(logits));
  if (failed(elem) || failed(vocab) || failed(rows))
    return failure();
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t V = " << *vocab << ";\n"
     << "  const int64_t rows = " << *rows << ";\n";
  emitBuffer(os, "logits", 0, cType(*elem), true);
  emitBuffer(os, "targets", 1, "int32_t", true);
  emitBuffer(os, "weights", 2, "float", true);
  emitBuffer(os, "out", 3, gradient ? cType(*elem) : "float", false);
  return elem;
}

} // namespace llamac::codegen::cpu
