//===- CudaGradKernels.cpp - Backward kernels that reduce across rows -----===//
//
// embedding_grad, rmsnorm_grad and cross_entropy_grad: each sums something
// over every row of the batch (a token's rows into its table row, the gain
// gradient over rows, the loss weights), which one launch must do without
// atomics on the values themselves, so that a step gives the same bits
// every time:
//   * embedding_grad gives each thread whole table elements and adds the
//     rows of their tokens in order, as the CPU target does; a block first
//     lists which rows of a chunk hold its tokens, so that only those are
//     walked (a few in thousands);
//   * rmsnorm_grad runs a fixed grid whose blocks leave per-block column
//     sums, added in block order by the last block to finish;
//   * cross_entropy_grad has every block sum the weights itself, in a fixed
//     order.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"

#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {
namespace {

constexpr int kThreads = 256;
/// Table rows per block of embedding_grad: its accumulators, one column
/// per thread, are 32 KiB of shared memory.
constexpr int64_t kVocabChunk = 32;
/// Token rows embedding_grad's blocks scan at a time, 4 per thread.
constexpr int64_t kTokenChunk = 1024;
/// Blocks of rmsnorm_grad, each leaving one row of gain partials.
constexpr int64_t kNormBlocks = 64;

LogicalResult emitEmbeddingGrad(EmbeddingGradOp op, raw_ostream &os) {
  RankedTensorType table = tensorType(op.getResult());
  FailureOr<Elem> elem = elemOf(op, op.getResult()),
                  dyElem = elemOf(op, op.getDy());
  FailureOr<int64_t> vocab = staticDim(op, table, 0);
  FailureOr<int64_t> dim = staticDim(op, table, 1);
  FailureOr<Rows> rows = rowsOf(op, tensorType(op.getDy()));
  if (failed(elem) || failed(dyElem) || failed(vocab) || failed(dim) ||
      failed(rows))
    return failure();
  os << "  constexpr int V = " << *vocab << ", F = " << *dim
     << ", VC = " << kVocabChunk << ", THREADS = " << kThreads
     << ", CHUNK = " << kTokenChunk << ", PER = CHUNK / THREADS;\n"
     << "  const long long rows = " << rows->expr << ";\n";
  emitBuffer(os, "tokens", 0, "int", true);
  emitBuffer(os, "dy", 1, cudaType(*dyElem), true);
  emitBuffer(os, "out", 2, cudaType(*elem), false);
  os << "  typedef " << cudaType(*elem) << " OUT;\n";
  // Block (x, y) owns table rows [x VC, x VC + VC) and one column per
  // thread; tokens outside the vocabulary add nothing, as on the CPU.
  os << R"BODY(  __shared__ float acc[VC][THREADS];
  // The rows of the current chunk that hold one of the block's tokens, in
  // row order: thread t checks rows t PER + [0, PER), and the prefix sum of
  // the counts places its hits after those of the threads before it.
  __shared__ int hits[CHUNK], counts[THREADS], total;
  const int tid = threadIdx.x, v0 = blockIdx.x * VC;
  const int c = blockIdx.y * THREADS + tid;
  for (int k = 0; k < VC; ++k)
    acc[k][tid] = 0.0f;
  auto ours = [&](int token) {
    return token >= v0 && token < v0 + VC && token < V;
  };
  for (long long r0 = 0; r0 < rows; r0 += CHUNK) {
    int n = 0;
    for (int i = 0; i < PER; ++i) {
      const long long r = r0 + tid * PER + i;
      n += r < rows && ours(tokens[r]) ? 1 : 0;
    }
    counts[tid] = n;
    __syncthreads();
    if (tid == 0) {
      int sum = 0;
      for (int t = 0; t < THREADS; ++t) {
        const int count = counts[t];
        counts[t] = sum;
        sum += count;
      }
      total = sum;
    }
    __syncthreads();
    int at = counts[tid];
    for (int i = 0; i < PER; ++i) {
      const long long r = r0 + tid * PER + i;
      if (r < rows && ours(tokens[r]))
        hits[at++] = tid * PER + i;
    }
    __syncthreads();
    if (c < F)
      for (int j = 0; j < total; ++j) {
        const long long r = r0 + hits[j];
        acc[tokens[r] - v0][tid] += llamaToF(dy[r * F + c]);
      }
    // Every thread is done with this chunk's list before the next one.
    __syncthreads();
  }
  if (c < F)
    for (int k = 0; k < VC && v0 + k < V; ++k)
      out[(long long)(v0 + k) * F + c] = llamaFromF<OUT>(acc[k][tid]);
)BODY";
  return success();
}

