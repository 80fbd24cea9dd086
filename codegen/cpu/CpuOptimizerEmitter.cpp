//===- CpuOptimizerEmitter.cpp - Kernels of the optimizer ops -------------===//
//
// The learning-rate schedule, the global gradient norm and the AdamW update
// of a parameter group, as train_step runs them after the backward sweep.
// The update follows PyTorch's AdamW (and clip_grad_norm_) operation for
// operation, so that a step here and a step there agree to rounding.
// Under mixed precision the gradients are 16-bit, read as f32, and
// llama.convert rounds the f32 master weights to the compute type, at load
// when the update keeps those copies current.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuGradEmitter.h"
#include "codegen/cpu/CpuEmitterUtil.h"

#include <optional>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cpu {

/// Elements per work item. Fixed, so that the norm's partial sums (and so
/// every update) are the same whatever the thread count.
static constexpr int64_t optimizerChunk = 16384;

static int64_t elementCount(Value value) {
  return tensorType(value).getNumElements();
}

LogicalResult emitLRSchedule(LRScheduleOp op, StringRef symbol,
                             raw_ostream &os) {
  emitSignature(os, op, symbol);
  emitBuffer(os, "schedule", 0, "int32_t", true);
  emitBuffer(os, "peak", 1, "float", true);
  emitBuffer(os, "out", 2, "float", false);
  emitLRScheduleBody(os, op.getFinalRatio().convertToDouble());
  os << "}\n";
  return success();
}

LogicalResult emitGradNorm(GradNormOp op, StringRef symbol, raw_ostream &os) {
  int64_t maxChunks = 1;
  for (Value grad : op.getGrads())
    maxChunks = std::max(maxChunks, (elementCount(grad) + optimizerChunk - 1) /
                                        optimizerChunk);
  unsigned n = op.getGrads().size();
  SmallVector<Elem> elems;
  for (Value grad : op.getGrads()) {
    FailureOr<Elem> elem = elemOf(op, grad);
    if (failed(elem))
      return failure();
    elems.push_back(*elem);
  }
  emitSignature(os, op, symbol);
  emitBuffer(os, "out", n, "float", false);
  // Partial sums per chunk, in f64, added in chunk order.
  os << "  double *partial = (double *)llamaScratch(0, " << 2 * maxChunks
     << ");\n"
     << "  double total = 0.0;\n";
  for (auto [i, grad] : llvm::enumerate(op.getGrads())) {
    int64_t count = elementCount(grad);
    int64_t chunks = (count + optimizerChunk - 1) / optimizerChunk;
    os << "  {\n"
       << "    const " << cType(elems[i]) << " *__restrict g = (const "
       << cType(elems[i]) << " *)buffers[" << i << "];\n"
       << "    const int64_t count = " << count << ";\n"
       << "    llamaParallelFor(ctx, " << chunks << ", count, [&](int64_t c) "
       << "{\n"
       << "      const int64_t begin = c * " << optimizerChunk << ";\n"
       << "      const int64_t end = begin + " << optimizerChunk
       << " < count ? begin + " << optimizerChunk << " : count;\n"
       << "      double sum = 0.0;\n"
       << "      for (int64_t j = begin; j < end; ++j) {\n"
       << "        const double gj = " << load(elems[i], "g[j]") << ";\n"
       << "        sum += gj * gj;\n"
       << "      }\n"
       << "      partial[c] = sum;\n"
       << "    });\n"
       << "    for (int64_t c = 0; c < " << chunks << "; ++c)\n"
       << "      total += partial[c];\n"
       << "  }\n";
  }
  os << "  out[0] = (float)sqrt(total);\n"
     << "}\n";
  return success();
}

LogicalResult emitAdamWUpdate(AdamWUpdateOp op, StringRef symbol,
                              raw_ostream &os) {
  unsigned n = op.getParams().size();
  double beta1 = op.getBeta1().convertToDouble();
  double beta2 = op.getBeta2().convertToDouble();
  double maxNorm = op.getMaxGradNorm().convertToDouble();
  emitSignature(os, op, symbol);
  emitBuffer(os, "lrIn", 4 * n, "float", true);
  emitBuffer(os, "normIn", 4 * n + 1, "float", true);
  emitBuffer(os, "schedule", 4 * n + 2, "int32_t", true);
  emitAdamWScalars(os, beta1, beta2, op.getEpsilon().convertToDouble(),
                   op.getWeightDecay().convertToDouble(), maxNorm);
  for (unsigned i = 0; i < n; ++i) {
    int64_t count = elementCount(op.getParams()[i]);
    FailureOr<Elem> gradElem = elemOf(op, op.getGrads()[i]);
    if (failed(gradElem))
      return failure();
    os << "  {\n"
       << "    float *__restrict p = (float *)buffers[" << i << "];\n"
       << "    const " << cType(*gradElem) << " *__restrict g = (const "
       << cType(*gradElem) << " *)buffers[" << n + i << "];\n"
       << "    float *__restrict m = (float *)buffers[" << 2 * n + i << "];\n"
       << "    float *__restrict v = (float *)buffers[" << 3 * n + i << "];\n"
       << "    const int64_t count = " << count << ";\n";
    std::optional<Elem> roundedElem;
    if (!op.getRounded().empty()) {
      FailureOr<Elem> elem = elemOf(op, op.getRounded()[i]);
      if (failed(elem))
        return failure();
      roundedElem = *elem;
      os << "    " << cType(*elem) << " *__restrict r = (" << cType(*elem)
         << " *)buffers[" << 4 * n + 3 + i << "];\n";
    }
    emitElementwiseLoopBegin(os, optimizerChunk);
    emitAdamWElement(os, "      ", load(*gradElem, "g[i]"));
    // The compute copy, rounded as emitConvert rounds it.
    if (roundedElem)
      os << "      r[i] = " << store(*roundedElem, "p[i]") << ";\n";
    emitElementwiseLoopEnd(os, optimizerChunk);
    os << "  }\n";
  }
  os << "}\n";
  return success();
}

LogicalResult emitConvert(ConvertOp op, StringRef symbol, raw_ostream &os) {
  unsigned n = op.getInputs().size();
  emitSignature(os, op, symbol);
  for (unsigned i = 0; i < n; ++i) {
    FailureOr<Elem> from = elemOf(op, op.getInputs()[i]);
    FailureOr<Elem> to = elemOf(op, op.getResults()[i]);
    if (failed(from) || failed(to))
      return failure();
    os << "  {\n"
       << "    const " << cType(*from) << " *__restrict src = (const "
       << cType(*from) << " *)buffers[" << i << "];\n"
       << "    " << cType(*to) << " *__restrict dst = (" << cType(*to)
       << " *)buffers[" << n + i << "];\n"
       << "    const int64_t count = " << elementCount(op.getInputs()[i])
       << ";\n";
    emitElementwiseLoopBegin(os, optimizerChunk);
    os << "      dst[i] = " << store(*to, load(*from, "src[i]")) << ";\n";
    emitElementwiseLoopEnd(os, optimizerChunk);
    os << "  }\n";
  }
  os << "}\n";
  return success();
}

} // namespace llamac::codegen::cpu
