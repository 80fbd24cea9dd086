//===- CudaTensorCoreAttention.cpp - Flash attention on mma.sync ---------===//
//
// Prefill and training attention for 16-bit models (bf16 or f16 queries,
// keys, values and caches; head size a multiple of 16, at most 128): the
// flash-attention-2 schedule on the sm_80 tensor-core instructions. A block
// of 4 warps owns 128 consecutive queries of one head, 32 per warp in two
// halves of 16, and walks the visible key rows in tiles of 32,
// double-buffered in shared memory: cp.async brings tile n + 1 while tile
// n is multiplied. The queries stay in shared memory, rotated. Each warp
// computes S = Q K^T with mma.m16n8k16 (K's rows are the "col" B operand
// as stored), takes the online softmax on the accumulators (in base 2, so
// that each probability is one FFMA and one ex2), where each thread holds
// two query rows of each half, and feeds P back as A fragments into
// O += P V, with V's fragments from ldmatrix.trans. Every key and value
// fragment a warp loads serves both halves: per FLOP, 3/4 of the shared
// memory reads of 16 queries a warp with their fragments in registers
// (those of the queries included), two independent chains of products,
// and two blocks per SM. The rescale of O is skipped when no row of the
// warp's half has a new maximum (a correction of exactly 1). Scores,
// softmax and O stay in f32. Only the tiles that cross a row's causal
// limit are masked.
//
// With caches, a launch before this one wrote the call's rotated keys and
// its values to them (CudaAttentionCacheWrite.cpp), so every key row is
// read as stored. Without caches, fused_rope_attention's keys are rotated
// here, in shared memory once they land: a thread rotates the same 4 pairs
// of rows r0, r0 + ROW_STEP, ... in every tile, so it steps from row to row
// and tile to tile by angle addition (a product with a constant rotation):
// a few FMAs per pair instead of a sincosf.
//
// Causal blocks differ in work by up to S / 128 times, so the grid runs
// them heaviest first (the last queries at block y = 0): the light ones
// fill the last wave instead of leaving SMs idle behind a heavy one.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

bool AttentionPlan::tensorCores() const {
  if (query != Elem::BF16 && query != Elem::F16)
    return false;
  if (key != query || value != query || (cache && cacheElem != query))
    return false;
  return batchConstant && headDim % 16 == 0 && headDim <= 128;
}

void emitCausalLimits(raw_ostream &os) {
  os << R"BODY(  // Causal: query s sees rows t <= position + s, within the L rows; a
  // query past S sees none. Positions fit an int (L does), which keeps the
  // bookkeeping beside the accumulators in few registers. The block's
  // queries s0 to s0 + BQ - 1 see rows up to tileLast: `tiles` of BKV.
  const int lastRow = (int)L - 1, queries = (int)S;
  auto lastVisible = [&](int s) {
    const int last = position + s;
    return s >= queries ? -1 : last < lastRow ? last : lastRow;
  };
  const int tileLast = lastVisible((s0 + BQ < queries ? s0 + BQ : queries) - 1);
  const int tiles = tileLast < 0 ? 0 : tileLast / BKV + 1;
)BODY";
}

void emitRotatedQueries(raw_ostream &os) {
  os << R"BODY(  // RoPE pair pr is elements (firstOf(pr), secondOf(pr)), at frequency
  // freq[pr], as llamaRopeCosSin computes it.
  __shared__ float freq[D / 2];
  auto firstOf = [](int pr) { return ADJACENT ? 2 * pr : pr; };
  auto secondOf = [](int pr) { return ADJACENT ? 2 * pr + 1 : pr + D / 2; };
  for (int i = tid; i < D / 2; i += THREADS)
    freq[i] = 1.0f / powf(THETA, (float)(2 * i) / (float)D);
  __syncthreads();
  // Rotates (x1, x2), pair pr, to position p, in the scalar kernel's order.
  auto rotatePair = [&](float &x1, float &x2, int pr, long long p) {
    if constexpr (ROPE) {
      float sn, cs;
      sincosf((float)p * freq[pr], &sn, &cs);
      llamaRotate(x1, x2, cs, sn);
    }
  };

  // The block's queries, rotated. They stay in shared memory: each warp
  // reads its A fragments again per key tile.
  for (int i = tid; i < BQ * (D / 2); i += THREADS) {
    const int r = i / (D / 2), pr = i % (D / 2);
    const int d1 = firstOf(pr), d2 = secondOf(pr), s = s0 + r;
    float x1 = 0.0f, x2 = 0.0f;
    if (s < S) {
      const long long row = ((long long)b * S + s) * QF + h * D;
      x1 = llamaToF(q[row + d1]);
      x2 = llamaToF(q[row + d2]);
      rotatePair(x1, x2, pr, (long long)position + s);
    }
    qs[r][d1] = llamaFromF<ST>(x1);
    qs[r][d2] = llamaFromF<ST>(x2);
  }

)BODY";
}

