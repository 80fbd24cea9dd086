//===- CudaWgmmaAttention.cpp - Flash attention on sm_90a's wgmma ---------===//
//
// The tensor-core attention's sm_90a body, for head sizes 64 and 128 when
// every key row is read as stored (prefill after the cache write, plain
// attention). The flash-attention schedule of the mma.sync kernel, but
// with each product a warpgroup's wgmma, which the tensor cores of an H100
// run at about twice mma.sync's rate:
// - A block of 384 threads owns the same 128 queries of one head. Warpgroups
//   0 and 1 take 64 each; warpgroup 2 loads. One of its threads copies
//   tiles of 128 key and 128 value rows with the Tensor Memory Accelerator,
//   straight from the caches (tensor maps over them) into 128-byte swizzled
//   tiles, two stages ahead, each guarded by a "full" and an "empty"
//   mbarrier as in the GEMM; it gives its registers to the others
//   (setmaxnreg).
// - The queries are rotated once into shared memory by their warpgroup.
//   S = Q Kᵀ is 64 x 128 a warpgroup: D / 16 wgmma.m64n128k16 with both
//   operands K-major in shared memory. The online softmax runs on the
//   accumulators, whose layout is mma.sync's per warp (llamaOnlineMax), and
//   P is packed in registers into the A fragments of O += P V: D / 16 ...
//   wgmma.m64nDk16 with A from registers and V, stored key-major, as the
//   transposed (MN-major) B operand.
// - Cacheless fused_rope_attention (forward_loss) reads the call's own keys,
//   unrotated, so the loader's other three warps rotate each key tile in
//   place once it lands, and only then hand it to the multiplying
//   warpgroups, on a "rotated" mbarrier a stage: off their critical path,
//   as FlashAttention-3 transposes FP8 values in its producer. A thread
//   rotates the same 4 RoPE pairs of every ROW_STEP-th row of a tile,
//   stepping from row to row by angle addition, from angles computed afresh
//   at each tile's first row (so the f32 drift spans at most 22 rows).
// - The value rows past the block's last visible key are zeroed in the last
//   tile before they are multiplied: there they may be cache rows never
//   written, and a NaN times a probability of 0 is NaN. Key rows past it
//   are masked to -inf whatever they hold.
// - Within a warpgroup the products are pipelined as in FlashAttention-3:
//   tile n's softmax runs while the previous tile's O += P V is on the
//   tensor cores, so keys and values have separate pipelines (a value tile
//   is released a step after its key tile).
// - The two multiplying warpgroups take turns issuing their products
//   (FlashAttention-3's ping-pong, on named barriers), so that one's
//   softmax runs under the other's products.
// - For ptxas to overlap the products at all (rather than serialize every
//   wgmma of the kernel, which it reports as a "Potential Performance
//   Loss"), each kind of step is straight-line code that ends with nothing
//   in flight, and the softmax writes only the retired scores while
//   O += P V runs: P is packed into that product's A registers after it
//   retired. CudaCompileTest holds every kernel to no such report.
//
//===----------------------------------------------------------------------===//

#include "codegen/cuda/CudaAttentionPlan.h"
#include "codegen/cuda/CudaMatmulPlan.h"

using namespace mlir;

