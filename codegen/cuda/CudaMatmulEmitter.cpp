//===- CudaMatmulEmitter.cpp - GEMM kernels: plan, epilogue, geometry -----===//
//
// y = x · Wᵀ with W stored [N][K] (both operands K-contiguous, the "TN"
// GEMM tensor cores want). The RMSNorm prologue only computes a scale per
// activation row, since the norm commutes with the product:
// dot(W[n], x / rms) = dot(W[n], x) / rms; the gain is folded into W by
// pack_weights at load time, or (training) multiplied into x on the way in.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"
#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {

FailureOr<MatmulPlan> planMatmul(Operation *op) {
  MatmulPlan plan;
  plan.op = op;
  Value input, weight;
  if (auto matmul = dyn_cast<MatmulOp>(op)) {
    input = matmul.getInput();
    weight = matmul.getWeight();
  } else {
    auto fused = cast<FusedMatmulOp>(op);
    input = fused.getInput();
    weight = fused.getWeight();
    if (fused.getNormEpsilon())
      plan.epsilon = fused.getNormEpsilon()->convertToDouble();
    for (auto [operand, slot] :
         {std::make_pair(fused.getGain(), &plan.gain),
          std::make_pair(fused.getResidual(), &plan.residual)}) {
      if (!operand)
        continue;
      FailureOr<Elem> elem = elemOf(op, operand);
      if (failed(elem))
        return failure();
      *slot = *elem;
    }
    plan.epilogue = fused.getEpilogue();
    plan.segments.assign(fused.getSegments().begin(),
                         fused.getSegments().end());
  }
  FailureOr<Elem> in = elemOf(op, input), w = elemOf(op, weight);
  FailureOr<int64_t> n = staticDim(op, tensorType(weight), 0);
  FailureOr<int64_t> k = staticDim(op, tensorType(weight), 1);
  FailureOr<Rows> rows = rowsOf(op, tensorType(input));
  if (failed(in) || failed(w) || failed(n) || failed(k) || failed(rows))
    return failure();
  plan.input = *in;
  plan.weight = *w;
  plan.n = *n;
  plan.k = *k;
  plan.rows = *rows;
  if (plan.segments.empty())
    plan.segments = {plan.n};
  for (Value result : op->getResults()) {
    FailureOr<Elem> elem = elemOf(op, result);
    if (failed(elem))
      return failure();
    plan.results.push_back(*elem);
  }

  bool sixteenBit = plan.input == plan.weight && plan.input != Elem::F32;
  if (plan.rows.constant && *plan.rows.constant <= kGemvMaxRows)
    plan.kind = GemmKind::Gemv;
  else if (sixteenBit && plan.k % 8 == 0) // 16-byte cp.async of whole rows
    plan.kind = GemmKind::TensorCore;
  else
    plan.kind = GemmKind::Tf32;
  return plan;
}

