//===- CudaMatmulGrad.cpp - The backward GEMMs of a matmul ----------------===//
//
// matmul_grad of y = x Wᵀ computes two independent GEMMs in one launch:
// dx = dy W ([rows, K], summing over the N outputs) and dW = dyᵀ x ([N, K],
// summing over the rows). The grid's y blocks cover dW's row tiles first,
// then dx's, so neither waits for the other and no element is summed by
// two blocks: the sums are in order and the same every step.
//
// 16-bit models whose K and N are multiples of 8 run on the tensor cores
// (CudaTensorCoreMatmulGrad.cpp: 128 x 256 wgmma tiles on sm_90a, which have
// a launch geometry of their own, and 128 x 128 mma.sync tiles elsewhere);
// the rest 128 x 128 tiles staged in f32 and multiplied on the tensor
// cores in tf32, 3xTF32 for f32 operands (llamaGemmTile128 in the prelude,
// shaped as the forward TF32 GEMM), which is correct for every dtype and
// shape.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaEmitter.h"
#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cuda {
namespace {

struct MatmulGradShape {
  Rows rows;
  int64_t k = 0, n = 0;
  Elem x = Elem::F32, weight = Elem::F32, dy = Elem::F32;

  /// One 16-bit type throughout, and rows of whole 16-byte chunks.
  bool tensorCores() const {
    return (x == Elem::BF16 || x == Elem::F16) && weight == x && dy == x &&
           k % 8 == 0 && n % 8 == 0;
  }
};

FailureOr<MatmulGradShape> shapeOf(MatmulGradOp op) {
  FailureOr<Rows> rows = rowsOf(op, tensorType(op.getInput()));
  FailureOr<int64_t> n = staticDim(op, tensorType(op.getWeight()), 0);
  FailureOr<int64_t> k = staticDim(op, tensorType(op.getWeight()), 1);
  FailureOr<Elem> x = elemOf(op, op.getInput()),
                  weight = elemOf(op, op.getWeight()),
                  dy = elemOf(op, op.getDy());
  if (failed(rows) || failed(n) || failed(k) || failed(x) || failed(weight) ||
      failed(dy))
    return failure();
  return MatmulGradShape{*rows, *k, *n, *x, *weight, *dy};
}

} // namespace

LogicalResult emitMatmulGradKernel(MatmulGradOp op, StringRef symbol,
                                   raw_ostream &os) {
  FailureOr<MatmulGradShape> shape = shapeOf(op);
  if (failed(shape))
    return failure();
  const char *t = cudaType(shape->x), *tw = cudaType(shape->weight);
  // One tensor-core block per SM, as the forward GEMM: on sm_90a its 193
  // KiB of tiles allow no second, and it has the same loader warpgroup.
  if (shape->tensorCores())
    emitSignature(os, op, symbol, "LLAMA_TENSOR_CORE_GEMM_THREADS", "1");
  else
    emitSignature(os, op, symbol, 256);
  os << "  typedef " << t << " TX;\n"
     << "  constexpr long long K = " << shape->k << ", N = " << shape->n
     << ", TILE = " << kGradTile << ";\n"
     << "  constexpr int WEIGHT_TILES = " << ceilDiv(shape->n, kGradTile)
     << ";\n"
     << "  const long long rows = " << shape->rows.expr << ";\n";
  emitBuffer(os, "x", 0, t, true);
  emitBuffer(os, "w", 1, tw, true);
  emitBuffer(os, "dy", 2, cudaType(shape->dy), true);
  emitBuffer(os, "dx", 3, t, false);
  emitBuffer(os, "dw", 4, tw, false);
  if (shape->tensorCores()) {
    emitTensorCoreMatmulGrad(os);
    return success();
  }
  os << R"BODY(  float acc[8][8];
  const long long n0 = blockIdx.x * TILE;
  if (blockIdx.y < WEIGHT_TILES) {
    // dW[m, n] = sum_r dy[r, m] x[r, n]: A is dy transposed.
    const long long m0 = blockIdx.y * TILE;
    llamaGemmTile128<true>(dy, N, N, x, K, K, rows, m0, n0, acc);
    llamaStoreTile128(dw, N, K, m0, n0, acc);
  } else {
    // dx[m, n] = sum_j dy[m, j] W[j, n].
    const long long m0 = (blockIdx.y - WEIGHT_TILES) * TILE;
    if (m0 >= rows)
      return;
    llamaGemmTile128<false>(dy, N, rows, w, K, K, N, m0, n0, acc);
    llamaStoreTile128(dx, rows, K, m0, n0, acc);
  }
}
)BODY";
  return success();
}

FailureOr<artifact::LaunchGeometry> matmulGradGeometry(MatmulGradOp op) {
  FailureOr<MatmulGradShape> shape = shapeOf(op);
  if (failed(shape))
    return failure();
  // x: K's column tiles; y: N's row tiles of dW, then the rows' tiles of dx.
  const int64_t tile = kGradTile;
  artifact::LaunchGeometry g = fixedGrid(ceilDiv(shape->k, tile), 1, 1, 256);
  if (shape->rows.constant) {
    g.gridBase[1] =
        ceilDiv(shape->n, tile) + ceilDiv(*shape->rows.constant, tile);
  } else {
    g.gridBase[1] = ceilDiv(shape->n, tile);
    g.rowsPerBlock[1] = tile;
  }
  if (shape->tensorCores())
    g.sharedBytes = kGradMmaSyncSharedBytes;
  return g;
}

std::optional<artifact::LaunchGeometry>
matmulGradWgmmaGeometry(MatmulGradOp op) {
  FailureOr<MatmulGradShape> shape = shapeOf(op);
  if (failed(shape) || !shape->tensorCores())
    return std::nullopt;
  FailureOr<artifact::LaunchGeometry> g = matmulGradGeometry(op);
  if (failed(g))
    return std::nullopt;
  // K's column tiles are twice as wide; the row tiles on y are the same,
  // but for dW's, padded to whole clusters (the tiles the kernel walks).
  g->gridBase[0] = ceilDiv(shape->k, kGradWgmmaTileCols);
  const int64_t weightTiles = ceilDiv(shape->n, kGradTile);
  g->gridBase[1] += static_cast<uint32_t>(
      ceilDiv(weightTiles, kWgmmaClusterBlocks) * kWgmmaClusterBlocks -
      weightTiles);
  g->block[0] = kWgmmaGemmThreads;
  g->sharedBytes = kGradWgmmaSharedBytes;
  g->persistentBlocksPerSm = kWgmmaPersistentBlocksPerSm;
  g->clusterBlocks = kWgmmaClusterBlocks;
  return *g;
}

std::vector<artifact::TensorMapSpec> matmulGradTensorMaps(MatmulGradOp op) {
  FailureOr<MatmulGradShape> shape = shapeOf(op);
  if (failed(shape) || !shape->tensorCores())
    return {};
  // Only sm_90a loads by TMA: boxes of 64 elements (128-byte rows) by 64
  // rows, in the order the kernel indexes args.tensorMaps: x, W, dy.
  const uint32_t box = kGradWgmmaTileK;
  return {{/*operand=*/0, box, box, 128},
          {/*operand=*/1, box, box, 128},
          {/*operand=*/2, box, box, 128}};
}

} // namespace llamac::codegen::cuda