namespace llamac::codegen::cuda {

void emitWgmmaAttentionBody(raw_ostream &os) {
  os << "  typedef TQ ST; // the staged and multiplied type\n"
     << "  constexpr int BQ = " << kAttentionQueryRows
     << ", BKV = " << kWgmmaAttentionKeyRows
     << ", STAGES = " << kWgmmaAttentionStages
     << ", CONSUMERS = " << kWgmmaConsumerThreads << ";\n";
  os << R"BODY(
  // Rows of a tile are split into column groups of 64 elements (128-byte
  // rows, the swizzle's), each a run of the tile's rows, 1024-byte aligned.
  constexpr int GROUPS = D / 64, Q_BYTES = BQ * D * 2;
  constexpr int TILE_BYTES = BKV * D * 2, STAGE_BYTES = 2 * TILE_BYTES;
  static_assert(D == 64 || D == 128, "whole 128-byte rows, at most two");
  // Key and value rows arrive by TMA, through the tensor maps.
  (void)k;
  (void)v;
  (void)kc;
  (void)vc;
  LLAMA_DYNAMIC_SHARED(sharedRaw);
  const unsigned rawBase = llamaSmemAddress(sharedRaw);
  const unsigned smemBase = llamaSwizzleBase(rawBase);
  unsigned char *smem = sharedRaw + (smemBase - rawBase);
  // The queries, then each stage's key tile and value tile.
  auto keyOffset = [](int stage) { return Q_BYTES + stage * STAGE_BYTES; };
  auto valueOffset = [](int stage) {
    return Q_BYTES + stage * STAGE_BYTES + TILE_BYTES;
  };
  const int h = blockIdx.x, b = blockIdx.z, kvHead = h / GROUP;
  const int s0 = (gridDim.y - 1 - blockIdx.y) * BQ; // heaviest first
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t4 = lane % 4;

)BODY";
  emitCausalLimits(os);
  emitOutputRow(os);
  os << R"BODY(  // Keys and values have pipelines of their own: a key tile is released
  // once S = Q Kᵀ retired, its value tile only once O += P V did, a step
  // later (below).
  // Cacheless fused_rope_attention's keys are the call's own, unrotated:
  // the ROTATORS threads of the loader's warps 1 to 3 rotate each key tile
  // and arrive (a lane a warp) on its stage's rotated mbarrier, which the
  // multiplying warpgroups wait on instead of the full one. Thread 0 makes
  // them before the stage barriers' fence and block synchronization.
  constexpr bool ROTATE_KEYS = ROPE && !CACHE;
  constexpr int ROTATORS = 96;
  const unsigned rotatedBase = smemBase + Q_BYTES + STAGES * STAGE_BYTES +
                               2 * LlamaStageBarriers<STAGES>::kBytes;
  auto rotatedBar = [&](int stage) { return rotatedBase + 8u * stage; };
  if (ROTATE_KEYS && tid == 0)
    for (int stage = 0; stage < STAGES; ++stage)
      llamaMbarrierInit(rotatedBar(stage), ROTATORS / 32);
  const auto keyBars = llamaInitStageBarriers<STAGES>(
      smemBase + Q_BYTES + STAGES * STAGE_BYTES, CONSUMERS / 32);
  const auto valueBars = llamaInitStageBarriers<STAGES>(
      smemBase + Q_BYTES + STAGES * STAGE_BYTES + keyBars.kBytes,
      CONSUMERS / 32);