void emitOperandsAndFinish(raw_ostream &os, const MatmulPlan &plan) {
  os << "  typedef " << cudaType(plan.input) << " TX;\n"
     << "  typedef " << cudaType(plan.weight) << " TW;\n";
  if (plan.gain)
    os << "  typedef " << cudaType(*plan.gain) << " TG;\n";
  if (plan.residual)
    os << "  typedef " << cudaType(*plan.residual) << " TR;\n";
  for (auto [i, elem] : llvm::enumerate(plan.results))
    os << "  typedef " << cudaType(elem) << " TO" << i << ";\n";
  os << "  constexpr int K = " << plan.k << ", N = " << plan.n
     << ", COLS = " << plan.columns() << ";\n"
     << "  constexpr bool NORM = " << (plan.epsilon ? "true" : "false")
     << ", GAIN = " << (plan.gain ? "true" : "false")
     << ", SWIGLU = " << (plan.swiglu() ? "true" : "false") << ";\n"
     << "  constexpr float EPS = " << floatLiteral(plan.epsilon.value_or(0))
     << ";\n"
     << "  const long long M = " << plan.rows.expr << ";\n";

  unsigned index = 0;
  emitBuffer(os, "x", index++, "TX", true);
  emitBuffer(os, "w", index++, "TW", true);
  if (plan.gain)
    emitBuffer(os, "gain", index++, "TG", true);
  else // named by `if constexpr (GAIN)` branches, which are still checked
    os << "  const float *gain = nullptr;\n"
       << "  (void)gain;\n";
  if (plan.residual)
    emitBuffer(os, "res", index++, "TR", true);
  for (unsigned i = 0; i < plan.results.size(); ++i)
    emitBuffer(os, "out" + std::to_string(i), index++, "TO" + std::to_string(i),
               false);

  // The epilogue of one output: `acc` (and `up`, for SwiGLU) are raw dot
  // products, `scale` the row's 1/rms (1 without a norm).
  os << "  auto finish = [&](long long r, int c, float acc, float up, "
        "float scale) {\n"
     << "    (void)up;\n"
     << "    (void)scale;\n";
  switch (plan.epilogue) {
  case Epilogue::None:
    emitSegmentStores(
        os, plan.segments, "c", [](size_t i, int64_t size, int64_t offset) {
          return "out" + std::to_string(i) + "[r * " + std::to_string(size) +
                 " + (c - " + std::to_string(offset) + ")] = llamaFromF<TO" +
                 std::to_string(i) + ">(acc * scale);";
        });
    break;
  case Epilogue::Residual:
    // The residual is read before the output at the same index is written.
    os << "    const float sum = llamaToF(res[r * N + c]) + acc * scale;\n"
       << "    out0[r * N + c] = llamaFromF<TO0>(sum);\n";
    break;
  case Epilogue::SwiGLU:
    os << "    out0[r * COLS + c] = llamaFromF<TO0>(llamaSwiglu(acc * scale, "
          "up * scale));\n";
    break;
  }
  os << "  };\n";
  if (plan.stagedEpilogue())
    emitChunkFinish(os, plan);
}

void emitChunkFinish(raw_ostream &os, const MatmulPlan &plan) {
  // Output columns c to c + 7 of row r, `v` already scaled (and for SwiGLU
  // gated): the chunk lies in one segment, as every segment is whole
  // chunks. The residual is read before the output is written, as above.
  os << "  auto finish8 = [&](long long r, int c, float (&v)[8]) {\n";
  switch (plan.epilogue) {
  case Epilogue::None:
    emitSegmentStores(os, plan.segments, "c",
                      [](size_t i, int64_t size, int64_t offset) {
                        return "llamaStore(out" + std::to_string(i) +
                               " + r * " + std::to_string(size) + " + (c - " +
                               std::to_string(offset) + "), v);";
                      });
    break;
  case Epilogue::Residual:
    os << "    float sum[8];\n"
       << "    llamaLoad(res + r * N + c, sum);\n"
       << "#pragma unroll\n"
       << "    for (int e = 0; e < 8; ++e)\n"
       << "      sum[e] += v[e];\n"
       << "    llamaStore(out0 + r * N + c, sum);\n";
    break;
  case Epilogue::SwiGLU:
    os << "    llamaStore(out0 + r * COLS + c, v);\n";
    break;
  }
  os << "  };\n";
}

LogicalResult emitMatmulKernel(Operation *op, StringRef symbol,
                               raw_ostream &os) {
  FailureOr<MatmulPlan> plan = planMatmul(op);
  if (failed(plan))
    return failure();
  if (plan->swiglu() && (plan->n % 2 != 0 || plan->segments.size() != 2))
    return op->emitOpError() << "has a SwiGLU epilogue without two equal "
                                "segments";
  // The GEMV prefetches weights before it waits for the previous kernel.
  // One tensor-core block per SM: on sm_90a its 193 KiB of tiles allow no
  // second, and elsewhere its 97 KiB allow none on sm_86 and sm_89. Its
  // sm_90a block has a loader warpgroup besides the 256 threads.
  const bool tensorCores = plan->kind == GemmKind::TensorCore;
  std::string minBlocks = tensorCores ? "1" : "";
  if (plan->kind == GemmKind::Gemv && gemvMinBlocks(*plan) > 0)
    minBlocks = std::to_string(gemvMinBlocks(*plan));
  emitSignature(
      os, op, symbol, tensorCores ? "LLAMA_TENSOR_CORE_GEMM_THREADS" : "256",
      minBlocks,
      plan->kind == GemmKind::Gemv ? GridWait::Deferred : GridWait::AtStart);
  switch (plan->kind) {
  case GemmKind::Gemv:
    emitGemv(os, *plan);
    break;
  case GemmKind::TensorCore:
    emitTensorCoreGemm(os, *plan);
    break;
  case GemmKind::Tf32:
    emitTf32Gemm(os, *plan);
    break;
  }
  os << "}\n";
  return success();
}