LogicalResult emitRMSNormGrad(RMSNormGradOp op, raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getInput()),
                  gain = elemOf(op, op.getGain());
  RankedTensorType type = tensorType(op.getInput());
  FailureOr<int64_t> features = staticDim(op, type, type.getRank() - 1);
  FailureOr<Rows> rows = rowsOf(op, type);
  if (failed(elem) || failed(gain) || failed(features) || failed(rows))
    return failure();
  const char *t = cudaType(*elem);
  os << "  constexpr int F = " << *features << ", THREADS = " << kThreads
     << ", BLOCKS = " << kNormBlocks << ", CPT = (F + THREADS - 1) / THREADS;\n"
     << "  const long long rows = " << rows->expr << ";\n";
  emitBuffer(os, "in", 0, t, true);
  emitBuffer(os, "gain", 1, cudaType(*gain), true);
  emitBuffer(os, "dy", 2, t, true);
  emitBuffer(os, "dx", 3, t, false);
  emitBuffer(os, "dgain", 4, cudaType(*gain), false);
  // With r = 1/rms(x): dx = r (g dy - x r² mean(g dy x)), and the gain's
  // gradient is the column sum of dy x r. Each thread keeps its columns'
  // share of that sum over the block's rows in registers (only those: a
  // row's x and dy are read again after its sums, from L1, so that a
  // 70B-wide row does not hold 3 x 32 more registers a thread).
  os << "  float *partials = llama_rmsnorm_grad_partials_" << *features << ";\n"
     << "  unsigned *arrivals = &llama_rmsnorm_grad_arrivals_" << *features
     << ";\n"
     << "  const float eps = "
     << floatLiteral(op.getEpsilon().convertToDouble()) << ";\n";
  os << "  typedef " << t << " T;\n"
     << "  typedef " << cudaType(*gain) << " G;\n";
  os << R"BODY(  __shared__ float red[2][THREADS / 32];
  __shared__ bool isLast;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float gacc[CPT];
