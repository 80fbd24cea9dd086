//===- CudaSimpleKernels.cpp - Row-wise and elementwise kernels -----------===//
//
// embedding, rmsnorm, rope, kv_cache_write, silu, mul, add, cross_entropy
// and pack_weights, and the backward ops rope_grad, silu_grad and
// swiglu_grad: memory-bound loops, one block per row (or per row and
// column chunk), computed in f32 and rounded to the element type once, in
// llama2.c's order of operations. The fused pipeline only uses embedding
// and pack_weights (once, at load time); the rest serve unfused programs.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {
namespace {

/// Elements per block along a row of the elementwise and packing kernels.
constexpr int64_t kColumnChunk = 2048;

/// Shapes every simple kernel needs: the row count and the static width of
/// the tensor that drives the grid.
struct RowShape {
  Rows rows;
  int64_t width = 0;
};

FailureOr<RowShape> rowShape(Operation *op, Value driver) {
  RankedTensorType type = tensorType(driver);
  FailureOr<Rows> rows = rowsOf(op, type);
  FailureOr<int64_t> width = staticDim(op, type, type.getRank() - 1);
  if (failed(rows) || failed(width))
    return failure();
  return RowShape{*rows, *width};
}

/// The tensor whose rows a kernel's blocks walk.
Value driverOf(Operation *op) {
  if (isa<PackWeightsOp, EmbeddingOp>(op))
    return op->getResult(0);
  if (auto write = dyn_cast<KVCacheWriteOp>(op))
    return write.getValue();
  return op->getOperand(0);
}

void emitRowHeader(raw_ostream &os, const RowShape &shape) {
  os << "  constexpr int F = " << shape.width << ", THREADS = 256;\n"
     << "  const long long rows = " << shape.rows.expr << ";\n"
     << "  const long long r = blockIdx.x;\n"
     << "  if (r >= rows)\n"
     << "    return;\n";
}

LogicalResult emitEmbedding(EmbeddingOp op, const RowShape &shape,
                            raw_ostream &os) {
  FailureOr<Elem> table = elemOf(op, op.getTable()),
                  out = elemOf(op, op.getResult());
  FailureOr<int64_t> vocab = staticDim(op, tensorType(op.getTable()), 0);
  if (failed(table) || failed(out) || failed(vocab))
    return failure();
  emitRowHeader(os, shape);
  emitBuffer(os, "table", 0, cudaType(*table), true);
  emitBuffer(os, "tokens", 1, "int", true);
  emitBuffer(os, "out", 2, cudaType(*out), false);
  // A kernel cannot report errors: a token outside the vocabulary reads as
  // a row of zeros instead of memory outside the table.
  os << "  const int token = tokens[r];\n"
     << "  const bool valid = token >= 0 && token < " << *vocab << ";\n"
     << "  for (int i = threadIdx.x; i < F; i += THREADS)\n"
     << "    out[r * F + i] = llamaFromF<" << cudaType(*out)
     << ">(valid ? llamaToF(table[(long long)token * F + i]) : 0.0f);\n";
  return success();
}

LogicalResult emitRMSNorm(RMSNormOp op, const RowShape &shape,
                          raw_ostream &os) {
  FailureOr<Elem> in = elemOf(op, op.getInput()),
                  gain = elemOf(op, op.getGain()),
                  out = elemOf(op, op.getResult());
  if (failed(in) || failed(gain) || failed(out))
    return failure();
  emitRowHeader(os, shape);
  emitBuffer(os, "in", 0, cudaType(*in), true);
  emitBuffer(os, "gain", 1, cudaType(*gain), true);
  emitBuffer(os, "out", 2, cudaType(*out), false);
  os << "  __shared__ float red[THREADS / 32];\n"
     << "  const auto *x = in + r * F;\n"
     << "  float ss = 0.0f;\n"
     << "  for (int i = threadIdx.x; i < F; i += THREADS) {\n"
     << "    const float v = llamaToF(x[i]);\n"
     << "    ss += v * v;\n"
     << "  }\n"
     << "  const float scale = llamaInvRms(llamaBlockSum<THREADS>(ss, red), F, "
     << floatLiteral(op.getEpsilon().convertToDouble()) << ");\n"
     << "  for (int i = threadIdx.x; i < F; i += THREADS)\n"
     << "    out[r * F + i] = llamaFromF<" << cudaType(*out)
     << ">(llamaToF(gain[i]) * (scale * llamaToF(x[i])));\n";
  return success();
}

LogicalResult emitElementwise(Operation *op, const RowShape &shape,
                              raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op->getResult(0));
  if (failed(elem))
    return failure();
  const char *t = cudaType(*elem);
  emitRowHeader(os, shape);
  emitBuffer(os, "a", 0, t, true);
  unsigned outIndex = 1;
  if (!isa<SiLUOp>(op))
    emitBuffer(os, "b", outIndex++, t, true);
  emitBuffer(os, "out", outIndex, t, false);
  std::string value;
  if (isa<SiLUOp>(op))
    value = "val * (1.0f / (1.0f + expf(-val)))";
  else if (isa<MulOp>(op))
    value = "val * llamaToF(b[i])";
  else
    value = "val + llamaToF(b[i])";
  os << "  const int c0 = blockIdx.y * " << kColumnChunk << ";\n"
     << "  const int c1 = c0 + " << kColumnChunk << " < F ? c0 + "
     << kColumnChunk << " : F;\n"
     << "  for (long long i = r * F + c0 + threadIdx.x; i < r * F + c1; "
        "i += THREADS) {\n"
     << "    const float val = llamaToF(a[i]);\n"
     << "    out[i] = llamaFromF<" << t << ">(" << value << ");\n"
     << "  }\n";
  return success();
}

