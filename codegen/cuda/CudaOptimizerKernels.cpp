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
// A thread takes 4 consecutive elements at a time, one 16-byte access of an
// f32 tensor (8 bytes of a 16-bit one): the optimizer is bound by memory
// bandwidth, and wide accesses keep more bytes in flight for fewer
// instructions. A model whose width is not a multiple of 4 (heads of
// 4 n + 2 in an odd number) has tensors that are not whole vectors of 4;
// its kernels take 2 (or 1) elements at a time instead. grad_norm's blocks each
// sum a fixed set of chunks in f64; the last block to finish adds the block
// sums in a fixed order, so the norm has the same bits every step whatever the
// timing.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"

#include "llvm/ADT/TypeSwitch.h"

#include <optional>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {
namespace {

constexpr int kThreads = 256;
/// Elements per chunk: 16 per thread.
constexpr int64_t kChunk = 4096;
/// Consecutive elements a thread updates at once, where every tensor is
/// whole vectors of them.
constexpr int kVector = 4;
/// Blocks of grad_norm, each leaving one f64 partial sum: enough for 8
/// resident blocks on each of an H100's 132 SMs, so that there are loads
/// in flight to cover the latency of HBM.
constexpr int64_t kNormBlocks = 1024;

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

/// The widest vector, kVector elements or a power of 2 below, that every
/// tensor is whole vectors of: the kernels then load and store without a
/// scalar tail. Every weight has the model's width as a factor, so that
/// is 4 unless the width is not a multiple of 4.
int vectorWidth(ValueRange tensors) {
  int width = kVector;
  for (Value tensor : tensors)
    while (tensorType(tensor).getNumElements() % width != 0)
      width /= 2;
  return width;
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

/// Opens the loop over the elements [begin, end) of a chunk, VEC
/// consecutive ones a thread, each loaded and stored in one access of each
/// tensor (16 bytes of f32, 8 of a 16-bit type, at VEC = 4): aligned, since
/// chunks start on multiples of CHUNK elements and buffers on 64 bytes, and
/// whole, since VEC is the tensors' vectorWidth. The body follows, at an
/// indent of 4.
void emitVectorLoopBegin(raw_ostream &os, int vec) {
  os << "  constexpr int VEC = " << vec << ";\n"
     << "  for (long long i = begin + VEC * threadIdx.x; i < end; i += VEC * "
     << kThreads << ") {\n";
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

LogicalResult emitGradNorm(GradNormOp op, StringRef symbol, int vec,
                           raw_ostream &os) {
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
     << "  // A chunk is 16 elements a thread, all loaded before any is "
        "summed.\n"
     << "  constexpr int VEC = " << vec
     << ", LOADS = CHUNK / (VEC * THREADS);\n"
     << R"BODY(  __shared__ double red[THREADS / 32];
  __shared__ bool isLast;
  static_assert(LOADS * VEC * THREADS == CHUNK, "a chunk is whole vectors");
  double sum = 0.0;
  for (long long c = blockIdx.x; c < CHUNKS; c += BLOCKS) {
    int tensor;
    long long begin, end;
    locate(c, tensor, begin, end);
    const G *g = (const G *)bufs[tensor];
    float gw[LOADS][VEC];
#pragma unroll
    for (int r = 0; r < LOADS; ++r) {
      const long long i = begin + VEC * (threadIdx.x + r * THREADS);
      if (i < end) {
        llamaLoad(g + i, gw[r]);
      } else {
#pragma unroll
        for (int e = 0; e < VEC; ++e)
          gw[r][e] = 0.0f;
      }
    }
#pragma unroll
    for (int r = 0; r < LOADS; ++r)
#pragma unroll
      for (int e = 0; e < VEC; ++e)
        sum += (double)gw[r][e] * gw[r][e];
  }
  sum = llamaBlockSum<THREADS>(sum, red);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = sum;
    __threadfence();
    isLast = atomicAdd(arrivals, 1u) == BLOCKS - 1;
  }
  __syncthreads();
  if (!isLast)
    return;
  // The last block sums the partials in a fixed order, whichever it is.
  __threadfence();
  double total = 0.0;
  for (int b = threadIdx.x; b < BLOCKS; b += THREADS)
    total += __ldcg(partials + b);
  total = llamaBlockSum<THREADS>(total, red);
  if (threadIdx.x != 0)
    return;
  out[0] = (float)sqrt(total);
  *arrivals = 0;
)BODY";
  return success();
}

LogicalResult emitAdamWUpdate(AdamWUpdateOp op, StringRef symbol, int vec,
                              raw_ostream &os) {
  unsigned n = op.getParams().size();
  bool rounded = !op.getRounded().empty();
  if (failed(emitGradType(os, op, op.getGrads())))
    return failure();
  if (rounded) {
    FailureOr<Elem> elem = uniformElem(op, op.getRounded(), "rounded copies");
    if (failed(elem))
      return failure();
    os << "  typedef " << cudaType(*elem) << " R;\n";
  }
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
     << "  float *v = (float *)bufs[" << 3 * n << " + tensor];\n";
  if (rounded)
    os << "  R *r = (R *)bufs[" << 4 * n + 3 << " + tensor];\n";
  emitVectorLoopBegin(os, vec);
  os << "    float pw[VEC], gw[VEC], mw[VEC], vw[VEC];\n"
     << "    llamaLoad(p + i, pw);\n"
     << "    llamaLoad(g + i, gw);\n"
     << "    llamaLoad(m + i, mw);\n"
     << "    llamaLoad(v + i, vw);\n"
     << "#pragma unroll\n"
     << "    for (int e = 0; e < VEC; ++e) {\n";
  emitAdamWElement(os, "      ", "gw[e]", {"pw[e]", "mw[e]", "vw[e]"});
  os << "    }\n"
     << "    llamaStore(p + i, pw);\n"
     << "    llamaStore(m + i, mw);\n"
     << "    llamaStore(v + i, vw);\n";
  // The compute copy, rounded as emitConvert rounds it.
  if (rounded)
    os << "    llamaStore(r + i, pw);\n";
  os << "  }\n";
  return success();
}

/// Rounds every operand to its result's type; a block per chunk, as
/// adamw_update, so one launch covers the whole model.
LogicalResult emitConvert(ConvertOp op, StringRef symbol, int vec,
                          raw_ostream &os) {
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
     << "  To *dst = (To *)bufs[" << n << " + tensor];\n";
  emitVectorLoopBegin(os, vec);
  os << "    float w[VEC];\n"
     << "    llamaLoad(src + i, w);\n"
     << "    llamaStore(dst + i, w);\n"
     << "  }\n";
  return success();
}

} // namespace