#pragma unroll
  for (int k = 0; k < CPT; ++k)
    gacc[k] = 0.0f;
  for (long long r = blockIdx.x; r < rows; r += BLOCKS) {
    float ss = 0.0f, dot = 0.0f;
#pragma unroll
    for (int k = 0; k < CPT; ++k) {
      const int i = threadIdx.x + k * THREADS;
      if (i < F) {
        const float v = llamaToF(in[r * F + i]);
        ss += v * v;
        dot += llamaToF(gain[i]) * llamaToF(dy[r * F + i]) * v;
      }
    }
    // Both block sums at once, each in llamaBlockSum's order: one pair of
    // barriers a row instead of two.
    ss = llamaWarpSum(ss);
    dot = llamaWarpSum(dot);
    __syncthreads();
    if (lane == 0) {
      red[0][warp] = ss;
      red[1][warp] = dot;
    }
    __syncthreads();
    ss = 0.0f;
    dot = 0.0f;
#pragma unroll
    for (int w = 0; w < THREADS / 32; ++w) {
      ss += red[0][w];
      dot += red[1][w];
    }
    const float rinv = 1.0f / sqrtf(ss / (float)F + eps);
    const float scale = rinv * rinv * dot / (float)F;
#pragma unroll
    for (int k = 0; k < CPT; ++k) {
      const int i = threadIdx.x + k * THREADS;
      if (i < F) {
        const float v = llamaToF(in[r * F + i]);
        const float d = llamaToF(dy[r * F + i]);
        dx[r * F + i] = llamaFromF<T>(rinv * (llamaToF(gain[i]) * d - v * scale));
        gacc[k] += d * v * rinv;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < CPT; ++k) {
    const int i = threadIdx.x + k * THREADS;
    if (i < F)
      partials[blockIdx.x * F + i] = gacc[k];
  }
  // Every thread's partials are visible before its block arrives; the last
  // block adds them in block order and resets the counter for the next
  // launch (launches of one kernel run in stream order).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0)
    isLast = atomicAdd(arrivals, 1u) == BLOCKS - 1;
  __syncthreads();
  if (!isLast)
    return;
  __threadfence();
  // A thread's columns side by side, so that their loads of a block's
  // partials are in flight together rather than one add waiting on each.
  float sum[CPT];
#pragma unroll
  for (int k = 0; k < CPT; ++k)
    sum[k] = 0.0f;
#pragma unroll 4
  for (int b = 0; b < BLOCKS; ++b) {
#pragma unroll
    for (int k = 0; k < CPT; ++k) {
      const int i = threadIdx.x + k * THREADS;
      if (i < F)
        sum[k] += partials[b * F + i];
    }
  }
#pragma unroll
  for (int k = 0; k < CPT; ++k) {
    const int i = threadIdx.x + k * THREADS;
    if (i < F)
      dgain[i] = llamaFromF<G>(sum[k]);
  }
  if (threadIdx.x == 0)
    *arrivals = 0;
)BODY";
  return success();
}

LogicalResult emitCrossEntropyGrad(CrossEntropyGradOp op, raw_ostream &os) {
  FailureOr<Elem> logits = elemOf(op, op.getLogits()),
                  out = elemOf(op, op.getResult());
  RankedTensorType type = tensorType(op.getLogits());
  FailureOr<int64_t> vocab = staticDim(op, type, type.getRank() - 1);
  FailureOr<Rows> rows = rowsOf(op, type);
  if (failed(logits) || failed(out) || failed(vocab) || failed(rows))
    return failure();
  const char *t = cudaType(*out);
  // Logits a load, as the loss kernel reads them (the same sums), and
  // gradients a store: the widest that divides a row.
  const int64_t vec = vectorElements(*vocab, *logits);
  const int64_t outVec = std::min(vec, vectorElements(*vocab, *out));
  os << "  constexpr int F = " << *vocab << ", THREADS = " << kThreads
     << ", VEC = " << vec << ", OUT_VEC = " << outVec << ";\n"
     << "  const long long rows = " << rows->expr << ";\n"
     << "  const long long r = blockIdx.x;\n"
     << "  if (r >= rows)\n"
     << "    return;\n";
  emitBuffer(os, "logits", 0, cudaType(*logits), true);
  emitBuffer(os, "targets", 1, "int", true);
  emitBuffer(os, "weights", 2, "float", true);
  emitBuffer(os, "out", 3, t, false);
  // The forward kernel's weight sum (f64, zeros skipped), so that this is
  // the gradient of exactly the loss it computes: d loss / d logit_i =
  // w / sum(w) (softmax_i - [i == target]).
  os << "  __shared__ float red[THREADS / 32];\n"
     << "  __shared__ double wred[THREADS / 32];\n"
     << "  double part = 0.0;\n"
     << "  for (long long i = threadIdx.x; i < rows; i += THREADS)\n"
     << "    if (weights[i] != 0.0f)\n"
     << "      part += weights[i];\n"
     << "  const double weightSum = llamaBlockSum<THREADS>(part, wred);\n"
     << "  const float w = weights[r];\n"
     << "  const int target = targets[r];\n"
     << "  const auto *x = logits + r * F;\n"
     << "  auto *dx = out + r * F;\n"
     << "  if (w == 0.0f || weightSum == 0.0) {\n"
     << "    for (int i = threadIdx.x; i < F; i += THREADS)\n"
     << "      dx[i] = llamaFromF<" << t << ">(0.0f);\n"
     << "    return;\n"
     << "  }\n"
     << "  if (target < 0 || target >= F) {\n"
     << "    for (int i = threadIdx.x; i < F; i += THREADS)\n"
     << "      dx[i] = llamaFromF<" << t << ">(__int_as_float(0x7fc00000));\n"
     << "    return;\n"
     << "  }\n"
     << R"BODY(  // The forward kernel's softmax (the same bits), then a second pass
  // that writes OUT_VEC gradients at a time.
  const float2 stats = llamaRowSoftmaxStats<THREADS, VEC>(x, F, red);
  const float mx = stats.x;
  const float scaled = (float)(w / weightSum), c = scaled / stats.y;
  for (int i = threadIdx.x * OUT_VEC; i < F; i += THREADS * OUT_VEC) {
    float v[OUT_VEC];
    llamaLoad(x + i, v);
#pragma unroll
    for (int e = 0; e < OUT_VEC; ++e)
      v[e] = c * expf(v[e] - mx) - (i + e == target ? scaled : 0.0f);
    llamaStore(dx + i, v);
  }
)BODY";
  return success();
}

} // namespace