/// rope, and rope_grad: a rotation's gradient is the rotation by the
/// opposite angles, so the two differ only in the sine's sign.
LogicalResult emitRotation(Operation *op, Value input, Value position,
                           int64_t headDim, double theta,
                           llama::RopeStyle style, bool inverse,
                           const RowShape &shape, raw_ostream &os) {
  FailureOr<Elem> in = elemOf(op, input), out = elemOf(op, op->getResult(0));
  FailureOr<std::string> seq = dimExpr(op, tensorType(input), 1);
  if (failed(in) || failed(out) || failed(seq))
    return failure();
  bool adjacent = style == llama::RopeStyle::Adjacent;
  emitRowHeader(os, shape);
  emitBuffer(os, "in", 0, cudaType(*in), true);
  emitBuffer(os, "out", 1, cudaType(*out), false);
  os << "  constexpr int D = " << headDim << ";\n"
     << "  const long long seq = " << *seq << ";\n"
     << "  const int p = " << positionExpr(position) << " + (int)(r % seq);\n"
     << "  for (int i = threadIdx.x; i < F / 2; i += THREADS) {\n"
     << "    const int head = i / (D / 2), pair = i % (D / 2);\n"
     << "    const long long a = r * F + head * D + "
     << (adjacent ? "2 * pair" : "pair") << ";\n"
     << "    const long long c = a + " << (adjacent ? "1" : "D / 2") << ";\n"
     << "    float2 cs = llamaRopeCosSin(p, pair, D, " << floatLiteral(theta)
     << ");\n";
  if (inverse)
    os << "    cs.y = -cs.y;\n";
  os << "    const float v0 = llamaToF(in[a]), v1 = llamaToF(in[c]);\n"
     << "    out[a] = llamaFromF<" << cudaType(*out)
     << ">(v0 * cs.x - v1 * cs.y);\n"
     << "    out[c] = llamaFromF<" << cudaType(*out)
     << ">(v0 * cs.y + v1 * cs.x);\n"
     << "  }\n";
  return success();
}

/// silu_grad and swiglu_grad, elementwise as the forward ops; the
/// arithmetic is the CPU target's (emitSiLUGradElement).
LogicalResult emitSiLUGrads(Operation *op, const RowShape &shape,
                            raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op->getResult(0));
  if (failed(elem))
    return failure();
  const char *t = cudaType(*elem);
  bool swiglu = isa<SwiGLUGradOp>(op);
  emitRowHeader(os, shape);
  for (auto [index, buffer] : llvm::enumerate(siluGradBuffers(swiglu)))
    emitBuffer(os, buffer.name, index, t, buffer.input);
  os << "  const int c0 = blockIdx.y * " << kColumnChunk << ";\n"
     << "  const int c1 = c0 + " << kColumnChunk << " < F ? c0 + "
     << kColumnChunk << " : F;\n"
     << "  for (long long i = r * F + c0 + threadIdx.x; i < r * F + c1; "
        "i += THREADS) {\n";
  emitSiLUGradElement(
      os, "    ", swiglu,
      [](StringRef e) { return ("llamaToF(" + e + ")").str(); },
      [&](StringRef e) {
        return ("llamaFromF<" + Twine(t) + ">(" + e + ")").str();
      },
      "expf");
  os << "  }\n";
  return success();
}

