//===- CudaTf32Attention.cpp - f32 flash attention in 3xTF32 --------------===//
//
// Prefill and training attention for f32 models (head size 8 to 128 in
// steps of 8) on the tensor cores: the flash-attention-2 schedule of the
// 16-bit kernel (CudaTensorCoreAttention.cpp) with the products of the
// f32 attention backward (CudaTf32AttentionGrad.cpp). Each product is
// mma.sync.m16n8k8 in tf32 with both f32 operands split into two tf32
// values and three products a block (3xTF32: about 22 bits of each
// operand), so the scores and the output keep f32's accuracy.
//
// A block of 4 warps owns 64 consecutive queries of one head, 16 a warp,
// and walks the visible key rows in tiles of 16, double-buffered in shared
// memory by cp.async. Everything in shared memory is f32, in rows of D + 4
// floats, on which the fragment loads of llamaTf32RowProducts and
// llamaTf32PackedProducts are conflict-free: the block's queries, rotated
// once, and two stages of a key and a value tile. Each warp takes
// S = Q K^T, the online softmax on the accumulators in base 2 (as the
// 16-bit kernel: llamaOnlineMax), and O += P V with the probabilities as
// the A operand where they stand (their k order permuted onto the
// thread's own accumulator columns, so no shuffles). Split fragments take
// twice the registers of 16-bit ones, so the queries are split again at
// each use rather than held.
//
// Why these shapes: 64 queries and two stages of 16-row tiles take 66 KiB
// at head size 128, so an A100 runs two blocks an SM and an H100 three;
// 128 queries (the 16-bit kernel's) with the same tiles would take 99 KiB
// and halve that.
//
// With caches, a launch before this one wrote the call's rotated keys and
// its values to them (CudaAttentionCacheWrite.cpp), so every key row is
// read as stored. Cacheless fused_rope_attention rotates each landed key
// tile in shared memory, with the angles the scalar kernel's
// llamaRopeCosSin computes. Blocks run heaviest (last queries) first.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

bool AttentionPlan::tf32() const {
  if (query != Elem::F32 || key != Elem::F32 || value != Elem::F32 ||
      out != Elem::F32 || (cache && cacheElem != Elem::F32))
    return false;
  return batchConstant && headDim % 8 == 0 && headDim <= 128;
}