  if (tid >= CONSUMERS) {
)BODY";
  os << "    llamaRegistersDecrease<" << kWgmmaLoaderRegisters << ">();\n";
  os << R"BODY(    // Tile n is rows b L + n BKV on of the caches (or of plain
    // attention's keys and values); the map's rows past the buffer read
    // as zeros.
    // load(bars, offset, map, n): tile n of tensor map `map` into its
    // stage at `offset`, once tile n - STAGES released the stage.
    auto load = [&](const auto &bars, unsigned offset,
                    const LlamaGpuTensorMap *map, int n) {
      const int stage = n % STAGES;
      if (n >= STAGES)
        llamaMbarrierWait(bars.empty(stage), (n / STAGES - 1) & 1);
      llamaMbarrierArriveExpectTx(bars.full(stage), TILE_BYTES);
#pragma unroll
      for (int c = 0; c < GROUPS; ++c)
        llamaTmaLoad2d(smemBase + offset + c * BKV * 128, map,
                       kvHead * D + 64 * c, b * (int)L + n * BKV,
                       bars.full(stage));
    };
    if (tid == CONSUMERS)
      for (int n = 0; n < tiles; ++n) {
        load(keyBars, keyOffset(n % STAGES), &args.tensorMaps[0], n);
        load(valueBars, valueOffset(n % STAGES), &args.tensorMaps[1], n);
      }
    if (!ROTATE_KEYS || tid < CONSUMERS + 32)
      return;
    // Rotator rt owns RoPE pairs 4 c + [0, 4) (c = rt % ITEMS) of rows r0,
    // r0 + ROW_STEP, ... (r0 = rt / ITEMS) of each tile: ADJACENT, the
    // 16-byte chunk of elements 8 c to 8 c + 7; else elements 4 c + [0, 4)
    // of each half of the head. Both are 8-byte runs within a chunk, which
    // the swizzle moves whole. Key row t of the batch row is at position
    // position + t, rotated as the queries are. The frequencies and the
    // rotations by ROW_STEP positions wait in shared memory: the loader's
    // 40 registers a thread hold little more than a row's pairs and their
    // angles.
    constexpr int ITEMS = D / 8, ROW_STEP = ROTATORS / ITEMS;
    static_assert(ROTATORS % ITEMS == 0, "whole rows of items a step");
    __shared__ float freq[D / 2];
    __shared__ float2 stepRotation[D / 2];
    const int rt = tid - CONSUMERS - 32, itemC = rt % ITEMS;
    const int itemR0 = rt / ITEMS;
    const int off0 = ADJACENT ? 8 * itemC : 4 * itemC;
    const int off1 = ADJACENT ? 8 * itemC + 4 : 4 * itemC + D / 2;
    for (int i = rt; i < D / 2; i += ROTATORS) {
      freq[i] = 1.0f / powf(THETA, (float)(2 * i) / (float)D);
      float sn, cs;
      sincosf((float)ROW_STEP * freq[i], &sn, &cs);
      stepRotation[i] = make_float2(cs, sn);
    }
    llamaNamedBarrierSync<6>(ROTATORS);
    for (int n = 0; n < tiles; ++n) {
      const int stage = n % STAGES;
      llamaMbarrierWait(keyBars.full(stage), (n / STAGES) & 1);
      unsigned char *tile = smem + keyOffset(stage);
      // The angles of the thread's first row, as llamaRopeCosSin computes
      // them.
      float cs[4], sn[4];
#pragma unroll
      for (int u = 0; u < 4; ++u)
        sincosf((float)(position + n * BKV + itemR0) * freq[4 * itemC + u],
                &sn[u], &cs[u]);
      // Rows past the block's last visible key are masked, not rotated.
      const int rows = tileLast + 1 - n * BKV < BKV ? tileLast + 1 - n * BKV
                                                    : BKV;
      for (int r = itemR0; r < rows; r += ROW_STEP) {
        auto elements = [&](int d) {
          return reinterpret_cast<ST *>(tile + (d / 64) * BKV * 128 +
                                        llamaSwizzle128(r, (d % 64) / 8)) +
                 d % 8;
        };
        llamaRotateKeyPairs<ADJACENT>(elements(off0), elements(off1), cs, sn);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const float2 step = stepRotation[4 * itemC + u];
          llamaRotate(cs[u], sn[u], step.x, step.y);
        }
      }
      // The rotated rows are wgmma's B operand: ordered before its reads
      // (the asynchronous proxy), then the warp's arrival hands them over.
      llamaFenceProxyAsync();
      __syncwarp();
      if (lane == 0)
        llamaMbarrierArrive(rotatedBar(stage));
    }
    return;
  }
)BODY";
  os << "  llamaRegistersIncrease<" << kWgmmaConsumerRegisters << ">();\n";
  os << R"BODY(
  // Warpgroup wg: queries q0 to q0 + 63 of the block. Accumulator i of lane
  // l of its warp w is row 16 w + l / 4 + 8 ((i / 2) % 2), column
  // 8 (i / 4) + 2 (l % 4) + i % 2: mma.sync's m16n8 layout, n-tile i / 4.
  const int wg = warp / 4, wtid = tid % 128, q0 = s0 + 64 * wg;
  const int rowBase = 64 * wg + 16 * (warp % 4) + g; // in the block

  // The warpgroup's queries, rotated, as 16-bit rows in the swizzled
  // layout: element d of row r in column group d / 64.
  auto queryElement = [&](int r, int d) {
    return reinterpret_cast<ST *>(smem + (d / 64) * BQ * 128 +
                                  llamaSwizzle128(r, (d % 64) / 8)) +
           d % 8;
  };
  for (int i = wtid; i < 64 * (D / 2); i += 128) {
    const int r = 64 * wg + i / (D / 2), pr = i % (D / 2);
    const int d1 = ADJACENT ? 2 * pr : pr;
    const int d2 = ADJACENT ? 2 * pr + 1 : pr + D / 2;
    const int s = s0 + r;
    float x1 = 0.0f, x2 = 0.0f;
    if (s < S) {
      const long long row = ((long long)b * S + s) * QF + h * D;
      x1 = llamaToF(q[row + d1]);
      x2 = llamaToF(q[row + d2]);
      if constexpr (ROPE) {
        // As the cache write rotated the keys.
        const float2 cs = llamaRopeCosSin(position + s, pr, D, THETA);
        const float r1 = x1 * cs.x - x2 * cs.y, r2 = x1 * cs.y + x2 * cs.x;
        x1 = r1;
        x2 = r2;
      }
    }
    *queryElement(r, d1) = llamaFromF<ST>(x1);
    *queryElement(r, d2) = llamaFromF<ST>(x2);
  }
  // The rows are wgmma's A operand: ordered before its reads (the
  // asynchronous proxy) and complete across the warpgroup.
  llamaFenceProxyAsync();
  llamaWarpgroupSync(wg);

)BODY";
  emitWgmmaRowLimits(os);
  os << R"BODY(
  // Scores are kept in base 2: x * log2(e) * scale, so exp(score - max) is
  // exp2(x - max2).
  const float scoreScale = scoreOf(1.0f) * 1.4426950408889634f;
  float o[D / 2], m[2] = {-LLAMA_INF, -LLAMA_INF}, l[2] = {0.0f, 0.0f};