LogicalResult emitKVCacheWrite(KVCacheWriteOp op, const RowShape &shape,
                               raw_ostream &os) {
  FailureOr<Elem> cache = elemOf(op, op.getCache()),
                  value = elemOf(op, op.getValue());
  FailureOr<std::string> seq = dimExpr(op, tensorType(op.getValue()), 1);
  FailureOr<int64_t> capacity = staticDim(op, tensorType(op.getCache()), 1);
  if (failed(cache) || failed(value) || failed(seq) || failed(capacity))
    return failure();
  emitRowHeader(os, shape);
  emitBuffer(os, "value", 1, cudaType(*value), true);
  // The result is the cache operand, updated in place.
  emitBuffer(os, "cache", 2, cudaType(*cache), false);
  // Rows past the capacity are dropped rather than written out of bounds.
  os << "  constexpr long long CAP = " << *capacity << ";\n"
     << "  const long long seq = " << *seq << ";\n"
     << "  const long long p = (long long)" << positionExpr(op.getPosition())
     << " + r % seq;\n"
     << "  if (p < 0 || p >= CAP)\n"
     << "    return;\n"
     << "  const long long dst = ((r / seq) * CAP + p) * F;\n"
     << "  for (int i = threadIdx.x; i < F; i += THREADS)\n"
     << "    cache[dst + i] = llamaFromF<" << cudaType(*cache)
     << ">(llamaToF(value[r * F + i]));\n";
  return success();
}

LogicalResult emitCrossEntropy(CrossEntropyOp op, StringRef symbol,
                               const RowShape &shape, raw_ostream &os) {
  FailureOr<Elem> logits = elemOf(op, op.getLogits());
  if (failed(logits))
    return failure();
  emitRowHeader(os, shape);
  emitBuffer(os, "logits", 0, cudaType(*logits), true);
  emitBuffer(os, "targets", 1, "int", true);
  emitBuffer(os, "weights", 2, "float", true);
  emitBuffer(os, "out", 3, "float", false);
  // Logits a load in the softmax's one pass (llamaRowSoftmaxStats).
  os << "  constexpr int VEC = " << vectorElements(shape.width, *logits)
     << ";\n";
  // One block per row adds weight * loss and the weight to two f64 sums;
  // the last block to arrive divides and resets them for the next launch.
  // Masked rows (weight 0) are skipped; a target outside the vocabulary
  // with a nonzero weight makes the loss NaN rather than read out of bounds.
  os << "  double *sums = " << symbol << "_sums;\n"
     << "  unsigned *arrivals = &" << symbol << "_arrivals;\n"
     << R"BODY(  __shared__ float red[THREADS / 32];
  __shared__ bool isLast;
  const float weight = weights[r];
  const int target = targets[r];
  if (weight != 0.0f) { // uniform across the block
    const auto *x = logits + r * F;
    const float2 stats = llamaRowSoftmaxStats<THREADS, VEC>(x, F, red);
    const float mx = stats.x, sum = stats.y;
    if (threadIdx.x == 0) {
      const float loss = target < 0 || target >= F
                             ? __int_as_float(0x7fc00000)
                             : mx + logf(sum) - llamaToF(x[target]);
      atomicAdd(&sums[0], (double)weight * loss);
      atomicAdd(&sums[1], (double)weight);
    }
  }
  if (threadIdx.x == 0) {
    __threadfence();
    isLast = atomicAdd(arrivals, 1u) == (unsigned)(rows - 1);
  }
  __syncthreads();
  if (!isLast || threadIdx.x != 0)
    return;
  __threadfence();
  const double total = __longlong_as_double(
      (long long)atomicExch((unsigned long long *)&sums[0], 0ull));
  const double weightSum = __longlong_as_double(
      (long long)atomicExch((unsigned long long *)&sums[1], 0ull));
  out[0] = weightSum == 0.0 ? 0.0f : (float)(total / weightSum);
  *arrivals = 0;
)BODY";
  return success();
}