void emitTf32Attention(raw_ostream &os, const AttentionPlan &plan,
                       StringRef symbol) {
  // Three blocks an SM where shared memory allows (an H100): at most 168
  // registers a thread. Left to itself, ptxas picks 128 on sm_90a and
  // spills.
  emitSignature(os, plan.op, symbol, kTf32AttentionThreads, "3");
  emitAttentionCommon(os, plan);
  os << "  constexpr int BQ = " << kTf32AttentionQueryRows
     << ", BKV = " << kTf32AttentionKeyRows
     << ", THREADS = " << kTf32AttentionThreads << ";\n";
  os << R"BODY(  constexpr int DP = D + 4, NO = D / 8, NS = BKV / 8;
  static_assert(BQ == 4 * 16, "4 warps of 16 queries");
  // Every key row is read as stored (from the caches, which a launch
  // before this one wrote, or the key operand of plain attention), except
  // in cacheless fused_rope_attention: there every key row is the call's
  // own, rotated here.
  constexpr bool ROTATE_KEYS = ROPE && !CACHE;
  typedef float ST;
  typedef ST Row[DP];
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  // The block's queries, then stage s's keys at qs + BQ + BKV (2 s) and
  // its values right after them.
  Row *const qs = reinterpret_cast<Row *>(sharedRaw);
  auto keyTile = [&](int stage) { return qs + BQ + BKV * (2 * stage); };
  auto valueTile = [&](int stage) { return qs + BQ + BKV * (2 * stage + 1); };
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / GROUP;
  const int s0 = (gridDim.y - 1 - blockIdx.y) * BQ; // heaviest first
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int t4 = lane % 4;
  const float *const ko = CACHE ? (const float *)kc : k;
  const float *const vo = CACHE ? (const float *)vc : v;

)BODY";
  emitCausalLimits(os);
  emitOutputRow(os);
  os << R"BODY(  // Key or value rows n BKV + [0, BKV) of `rows` (L a batch row: the
  // caches' capacity, or the operand's rows) to `tile`, 16 bytes a chunk,
  // zeros past the block's last visible row.
  auto loadRows = [&](int n, Row *tile, const float *rows) {
    constexpr int CHUNKS = BKV * (D / 4);
    const long long first = (long long)b * L * KVF + kvHead * D;
    for (int i = tid; i < CHUNKS; i += THREADS) {
      const int r = i / (D / 4), c = i % (D / 4);
      const int t = n * BKV + r;
      const bool valid = t <= tileLast;
      llamaCpAsync16(llamaSmemAddress(&tile[r][4 * c]),
                     valid ? (const void *)(rows + first + (long long)t * KVF +
                                            4 * c)
                           : (const void *)rows,
                     valid ? 16 : 0);
    }
  };
  // Tile n's keys and values to stage `stage`, one cp.async group.
  auto loadTile = [&](int n, int stage) {
    loadRows(n, keyTile(stage), ko);
    loadRows(n, valueTile(stage), vo);
    llamaCpAsyncCommit();
  };
  if (tiles > 0)
    loadTile(0, 0);

)BODY";
  // The block's queries, rotated, while the first tile lands.
  emitRotatedQueries(os);
  os << R"BODY(  // This thread holds rows w0 + g and w0 + 8 + g of the warp's 16. Tiles
  // past the warp's last visible row skip the arithmetic, and tiles within
  // both of its rows' limits skip the mask.
  const int w0 = s0 + warp * 16, g = lane / 4;
  const int rowLast[2] = {lastVisible(w0 + g), lastVisible(w0 + 8 + g)};
  const int rowsVisible = rowLast[0] < rowLast[1] ? rowLast[0] : rowLast[1];
  const int warpLast =
      w0 >= queries ? -1
                    : lastVisible(w0 + 15 < queries ? w0 + 15 : queries - 1);

  // Scores are kept in base 2: x * log2(e) * scale, so exp(score - max) is
  // exp2(x - max2).
  const float scoreScale = scoreOf(1.0f) * 1.4426950408889634f;
  float o[NO][4] = {}, m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
  for (int n = 0; n < tiles; ++n) {
    const int stage = n & 1, t0 = n * BKV;
    llamaCpAsyncWait<0>();
    // Tile n has landed for every thread (and the queries are staged), and
    // every warp is done with tile n - 1, whose stage takes tile n + 1.
    __syncthreads();
    if (n + 1 < tiles)
      loadTile(n + 1, stage ^ 1);
    if constexpr (ROTATE_KEYS) {
      Row *const kt = keyTile(stage);
      for (int i = tid; i < BKV * (D / 2); i += THREADS) {
        const int r = i / (D / 2), pr = i % (D / 2), t = t0 + r;
        if (t <= tileLast)
          rotatePair(kt[r][firstOf(pr)], kt[r][secondOf(pr)], pr,
                     (long long)position + t);
      }
      __syncthreads();
    }
    if (t0 > warpLast)
      continue;

    // S = Q K^T: n-tile j holds keys t0 + 8 j + [0, 8); element e is row
    // e / 2 of the thread's two, key t0 + 8 j + 2 t4 + e % 2.
    float sc[NS][4] = {};
    llamaTf32RowProducts<NS, D>(sc, qs, warp * 16, keyTile(stage), 0, lane);
    const bool masked = t0 + BKV - 1 > rowsVisible;
    float correction[2];
    llamaOnlineSoftmax(sc, scoreScale, masked, t0, t4, rowLast, m, l,
                       correction);
    llamaRescaleRows(o, correction);
    // O += P V over the tile's keys.
    llamaTf32PackedProducts(o, sc, valueTile(stage), 0, lane);
  }
  llamaCpAsyncWait<0>();

  TO *const rows[2] = {outputRow(w0 + g), outputRow(w0 + 8 + g)};
  llamaStoreAttentionRows(o, l, rows, t4);
}
)BODY";
}

} // namespace llamac::codegen::cuda