LogicalResult emitGradKernel(Operation *op, StringRef symbol, raw_ostream &os) {
  if (auto norm = dyn_cast<RMSNormGradOp>(op)) {
    FailureOr<int64_t> features =
        staticDim(op, tensorType(norm.getInput()),
                  tensorType(norm.getInput()).getRank() - 1);
    if (failed(features))
      return failure();
    // One scratch for every rmsnorm_grad of a width, not one each (70B's
    // 161 would hold 338 MB): a session runs its kernels one at a time in
    // one stream (a kernel waits for the previous one before it touches
    // memory), and the last block of each launch resets the count.
    const std::string width = std::to_string(*features);
    os << "\n#ifndef LLAMA_RMSNORM_GRAD_SCRATCH_" << width << "\n"
       << "#define LLAMA_RMSNORM_GRAD_SCRATCH_" << width << "\n"
       << "__device__ float llama_rmsnorm_grad_partials_" << width << "["
       << kNormBlocks * *features << "];\n"
       << "__device__ unsigned llama_rmsnorm_grad_arrivals_" << width << ";\n"
       << "#endif\n";
  }
  emitSignature(os, op, symbol, kThreads);
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](EmbeddingGradOp op) { return emitEmbeddingGrad(op, os); })
          .Case([&](RMSNormGradOp op) { return emitRMSNormGrad(op, os); })
          .Case([&](CrossEntropyGradOp op) {
            return emitCrossEntropyGrad(op, os);
          })
          .Default([&](Operation *op) {
            return op->emitOpError() << "has no CUDA kernel";
          });
  os << "}\n";
  return result;
}

FailureOr<artifact::LaunchGeometry> gradGeometry(Operation *op) {
  if (auto embedding = dyn_cast<EmbeddingGradOp>(op)) {
    RankedTensorType table = tensorType(embedding.getResult());
    FailureOr<int64_t> vocab = staticDim(op, table, 0);
    FailureOr<int64_t> dim = staticDim(op, table, 1);
    if (failed(vocab) || failed(dim))
      return failure();
    return fixedGrid(ceilDiv(*vocab, kVocabChunk), ceilDiv(*dim, kThreads), 1,
                     kThreads);
  }
  if (isa<RMSNormGradOp>(op))
    return fixedGrid(kNormBlocks, 1, 1, kThreads);
  if (auto loss = dyn_cast<CrossEntropyGradOp>(op)) {
    FailureOr<Rows> rows = rowsOf(op, tensorType(loss.getLogits()));
    if (failed(rows))
      return failure();
    artifact::LaunchGeometry g = fixedGrid(1, 1, 1, kThreads);
    setRowGrid(g, 0, *rows, 1);
    return g;
  }
  return op->emitOpError() << "has no CUDA kernel";
}

} // namespace llamac::codegen::cuda