FailureOr<artifact::LaunchGeometry> matmulGeometry(Operation *op) {
  FailureOr<MatmulPlan> plan = planMatmul(op);
  if (failed(plan))
    return failure();
  bool swiglu = plan->swiglu();
  switch (plan->kind) {
  case GemmKind::Gemv:
    // 8 warps, gemvSplit of them to a column.
    return fixedGrid(ceilDiv(plan->columns() * gemvSplit(*plan), 8), 1, 1, 256);
  case GemmKind::TensorCore:
  case GemmKind::Tf32: {
    // 128 x 128 tiles of (rows, weight rows); SwiGLU tiles hold 64 gate
    // and 64 up rows, so 64 output columns. The 16-bit tiles' stages are
    // dynamic shared memory, the TF32 tiles' static.
    const bool tf32 = plan->kind == GemmKind::Tf32;
    const int64_t tile = tf32 ? kTf32TileRows : kTensorCoreTileRows;
    artifact::LaunchGeometry g = fixedGrid(
        ceilDiv(plan->columns(), swiglu ? tile / 2 : tile), 1, 1, 256);
    setRowGrid(g, 1, plan->rows, tile);
    g.sharedBytes = tf32 ? 0 : kTensorCoreSharedBytes;
    return g;
  }
  }
  llvm_unreachable("unknown GEMM kind");
}

std::optional<artifact::LaunchGeometry> matmulWgmmaGeometry(Operation *op) {
  FailureOr<MatmulPlan> plan = planMatmul(op);
  if (failed(plan) || plan->kind != GemmKind::TensorCore)
    return std::nullopt;
  // The runtime launches at most a block per tile of this grid. SwiGLU:
  // 128 x 256 tiles of 128 gate and 128 up rows, so 128 output columns.
  // Otherwise the narrow tiles (128 x 128) counted per pair of row tiles,
  // a cluster's, with a block for each of the pair: where they are few
  // the kernel takes them only if every one gets a block
  // (kWgmmaNarrowTileCols), and the wide tiles never need more.
  artifact::LaunchGeometry g;
  if (plan->swiglu()) {
    g = fixedGrid(ceilDiv(plan->columns(), kWgmmaTileCols / 2), 1, 1,
                  kWgmmaGemmThreads);
    setRowGrid(g, 1, plan->rows, kTensorCoreTileRows);
  } else {
    g = fixedGrid(kWgmmaClusterBlocks *
                      ceilDiv(plan->columns(), kWgmmaNarrowTileCols),
                  1, 1, kWgmmaGemmThreads);
    setRowGrid(g, 1, plan->rows, kWgmmaClusterBlocks * kTensorCoreTileRows);
  }
  g.sharedBytes = kWgmmaSharedBytes;
  g.persistentBlocksPerSm = kWgmmaPersistentBlocksPerSm;
  g.clusterBlocks = kWgmmaClusterBlocks;
  return g;
}

std::vector<artifact::TensorMapSpec> matmulTensorMaps(Operation *op) {
  FailureOr<MatmulPlan> plan = planMatmul(op);
  if (failed(plan) || plan->kind != GemmKind::TensorCore)
    return {};
  // Only the sm_90a GEMM loads by TMA. Boxes of 64 of K (128-byte rows): the
  // x tile's 128 rows, and each half of the weight tile's 256 rows (for
  // SwiGLU its 128 gate rows and its 128 up rows), loaded separately: a
  // cluster's CTAs load one half each, for both.
  return {{/*operand=*/0, kTensorCoreTileK, kTensorCoreTileRows, 128},
          {/*operand=*/1, kTensorCoreTileK, kWgmmaWeightBoxRows, 128}};
}

} // namespace llamac::codegen::cuda