void emitOutputRow(raw_ostream &os) {
  os << R"BODY(  // Query s's output row in head h of batch row b, null past the queries.
  auto outputRow = [&](int s) -> TO * {
    return s < queries ? out + ((long long)b * S + s) * QF + h * D : nullptr;
  };
)BODY";
}

/// The mma.sync body (every arch, and sm_90a where wgmma() does not hold),
/// without the closing brace.
static void emitMmaAttentionBody(raw_ostream &os) {
  os << "  typedef TQ ST; // the staged and multiplied type\n"
     << "  constexpr int BQ = " << kAttentionQueryRows
     << ", BKV = " << kAttentionKeyRows << ", THREADS = " << kAttentionThreads
     << ";\n";
  // Rows are padded by 16 bytes, so that ldmatrix's 8 row addresses hit
  // distinct banks.
  os << R"BODY(
  constexpr int DP = D + 8, NK = D / 16, NO = D / 8, NS = BKV / 8;
  // A tile is CHUNKS 16-byte chunks; RoPE item i of a tile is 4 pairs of
  // row i / ITEMS (ADJACENT: one 16-byte run; else 4 elements of each half
  // of the head), so a thread's items keep their pairs, ROW_STEP rows apart;
  // the THREADS % ITEMS threads past the last whole row have none.
  constexpr int CHUNKS = BKV * D / 8, ITEMS = D / 8, ROW_STEP = THREADS / ITEMS;
  static_assert(ROW_STEP >= 1 && BQ == 4 * 32, "4 warps of 32 rows");
  // Every key row is read as stored (from the caches, which a launch
  // before this one wrote, or the key operand of plain attention), except
  // in cacheless fused_rope_attention: there every key row is the call's
  // own, rotated here.
  constexpr bool ROTATE_KEYS = ROPE && !CACHE;
  // The block's queries, then two stages of key tiles and of value tiles.
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  typedef ST Row[DP];
  Row *qs = reinterpret_cast<Row *>(sharedRaw);
  auto keyTile = [&](int stage) { return qs + BQ + stage * BKV; };
  auto valueTile = [&](int stage) { return qs + BQ + (2 + stage) * BKV; };
  // Only when keys are rotated here: the rotations by ROW_STEP and by BKV
  // positions at each RoPE pair's frequency.
  __shared__ float2 stepRotation[D / 2], tileRotation[D / 2];
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / GROUP;
  const int s0 = (gridDim.y - 1 - blockIdx.y) * BQ; // heaviest first
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;
  const TC *ko = CACHE ? (const TC *)kc : (const TC *)k; // the old rows
  const TV *vo = CACHE ? (const TV *)vc : v;

)BODY";
  emitRotatedQueries(os);
  os << R"BODY(  if constexpr (ROTATE_KEYS) {
    for (int i = tid; i < D / 2; i += THREADS) {
      float sn, cs;
      sincosf((float)ROW_STEP * freq[i], &sn, &cs);
      stepRotation[i] = make_float2(cs, sn);
      sincosf((float)BKV * freq[i], &sn, &cs);
      tileRotation[i] = make_float2(cs, sn);
    }
  }

)BODY";
  emitCausalLimits(os);
  emitOutputRow(os);
  os << R"BODY(  // A warp owns queries w0 to w0 + 31 as two halves of 16; in half hf this
  // thread holds rows w0 + 16 hf + g and w0 + 16 hf + 8 + g. Tiles past the
  // warp's last visible row skip the arithmetic, and tiles within both of a
  // half's rows' limits skip the mask.
  const int w0 = s0 + warp * 32;
  int rowLast[2][2], rowsVisible[2];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    rowLast[hf][0] = lastVisible(w0 + 16 * hf + g);
    rowLast[hf][1] = lastVisible(w0 + 16 * hf + 8 + g);
    rowsVisible[hf] =
        rowLast[hf][0] < rowLast[hf][1] ? rowLast[hf][0] : rowLast[hf][1];
  }
  const int warpLast =
      w0 >= queries ? -1
                    : lastVisible(w0 + 31 < queries ? w0 + 31 : queries - 1);

  // Tile n of key or value rows to `tile`, as stored: 16 bytes a chunk,
  // zeros past the last visible row: from `oldRows` (L per batch row), or
  // when this kernel rotates keys from `newRows` (S per batch row).
  auto loadRows = [&](int n, Row *tile, const auto *oldRows,
                      const auto *newRows) {
    constexpr int PER_THREAD = (CHUNKS + THREADS - 1) / THREADS;
    const long long first =
        (long long)b * (ROTATE_KEYS ? S : L) * KVF + kvHead * D;
#pragma unroll
    for (int it = 0; it < PER_THREAD; ++it) {
      const int i = tid + it * THREADS, r = i / (D / 8), c = i % (D / 8);
      if (CHUNKS % THREADS != 0 && i >= CHUNKS)
        break;
      const int t = n * BKV + r;
      const long long row = first + (long long)t * KVF + 8 * c;
      const void *src = ROTATE_KEYS ? (const void *)(newRows + row)
                                    : (const void *)(oldRows + row);
      const bool valid = t <= tileLast;
      llamaCpAsync16(llamaSmemAddress(&tile[r][8 * c]),
                     valid ? src : (const void *)newRows, valid ? 16 : 0);
    }
  };
  // Tile n's keys and values to stage `stage`, one cp.async group.
  auto loadTile = [&](int n, int stage) {
    loadRows(n, keyTile(stage), ko, k);
    loadRows(n, valueTile(stage), vo, v);
    llamaCpAsyncCommit();
  };
  // This thread's RoPE items are pairs 4 c + [0, 4) of rows r0, r0 +
  // ROW_STEP, ... of each tile. rowAngle holds the cosines and sines of
  // those pairs' angles at row r0 of the current tile, in this thread's own
  // slots of shared memory (registers are spoken for by the accumulators):
  // one sincosf each for the first tile, then a product with tileRotation
  // per tile, and with stepRotation per row. Products of unit complex
  // numbers in f32 drift by about an ulp each, some 1e-5 after thousands
  // of rows: far below the 16-bit keys' rounding.
  const int itemC = tid % ITEMS, itemR0 = tid / ITEMS;
  const bool hasItems = tid < ROW_STEP * ITEMS && itemR0 < BKV;
  const int off0 = ADJACENT ? 8 * itemC : 4 * itemC;
  const int off1 = ADJACENT ? 8 * itemC + 4 : 4 * itemC + D / 2;
  __shared__ float2 rowAngle[ROTATE_KEYS ? THREADS : 1][4];
  if constexpr (ROTATE_KEYS) {
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      float sn, cs;
      sincosf((float)(position + itemR0) * freq[4 * itemC + u], &sn, &cs);
      rowAngle[tid][u] = make_float2(cs, sn);
    }
  }
  // Rotates this thread's new key rows of landed tile n in place.
  auto rotateTile = [&](int n, int stage) {
    Row *kt = keyTile(stage);
    const int t0 = n * BKV;
    if (!hasItems)
      return;
    float cs[4], sn[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      cs[u] = rowAngle[tid][u].x;
      sn[u] = rowAngle[tid][u].y;
    }
#pragma unroll
    for (int j = 0; j < (BKV + ROW_STEP - 1) / ROW_STEP; ++j) {
      const int r = itemR0 + j * ROW_STEP;
      const int t = t0 + r;
      if (r < BKV && t <= tileLast)
        llamaRotateKeyPairs<ADJACENT>(&kt[r][off0], &kt[r][off1], cs, sn);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 step = stepRotation[4 * itemC + u];
        llamaRotate(cs[u], sn[u], step.x, step.y);
      }
    }
  };

  // Scores are kept in base 2: x * log2(e) * scale, so exp(score - max) is
  // exp2(x - max2).
  const float scoreScale = scoreOf(1.0f) * 1.4426950408889634f;
  float o[2][NO][4], m[2][2], l[2][2];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      m[hf][r] = -LLAMA_INF;
      l[hf][r] = 0.0f;
    }