LogicalResult emitPackWeights(PackWeightsOp op, const RowShape &shape,
                              raw_ostream &os) {
  FailureOr<Elem> out = elemOf(op, op.getResult());
  if (failed(out))
    return failure();
  std::optional<Elem> gain;
  if (Value g = op.getGain()) {
    FailureOr<Elem> elem = elemOf(op, g);
    if (failed(elem))
      return failure();
    gain = *elem;
  }
  emitRowHeader(os, shape);
  unsigned count = op.getWeights().size();
  if (gain)
    emitBuffer(os, "gain", count, cudaType(*gain), true);
  emitBuffer(os, "out", count + (gain ? 1 : 0), cudaType(*out), false);
  // Runs once when a checkpoint is bound: written for clarity. Row r of the
  // result is row r - offset of the weight whose rows hold it.
  os << "  const void *src;\n"
     << "  long long row;\n";
  int64_t offset = 0;
  for (auto [i, w] : llvm::enumerate(op.getWeights())) {
    FailureOr<int64_t> rows = staticDim(op, tensorType(w), 0);
    FailureOr<Elem> elem = elemOf(op, w);
    if (failed(rows) || failed(elem))
      return failure();
    if (*elem != *out)
      return op->emitOpError() << "packs weights of different element types";
    os << "  " << (i ? "else if" : "if") << " (r < " << offset + *rows
       << ") {\n"
       << "    src = args.buffers[" << i << "];\n"
       << "    row = r - " << offset << ";\n"
       << "  }\n";
    offset += *rows;
  }
  os << "  else\n"
     << "    return;\n";
  std::string t = cudaType(*out);
  os << "  const " << t << " *w = (const " << t << " *)src;\n"
     << "  const int c0 = blockIdx.y * " << kColumnChunk << ";\n"
     << "  const int c1 = c0 + " << kColumnChunk << " < F ? c0 + "
     << kColumnChunk << " : F;\n"
     << "  for (int c = c0 + threadIdx.x; c < c1; c += THREADS)\n"
     << "    out[r * F + c] = "
     << (gain ? "llamaFromF<" + t +
                    ">(llamaToF(w[row * F + c]) * llamaToF(gain[c]))"
              : std::string("w[row * F + c]"))
     << ";\n";
  return success();
}

} // namespace

LogicalResult emitSimpleKernel(Operation *op, StringRef symbol,
                               raw_ostream &os) {
  FailureOr<RowShape> shape = rowShape(op, driverOf(op));
  if (failed(shape))
    return failure();
  if (isa<CrossEntropyOp>(op))
    os << "\n__device__ double " << symbol << "_sums[2];\n"
       << "__device__ unsigned " << symbol << "_arrivals;\n";
  emitSignature(os, op, symbol, 256);
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](EmbeddingOp op) { return emitEmbedding(op, *shape, os); })
          .Case([&](RMSNormOp op) { return emitRMSNorm(op, *shape, os); })
          .Case([&](RoPEOp op) {
            return emitRotation(op, op.getInput(), op.getPosition(),
                                op.getHeadDim(),
                                op.getTheta().convertToDouble(), op.getStyle(),
                                /*inverse=*/false, *shape, os);
          })
          .Case([&](RoPEGradOp op) {
            return emitRotation(op, op.getDy(), op.getPosition(),
                                op.getHeadDim(),
                                op.getTheta().convertToDouble(), op.getStyle(),
                                /*inverse=*/true, *shape, os);
          })
          .Case<SiLUGradOp, SwiGLUGradOp>(
              [&](Operation *op) { return emitSiLUGrads(op, *shape, os); })
          .Case([&](KVCacheWriteOp op) {
            return emitKVCacheWrite(op, *shape, os);
          })
          .Case([&](CrossEntropyOp op) {
            return emitCrossEntropy(op, symbol, *shape, os);
          })
          .Case(
              [&](PackWeightsOp op) { return emitPackWeights(op, *shape, os); })
          .Case<SiLUOp, MulOp, AddOp>(
              [&](Operation *op) { return emitElementwise(op, *shape, os); })
          .Default([&](Operation *op) {
            return op->emitOpError() << "has no CUDA kernel";
          });
  os << "}\n";
  return result;
}

FailureOr<artifact::LaunchGeometry> simpleGeometry(Operation *op) {
  FailureOr<RowShape> shape = rowShape(op, driverOf(op));
  if (failed(shape))
    return failure();
  // One block per row; the elementwise and packing kernels also split the
  // row into chunks along y.
  bool chunked =
      isa<SiLUOp, MulOp, AddOp, PackWeightsOp, SiLUGradOp, SwiGLUGradOp>(op);
  artifact::LaunchGeometry g =
      fixedGrid(1, chunked ? ceilDiv(shape->width, kColumnChunk) : 1, 1, 256);
  setRowGrid(g, 0, shape->rows, 1);
  return g;
}

} // namespace llamac::codegen::cuda