#pragma unroll
  for (int i = 0; i < D / 2; ++i)
    o[i] = 0.0f;
  auto &o4 = *reinterpret_cast<float(*)[D / 8][4]>(o);

  // Software pipelining within the warpgroup (FlashAttention-3): step n
  // issues S = Q K_nᵀ and then O += P_{n-1} V_{n-1}, and runs tile n's
  // softmax while the second product is still on the tensor cores; only
  // then is O rescaled for tile n's new maxima, and P_n packed, before
  // P_n V_n is added a step later. The warpgroup multiplies the tiles
  // before its last visible key (`active` of them); it waits for every
  // tile and releases it, so that the pipelines' phases stay in step with
  // the other warpgroup's.
  unsigned pa[BKV / 16][4]; // P_{n-1}, read by the pending O += P V
  float sc[BKV / 2];
  auto &s4 = *reinterpret_cast<float(*)[BKV / 8][4]>(sc);
  // O += P V over keys 16 kk + [0, 16) of tile n: V's rows are k, its
  // 64-element column groups BKV * 128 bytes apart: the MN-major B operand.
  auto issueValues = [&](int n) {
    llamaWgmmaFenceOperands(o);
    llamaWgmmaFence();
#pragma unroll
    for (int kk = 0; kk < BKV / 16; ++kk) {
      const unsigned long long vb = llamaWgmmaDescriptorMN(
          smemBase + valueOffset(n % STAGES) + kk * 16 * 128, BKV * 128);
      llamaWgmmaRegisterA<ST, 1, D>(o, pa[kk], vb, 1);
    }
    llamaWgmmaCommit();
  };
  // After O += P V of tile n retired: the registers of P may change, and
  // the tile's values are released.
  auto valuesRetired = [&](int n) {
    llamaWgmmaFenceOperands(o);
    llamaWgmmaFenceRegisters(pa);
    llamaReleaseStage(valueBars.empty(n % STAGES), true, lane);
  };

  // Ping-pong between the warpgroups (FlashAttention-3): they take turns
  // issuing a step's products, so that one's softmax runs while the
  // other's products keep the tensor cores busy. Named barrier 4 + g is
  // warpgroup g's turn: it waits there (bar.sync) for the other's
  // bar.arrive after its issue. Warpgroup 0 goes first. Each takes a turn
  // a step, multiplying or not, and one for the last tile's P V, so the
  // arrivals match the waits: warpgroup 1 passes none after its last.
  auto awaitTurn = [&] {
    if (wg == 0)
      llamaNamedBarrierSync<4>(CONSUMERS);
    else
      llamaNamedBarrierSync<5>(CONSUMERS);
  };
  auto passTurn = [&] {
    if (wg == 0)
      llamaNamedBarrierArrive<5>(CONSUMERS);
    else
      llamaNamedBarrierArrive<4>(CONSUMERS);
  };
  if (wg == 1 && tiles > 0)
    passTurn();

  // S = Q K_nᵀ: D / 16 steps of 16 along the head, both operands K-major;
  // the first overwrites the accumulators (scale-d 0), so they need no
  // zeroing.
  auto issueScores = [&](int n) {
    llamaWgmmaFence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const unsigned column = (kk / 4) * BKV * 128 + (kk % 4) * 32;
      llamaWgmma64x128<ST>(
          sc,
          llamaWgmmaDescriptor(smemBase + (kk / 4) * BQ * 128 +
                               64 * wg * 128 + (kk % 4) * 32),
          llamaWgmmaDescriptor(smemBase + keyOffset(n % STAGES) + column),
          kk > 0);
    }
    llamaWgmmaCommit();
  };
  // Tile n's softmax on the retired scores, in place: the running maxima
  // and sums, the correction for O, and P_n in the score accumulators.
  auto softmax = [&](int n, float (&correction)[2]) {
    const int t0 = n * BKV;
    const bool masked = t0 + BKV - 1 > rowsVisible;
    llamaOnlineSoftmax(s4, scoreScale, masked, t0, t4, rowLast, m, l,
                       correction);
  };
  // P_n into the A fragments of O += P_n V_n: n-tiles 2 kk and 2 kk + 1
  // are keys 16 kk to 16 kk + 15, in the register order of mma.sync's A.
  // Only once no product reads them (after the wait for O += P_{n-1}
  // V_{n-1}): ptxas serializes every wgmma of a kernel that writes a
  // register an unretired one reads.
  auto packProbabilities = [&] {
#pragma unroll
    for (int kk = 0; kk < BKV / 16; ++kk)
#pragma unroll
      for (int r = 0; r < 4; ++r)
        pa[kk][r] = llamaPack2<ST>(s4[2 * kk + r / 2][2 * (r % 2)],
                                   s4[2 * kk + r / 2][2 * (r % 2) + 1]);
  };
  auto awaitKeys = [&](int n) {
    llamaMbarrierWait(ROTATE_KEYS ? rotatedBar(n % STAGES)
                                  : keyBars.full(n % STAGES),
                      (n / STAGES) & 1);
  };
  auto awaitValues = [&](int n) {
    llamaMbarrierWait(valueBars.full(n % STAGES), (n / STAGES) & 1);
  };

  // Each kind of step is straight-line code that ends with no product in
  // flight, so that ptxas sees which accumulators each wait retires (a
  // product issued or awaited under a condition makes it serialize every
  // wgmma). Step 0 multiplies S_0 alone.
  int n = 0;
  if (active > 0) {
    awaitKeys(0);
    awaitTurn();
    issueScores(0);
    passTurn();
    llamaWgmmaWait<0>();
    llamaWgmmaFenceOperands(sc);
    llamaReleaseStage(keyBars.empty(0), true, lane);
    float correction[2];
    softmax(0, correction); // O is still zero: nothing to rescale
    packProbabilities();
    n = 1;
  }
  // Steps 1 to active - 1: S_n, then O += P_{n-1} V_{n-1} while tile n's
  // softmax runs.
  for (; n < active; ++n) {
    awaitKeys(n);
    awaitValues(n - 1);
    awaitTurn();
    issueScores(n);
    issueValues(n - 1);
    passTurn();
    // S retired; O += P_{n-1} V_{n-1} may still run.
    llamaWgmmaWait<1>();
    llamaWgmmaFenceOperands(sc);
    llamaReleaseStage(keyBars.empty(n % STAGES), true, lane);
    float correction[2];
    softmax(n, correction);
    llamaWgmmaWait<0>();
    valuesRetired(n - 1);
    llamaRescaleRows(o4, correction);
    packProbabilities();
  }
  // The block's tiles past the warpgroup's last visible key (warpgroup 0's
  // queries end 64 before the block's, and a warpgroup may have none): the
  // first adds the last visible tile's P V; each waits for its tiles and
  // releases them, taking its turn, so that the pipelines' phases and the
  // turns stay in step with the other warpgroup's.
  for (; n < tiles; ++n) {
    awaitKeys(n);
    if (n > 0)
      awaitValues(n - 1);
    awaitTurn();
    if (n == active && n > 0) {
      issueValues(n - 1);
      passTurn();
      llamaWgmmaWait<0>();
      valuesRetired(n - 1);
    } else {
      passTurn();
      if (n > 0)
        llamaReleaseStage(valueBars.empty((n - 1) % STAGES), false, lane);
    }
    llamaReleaseStage(keyBars.empty(n % STAGES), false, lane);
  }
  // The last tile's values: the rows past the block's last visible key are
  // zeroed by both warpgroups before either multiplies them.
  if (tiles > 0) {
    const int last = tiles - 1, t0 = last * BKV;
    awaitValues(last);
    if (t0 + BKV - 1 > tileLast) {
      llamaZeroTileRows<BKV>(smem + valueOffset(last % STAGES), GROUPS,
                             BKV * 128, tileLast + 1 - t0, tid, CONSUMERS);
      llamaNamedBarrierSync<1>(CONSUMERS);
    }
    awaitTurn();
    if (active == tiles) {
      issueValues(last);
      if (wg == 0)
        passTurn();
      llamaWgmmaWait<0>();
      valuesRetired(last);
    } else if (wg == 0) {
      passTurn();
    }
  }

  TO *const rows[2] = {outputRow(s0 + rowBase), outputRow(s0 + rowBase + 8)};
  llamaStoreAttentionRows(o4, l, rows, t4);
)BODY";
}

void emitWgmmaRowLimits(raw_ostream &os) {
  os << R"BODY(  // This thread's rows' limits; tiles past the warpgroup's last visible
  // row skip the arithmetic (`active` tiles of BKV keys are multiplied),
  // tiles within both rows' limits the mask.
  int rowLast[2];
  rowLast[0] = lastVisible(s0 + rowBase);
  rowLast[1] = lastVisible(s0 + rowBase + 8);
  const int rowsVisible = rowLast[0] < rowLast[1] ? rowLast[0] : rowLast[1];
  const int groupLast =
      q0 >= queries ? -1
                    : lastVisible(q0 + 63 < queries ? q0 + 63 : queries - 1);
  const int active =
      groupLast < 0 ? 0
                    : (groupLast / BKV + 1 < tiles ? groupLast / BKV + 1
                                                   : tiles);
)BODY";
}

} // namespace llamac::codegen::cuda
