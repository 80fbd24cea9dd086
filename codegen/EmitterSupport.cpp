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

std::string llamac::codegen::doubleLiteral(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%a", value);
  return buffer;
}

void llamac::codegen::emitLRScheduleBody(raw_ostream &os, double finalRatio) {
  os << "  const double step = schedule[0], warmup = schedule[1],\n"
     << "               total = schedule[2], ratio = "
     << doubleLiteral(finalRatio) << ";\n"
     << "  double lr;\n"
     << "  if (warmup > 0 && step <= warmup) {\n"
     << "    lr = peak[0] * step / warmup;\n"
     << "  } else {\n"
     << "    double progress = total > warmup ? (step - warmup) / (total - "
        "warmup) : 1.0;\n"
     << "    progress = progress < 0.0 ? 0.0 : progress > 1.0 ? 1.0 : "
        "progress;\n"
     << "    lr = peak[0] * (ratio + (1.0 - ratio) * 0.5 *\n"
     << "                              (1.0 + cos(3.14159265358979323846 * "
        "progress)));\n"
     << "  }\n"
     << "  out[0] = (float)lr;\n";
}

void llamac::codegen::emitAdamWScalars(raw_ostream &os, double beta1,
                                       double beta2, double epsilon,
                                       double weightDecay, double maxGradNorm) {
  // clip_grad_norm_ multiplies every gradient by min(1, max / (norm + 1e-6)).
  os << "  const float lr = lrIn[0];\n"
     << "  float clip = 1.0f;\n";
  if (maxGradNorm > 0)
    os << "  {\n"
       << "    const float coef = " << floatLiteral(maxGradNorm)
       << " / (normIn[0] + 1e-6f);\n"
       << "    clip = coef < 1.0f ? coef : 1.0f;\n"
       << "  }\n";
  os << "  const int step = schedule[0] > 0 ? schedule[0] : 1;\n"
     << "  const float decay = (float)(1.0 - (double)lr * "
     << doubleLiteral(weightDecay) << ");\n"
     << "  const float stepSize = (float)(lr / (1.0 - pow("
     << doubleLiteral(beta1) << ", step)));\n"
     << "  const float bc2Sqrt = (float)sqrt(1.0 - pow(" << doubleLiteral(beta2)
     << ", step));\n"
     << "  const float a1 = (float)(1.0 - " << doubleLiteral(beta1)
     << "), b2 = " << floatLiteral(beta2) << ", a2 = (float)(1.0 - "
     << doubleLiteral(beta2) << "), eps = " << floatLiteral(epsilon) << ";\n";
}

void llamac::codegen::emitAdamWElement(raw_ostream &os, StringRef indent,
                                       StringRef grad, const AdamWElement &at) {
  os << indent << "const float gi = " << grad << " * clip;\n"
     << indent << "const float mi = " << at.moment << " + a1 * (gi - "
     << at.moment << ");\n"
     << indent << "const float vi = b2 * " << at.secondMoment
     << " + a2 * gi * gi;\n"
     << indent << at.moment << " = mi;\n"
     << indent << at.secondMoment << " = vi;\n"
     << indent << at.param << " = " << at.param
     << " * decay - stepSize * (mi / (sqrtf(vi) / bc2Sqrt + eps));\n";
}

SmallVector<KernelBuffer, 5> llamac::codegen::siluGradBuffers(bool swiglu) {
  if (swiglu)
    return {{"x", true},
            {"up", true},
            {"dy", true},
            {"out", false},
            {"dup", false}};
  return {{"x", true}, {"dy", true}, {"out", false}};
}

void llamac::codegen::emitSegmentStores(
    llvm::raw_ostream &os, llvm::ArrayRef<int64_t> segments,
    llvm::StringRef column,
    llvm::function_ref<std::string(size_t, int64_t, int64_t)> store) {
  int64_t offset = 0;
  for (auto [i, size] : llvm::enumerate(segments)) {
    std::string target = store(i, size, offset);
    offset += size;
    if (segments.size() == 1)
      os << "    " << target << "\n";
    else if (i == 0)
      os << "    if (" << column << " < " << offset << ")\n      " << target
         << "\n";
    else if (i + 1 < segments.size())
      os << "    else if (" << column << " < " << offset << ")\n      "
         << target << "\n";
    else
      os << "    else\n      " << target << "\n";
  }
}

void llamac::codegen::emitSiLUGradElement(
    raw_ostream &os, StringRef indent, bool swiglu,
    function_ref<std::string(StringRef)> load,
    function_ref<std::string(StringRef)> store, StringRef exp) {
  os << indent << "const float val = " << load("x[i]") << ";\n"
     << indent << "const float sig = 1.0f / (1.0f + " << exp << "(-val));\n"
     << indent << "const float grad = " << load("dy[i]") << ";\n"
     << indent << "const float slope = sig * (1.0f + val * (1.0f - sig));\n";
  if (swiglu)
    os << indent << "const float u = " << load("up[i]") << ";\n"
       << indent << "out[i] = " << store("grad * u * slope") << ";\n"
       << indent << "dup[i] = " << store("grad * val * sig") << ";\n";
  else
    os << indent << "out[i] = " << store("grad * slope") << ";\n";
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