#pragma unroll
    for (int n = 0; n < NO; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        o[hf][n][e] = 0.0f;
  }

  if (tiles > 0)
    loadTile(0, 0);
  for (int n = 0; n < tiles; ++n) {
    const int stage = n & 1, t0 = n * BKV;
    llamaCpAsyncWait<0>();
    // Tile n has landed for every thread (and the queries are staged), and
    // every warp is done with tile n - 1, whose stage takes tile n + 1.
    __syncthreads();
    if (n + 1 < tiles)
      loadTile(n + 1, stage ^ 1);
    if (ROTATE_KEYS) {
      rotateTile(n, stage);
      __syncthreads();
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float2 step = tileRotation[4 * itemC + u];
        float2 &angle = rowAngle[tid][u];
        llamaRotate(angle.x, angle.y, step.x, step.y);
      }
    }
    if (t0 > warpLast)
      continue;
    const Row *kt = keyTile(stage), *vt = valueTile(stage);

    // S = Q K^T: n-tile j holds keys t0 + 8 j + [0, 8); each key fragment
    // serves both halves.
    unsigned pa[2][BKV / 16][4];
    float sc[2][NS][4];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf)
#pragma unroll
      for (int j = 0; j < NS; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          sc[hf][j][e] = 0.0f;
    {
#pragma unroll
      for (int kk = 0; kk < NK; ++kk) {
        unsigned qa[2][4];
#pragma unroll
        for (int hf = 0; hf < 2; ++hf)
          llamaLdmatrixX4(
              qa[hf], llamaSmemAddress(&qs[warp * 32 + hf * 16 + lane % 16]
                                          [kk * 16 + (lane / 16) * 8]));
#pragma unroll
        for (int jj = 0; jj < NS / 2; ++jj) {
          // Matrices (rows 16 jj + 0-7, k lo), (same rows, k hi), then rows
          // 16 jj + 8-15: the B fragments of n-tiles 2 jj and 2 jj + 1.
          unsigned kb[4];
          llamaLdmatrixX4(kb,
                          llamaSmemAddress(
                              &kt[jj * 16 + (lane / 16) * 8 + lane % 8]
                                 [kk * 16 + ((lane / 8) % 2) * 8]));
          const unsigned b0[2] = {kb[0], kb[1]}, b1[2] = {kb[2], kb[3]};
#pragma unroll
          for (int hf = 0; hf < 2; ++hf) {
            llamaMma16816<ST>(sc[hf][2 * jj], qa[hf], b0);
            llamaMma16816<ST>(sc[hf][2 * jj + 1], qa[hf], b1);
          }
        }
      }

      // Online softmax: element e of n-tile j is row e / 2 of the half,
      // key t0 + 8 j + 2 t4 + e % 2; a row's 4 threads are adjacent lanes.
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        const bool masked = t0 + BKV - 1 > rowsVisible[hf];
        float correction[2];
        llamaOnlineSoftmax(sc[hf], scoreScale, masked, t0, t4, rowLast[hf],
                           m[hf], l[hf], correction);
        llamaRescaleRows(o[hf], correction);
        // P as A fragments: the accumulators of n-tiles 2 kk and 2 kk + 1
        // are keys 16 kk + [0, 16). Packed now, the f32 scores are dead
        // before the next keys' loads are issued.
#pragma unroll
        for (int kk = 0; kk < BKV / 16; ++kk) {
          const float(&lo)[4] = sc[hf][2 * kk], (&hi)[4] = sc[hf][2 * kk + 1];
          pa[hf][kk][0] = llamaPack2<ST>(lo[0], lo[1]);
          pa[hf][kk][1] = llamaPack2<ST>(lo[2], lo[3]);
          pa[hf][kk][2] = llamaPack2<ST>(hi[0], hi[1]);
          pa[hf][kk][3] = llamaPack2<ST>(hi[2], hi[3]);
        }
      }
    }


    // O += P V over keys 16 kk + [0, 16); each value fragment
    // (ldmatrix.trans) serves both halves.
