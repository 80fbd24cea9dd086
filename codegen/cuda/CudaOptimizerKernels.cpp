//===- CudaOptimizerKernels.cpp - The optimizer ops of train_step ---------===//
//
// lr_schedule, grad_norm, adamw_update and convert on the GPU, with the CPU
// target's arithmetic (CpuOptimizerEmitter.cpp), so that a step here and
// there agree to rounding.
//
// grad_norm, adamw_update and convert read every weight of the model,
// hundreds of buffers: they take them from the launch's device table
// (KernelAbi.h) and view their tensors as one sequence of fixed-size chunks,
// the tensor of a chunk found by binary search in a table of first chunks.
// grad_norm's blocks each sum a fixed set of chunks in f64; the last block to
// finish adds the block sums in block order, so the norm has the same bits
// every step whatever the timing.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {
namespace {

constexpr int kThreads = 256;
/// Elements per chunk: 16 per thread.
constexpr int64_t kChunk = 4096;
/// Blocks of grad_norm, each leaving one f64 partial sum.
constexpr int64_t kNormBlocks = 256;

/// The chunks of `tensors`, in order.
int64_t chunkCount(ValueRange tensors) {
  int64_t chunks = 0;
  for (Value tensor : tensors)
    chunks += ceilDiv(tensorType(tensor).getNumElements(), kChunk);
  return chunks;
}

/// Fails unless every tensor is f32: the optimizer's parameters and
/// moments are the master weights and their state.
LogicalResult requireF32(Operation *op, ValueRange tensors) {
  for (Value tensor : tensors)
    if (!tensorType(tensor).getElementType().isF32())
      return op->emitOpError()
             << "has a " << tensorType(tensor)
             << " operand; the CUDA optimizer kernels take f32 master "
                "weights and moments";
  return success();
}

/// The one element type of `tensors`, which one kernel indexes through a
/// single typed pointer; a diagnostic on `op` if they differ.
FailureOr<Elem> uniformElem(Operation *op, ValueRange tensors, StringRef what) {
  FailureOr<Elem> first = elemOf(op, tensors.front());
  if (failed(first))
    return failure();
  for (Value tensor : tensors.drop_front())
    if (tensorType(tensor).getElementType() !=
        tensorType(tensors.front()).getElementType())
      return op->emitOpError()
             << "mixes " << tensorType(tensors.front()).getElementType()
             << " and " << tensorType(tensor).getElementType() << " " << what
             << "; the CUDA kernel takes one element type";
  return first;
}

/// Prints `typedef ... G;`, the gradients' one element type: f32, or the
/// compute type under mixed precision.
LogicalResult emitGradType(raw_ostream &os, Operation *op, ValueRange grads) {
  FailureOr<Elem> elem = uniformElem(op, grads, "gradients");
  if (failed(elem))
    return failure();
  os << "  typedef " << cudaType(*elem) << " G;\n";
  return success();
}

/// Prints, at file scope, `symbol`'s tables of the element count and first
/// chunk of each tensor, and inside the kernel (after emitBufferTable) the
/// lambda `locate(chunk, tensor, begin, end)`.
void emitChunkTables(raw_ostream &os, StringRef symbol, ValueRange tensors) {
  os << "\n__device__ const long long " << symbol << "_counts["
     << tensors.size() << "] = {";
  for (auto [i, tensor] : llvm::enumerate(tensors))
    os << (i ? ", " : "") << tensorType(tensor).getNumElements();
  os << "};\n__device__ const long long " << symbol << "_firstChunk["
     << tensors.size() + 1 << "] = {0";
  int64_t chunks = 0;
  for (Value tensor : tensors) {
    chunks += ceilDiv(tensorType(tensor).getNumElements(), kChunk);
    os << ", " << chunks;
  }
  os << "};\n";
}

void emitLocate(raw_ostream &os, StringRef symbol, size_t tensors) {
  os << "  constexpr long long CHUNK = " << kChunk << ";\n"
     << "  constexpr int TENSORS = " << tensors << ";\n"
     << "  const long long *counts = " << symbol << "_counts;\n"
     << "  const long long *firstChunk = " << symbol << "_firstChunk;\n"
     << "  // The tensor holding chunk c, and the chunk's element range.\n"
     << "  auto locate = [&](long long c, int &tensor, long long &begin,\n"
     << "                    long long &end) {\n"
     << "    int lo = 0, hi = TENSORS - 1;\n"
     << "    while (lo < hi) {\n"
     << "      const int mid = (lo + hi + 1) / 2;\n"
     << "      if (firstChunk[mid] <= c)\n"
     << "        lo = mid;\n"
     << "      else\n"
     << "        hi = mid - 1;\n"
     << "    }\n"
     << "    tensor = lo;\n"
     << "    begin = (c - firstChunk[lo]) * CHUNK;\n"
     << "    end = begin + CHUNK < counts[lo] ? begin + CHUNK : counts[lo];\n"
     << "  };\n";
}

LogicalResult emitLRSchedule(LRScheduleOp op, raw_ostream &os) {
  emitBuffer(os, "schedule", 0, "int", true);
  emitBuffer(os, "peak", 1, "float", true);
  emitBuffer(os, "out", 2, "float", false);
  os << "  if (threadIdx.x != 0)\n"
     << "    return;\n";
  emitLRScheduleBody(os, op.getFinalRatio().convertToDouble());
  return success();
}

LogicalResult emitGradNorm(GradNormOp op, StringRef symbol, raw_ostream &os) {
  unsigned n = op.getGrads().size();
  if (failed(emitGradType(os, op, op.getGrads())))
    return failure();
  emitBufferTable(os, op);
  emitBuffer(os, "out", n, "float", false, "bufs");
  emitLocate(os, symbol, n);
  os << "  constexpr long long CHUNKS = " << chunkCount(op.getGrads()) << ";\n"
     << "  constexpr int THREADS = " << kThreads << ", BLOCKS = " << kNormBlocks
     << ";\n"
     << "  double *partials = " << symbol << "_partials;\n"
     << "  unsigned *arrivals = &" << symbol << "_arrivals;\n"
     << R"BODY(  __shared__ double red[THREADS / 32];
  __shared__ bool isLast;
  double sum = 0.0;
  for (long long c = blockIdx.x; c < CHUNKS; c += BLOCKS) {
    int tensor;
    long long begin, end;
    locate(c, tensor, begin, end);
    const G *g = (const G *)bufs[tensor];
    for (long long i = begin + threadIdx.x; i < end; i += THREADS) {
      const double gi = llamaToF(g[i]);
      sum += gi * gi;
    }
  }
  sum = llamaBlockSum<THREADS>(sum, red);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = sum;
    __threadfence();
    isLast = atomicAdd(arrivals, 1u) == BLOCKS - 1;
  }
  __syncthreads();
  if (!isLast || threadIdx.x != 0)
    return;
  __threadfence();
  double total = 0.0;
  for (int b = 0; b < BLOCKS; ++b)
    total += partials[b];
  out[0] = (float)sqrt(total);
  *arrivals = 0;
)BODY";
  return success();
}