LogicalResult emitOptimizerKernel(Operation *op, StringRef symbol,
                                  raw_ostream &os) {
  // The tensors the kernel views as one sequence of chunks.
  std::optional<ValueRange> chunked;
  if (auto norm = dyn_cast<GradNormOp>(op))
    chunked = norm.getGrads();
  if (auto update = dyn_cast<AdamWUpdateOp>(op)) {
    if (failed(requireF32(op, update.getParams())) ||
        failed(requireF32(op, update.getMoments())) ||
        failed(requireF32(op, update.getSecondMoments())))
      return failure();
    chunked = update.getParams();
  }
  if (auto convert = dyn_cast<ConvertOp>(op))
    chunked = convert.getInputs();
  int vec = kVector;
  if (chunked) {
    vec = vectorWidth(*chunked);
    emitChunkTables(os, symbol, *chunked);
  }
  if (isa<GradNormOp>(op))
    os << "__device__ double " << symbol << "_partials[" << kNormBlocks
       << "];\n"
       << "__device__ unsigned " << symbol << "_arrivals;\n";
  emitSignature(os, op, symbol, kThreads);
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](LRScheduleOp op) { return emitLRSchedule(op, os); })
          .Case(
              [&](GradNormOp op) { return emitGradNorm(op, symbol, vec, os); })
          .Case([&](AdamWUpdateOp op) {
            return emitAdamWUpdate(op, symbol, vec, os);
          })
          .Case([&](ConvertOp op) { return emitConvert(op, symbol, vec, os); })
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