#pragma unroll
    for (int kk = 0; kk < BKV / 16; ++kk) {
#pragma unroll
      for (int nn = 0; nn < NO / 2; ++nn) {
        // Matrices (rows lo, columns 16 nn + 0-7), (rows hi, same), then
        // columns + 8, each transposed: the B fragments of n-tiles 2 nn and
        // 2 nn + 1.
        unsigned vb[4];
        const int row = 16 * kk + ((lane / 8) % 2) * 8 + lane % 8;
        llamaLdmatrixX4Trans(
            vb, llamaSmemAddress(&vt[row][nn * 16 + (lane / 16) * 8]));
        const unsigned b0[2] = {vb[0], vb[1]}, b1[2] = {vb[2], vb[3]};
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          llamaMma16816<ST>(o[hf][2 * nn], pa[hf][kk], b0);
          llamaMma16816<ST>(o[hf][2 * nn + 1], pa[hf][kk], b1);
        }
      }
    }
  }

#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    TO *const rows[2] = {outputRow(w0 + 16 * hf + g),
                         outputRow(w0 + 16 * hf + 8 + g)};
    llamaStoreAttentionRows(o[hf], l[hf], rows, t4);
  }
)BODY";
}

void emitTensorCoreAttention(raw_ostream &os, const AttentionPlan &plan,
                             StringRef symbol) {
  // mma.sync: two blocks per SM where shared memory allows, 4 warps each,
  // so at most 255 registers a thread. With wgmma the prelude's macros name
  // the sm_90a variant's 384 threads and one block.
  if (plan.wgmma())
    emitSignature(os, plan.op, symbol, "LLAMA_TENSOR_CORE_ATTENTION_THREADS",
                  "LLAMA_TENSOR_CORE_ATTENTION_BLOCKS");
  else
    emitSignature(os, plan.op, symbol, kAttentionThreads, "2");
  emitAttentionCommon(os, plan);
  if (plan.wgmma()) {
    os << "#ifdef LLAMA_WGMMA\n";
    emitWgmmaAttentionBody(os);
    os << "#else\n";
  }
  emitMmaAttentionBody(os);
  if (plan.wgmma())
    os << "#endif\n";
  os << "}\n";
}

} // namespace llamac::codegen::cuda