LogicalResult emitAdamWUpdate(AdamWUpdateOp op, StringRef symbol,
                              raw_ostream &os) {
  unsigned n = op.getParams().size();
  if (failed(emitGradType(os, op, op.getGrads())))
    return failure();
  emitBufferTable(os, op);
  emitBuffer(os, "lrIn", 4 * n, "float", true, "bufs");
  emitBuffer(os, "normIn", 4 * n + 1, "float", true, "bufs");
  emitBuffer(os, "schedule", 4 * n + 2, "int", true, "bufs");
  emitLocate(os, symbol, n);
  emitAdamWScalars(
      os, op.getBeta1().convertToDouble(), op.getBeta2().convertToDouble(),
      op.getEpsilon().convertToDouble(), op.getWeightDecay().convertToDouble(),
      op.getMaxGradNorm().convertToDouble());
  os << "  int tensor;\n"
     << "  long long begin, end;\n"
     << "  locate(blockIdx.x, tensor, begin, end);\n"
     << "  float *p = (float *)bufs[tensor];\n"
     << "  const G *g = (const G *)bufs[" << n << " + tensor];\n"
     << "  float *m = (float *)bufs[" << 2 * n << " + tensor];\n"
     << "  float *v = (float *)bufs[" << 3 * n << " + tensor];\n"
     << "  for (long long i = begin + threadIdx.x; i < end; i += " << kThreads
     << ") {\n";
  emitAdamWElement(os, "    ", "llamaToF(g[i])");
  os << "  }\n";
  return success();
}

/// Rounds every operand to its result's type; a block per chunk, as
/// adamw_update, so one launch covers the whole model.
LogicalResult emitConvert(ConvertOp op, StringRef symbol, raw_ostream &os) {
  unsigned n = op.getInputs().size();
  FailureOr<Elem> from = uniformElem(op, op.getInputs(), "operands");
  FailureOr<Elem> to = uniformElem(op, op.getResults(), "results");
  if (failed(from) || failed(to))
    return failure();
  os << "  typedef " << cudaType(*from) << " From;\n"
     << "  typedef " << cudaType(*to) << " To;\n";
  emitBufferTable(os, op);
  emitLocate(os, symbol, n);
  os << "  int tensor;\n"
     << "  long long begin, end;\n"
     << "  locate(blockIdx.x, tensor, begin, end);\n"
     << "  const From *src = (const From *)bufs[tensor];\n"
     << "  To *dst = (To *)bufs[" << n << " + tensor];\n"
     << "  for (long long i = begin + threadIdx.x; i < end; i += " << kThreads
     << ")\n"
     << "    dst[i] = llamaFromF<To>(llamaToF(src[i]));\n";
  return success();
}

} // namespace

LogicalResult emitOptimizerKernel(Operation *op, StringRef symbol,
                                  raw_ostream &os) {
  if (auto norm = dyn_cast<GradNormOp>(op)) {
    emitChunkTables(os, symbol, norm.getGrads());
    os << "__device__ double " << symbol << "_partials[" << kNormBlocks
       << "];\n"
       << "__device__ unsigned " << symbol << "_arrivals;\n";
  }
  if (auto update = dyn_cast<AdamWUpdateOp>(op)) {
    if (failed(requireF32(op, update.getParams())) ||
        failed(requireF32(op, update.getMoments())) ||
        failed(requireF32(op, update.getSecondMoments())))
      return failure();
    emitChunkTables(os, symbol, update.getParams());
  }
  if (auto convert = dyn_cast<ConvertOp>(op))
    emitChunkTables(os, symbol, convert.getInputs());
  emitSignature(os, op, symbol, kThreads);
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](LRScheduleOp op) { return emitLRSchedule(op, os); })
          .Case([&](GradNormOp op) { return emitGradNorm(op, symbol, os); })
          .Case(
              [&](AdamWUpdateOp op) { return emitAdamWUpdate(op, symbol, os); })
          .Case([&](ConvertOp op) { return emitConvert(op, symbol, os); })
          .Default([&](Operation *op) {
            return op->emitOpError() << "has no CUDA kernel";
          });
  os << "}\n";
  return result;
}

FailureOr<artifact::LaunchGeometry> optimizerGeometry(Operation *op) {
  if (isa<LRScheduleOp>(op))
    return fixedGrid(1, 1, 1, 32);
  if (isa<GradNormOp>(op))
    return fixedGrid(kNormBlocks, 1, 1, kThreads);
  if (auto update = dyn_cast<AdamWUpdateOp>(op))
    return fixedGrid(chunkCount(update.getParams()), 1, 1, kThreads);
  if (auto convert = dyn_cast<ConvertOp>(op))
    return fixedGrid(chunkCount(convert.getInputs()), 1, 1, kThreads);
  return op->emitOpError() << "has no CUDA kernel";
}

} // namespace llamac::codegen::cuda
