//===- CudaGeometryTest.cpp - Launch geometry matches the kernels ---------===//
//
// The runtime launches grid[i] = gridBase[i] + ceil(batch * seq /
// rowsPerBlock[i]); these tests check, per kernel design, that the rule
// covers every row and column the body indexes, and that kernels the
// lowering deduplicates (same body) agree on their geometry; and that the
// optimizer's kernels refuse tensors they would index past.
//
//===----------------------------------------------------------------------===//

#include "test/unit/codegen-cuda/CudaTestModels.h"

#include "codegen/KernelEmitter.h"
#include "ir/LlamaOps.h"

#include "mlir/Parser/Parser.h"

#include "llvm/ADT/StringMap.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

using namespace mlir;
using namespace llamac;
using namespace llamac::test;

namespace {

uint64_t gridOf(const artifact::LaunchGeometry &g, unsigned axis, int64_t batch,
                int64_t seq) {
  uint64_t grid = g.gridBase[axis];
  if (g.rowsPerBlock[axis])
    grid += (batch * seq + g.rowsPerBlock[axis] - 1) / g.rowsPerBlock[axis];
  return grid;
}

/// Walks the kernels of a case: each op and phase, with the emitter and the
/// emitted body.
template <typename Fn> void walkKernels(const ModelCase &c, Fn fn) {
  std::unique_ptr<MLIRContext> context = makeContext();
  std::string error;
  OwningOpRef<ModuleOp> module = buildCase(*context, c, error);
  ASSERT_TRUE(module) << error;
  std::unique_ptr<codegen::KernelEmitter> emitter =
      codegen::createCudaEmitter();
  module->walk([&](Operation *op) {
    if (!emitter->canEmit(op))
      return;
    for (unsigned phase = 0; phase < emitter->phaseCount(op); ++phase) {
      std::string body;
      llvm::raw_string_ostream os(body);
      ASSERT_TRUE(succeeded(emitter->emitKernel(op, phase, "kernel", os)))
          << op->getName().getStringRef().str();
      fn(op, phase, *emitter, body);
    }
  });
}

/// Walks the ops of a case with their geometry and emitted body.
template <typename Fn> void forEachKernel(const ModelCase &c, Fn fn) {
  walkKernels(c, [&](Operation *op, unsigned phase,
                     codegen::KernelEmitter &emitter, std::string &body) {
    fn(op, emitter.launchGeometry(op, phase), body);
  });
}

/// sm_80, sm_86 and sm_89 launch every kernel's default geometry, and
/// sm_86 and sm_89 give a block 99 KiB of shared memory (sm_80 163): a
/// kernel that asks for more makes those GPUs refuse the model, whatever
/// arch it is compiled for. (The wgmma geometries are sm_90a's alone.)
TEST(CudaGeometryTest, EveryKernelFitsTheSharedMemoryOfEveryArch) {
  const ModelCase cases[] = {
      {"llama2-70b", DType::BF16, true},
      {"llama2-70b", DType::F32, true},
      {"llama2-7b", DType::F16, true},
      {"llama2-7b", DType::BF16, true, /*training=*/true, /*backward=*/true},
      {"llama2-7b", DType::F16, true, /*training=*/true, /*backward=*/true},
      {"llama2-7b", DType::F32, true, /*training=*/true, /*backward=*/true},
      {"tiny", DType::BF16, true, /*training=*/true, /*backward=*/true},
  };
  for (const ModelCase &c : cases) {
    unsigned kernels = 0;
    forEachKernel(c, [&](Operation *op, const artifact::LaunchGeometry &g,
                         std::string &) {
      ++kernels;
      EXPECT_LE(g.sharedBytes, 99u * 1024)
          << op->getName().getStringRef().str() << " in " << caseName(c);
    });
    EXPECT_GT(kernels, 0u) << caseName(c);
  }
}

/// The tensor-core GEMM's TMA loads (sm_90a) read x (operand 0) in boxes
/// of 128 rows and the weight (operand 1) in boxes of 256 rows, or of 128
/// for SwiGLU's separately loaded gate and up halves; 64 of K each, the
/// 128-byte rows the swizzle needs. The sm_90a prefill attention reads the
/// key and value caches (the results aliasing them, buffers 6 and 7) in
/// boxes of 128 rows by one KV head's 64-element column group. No other
/// inference kernel lists tensor maps (matmul_grad's are checked with its
/// geometry below).
TEST(CudaGeometryTest, TensorCoreGemmAndAttentionListTensorMaps) {
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    unsigned gemms = 0, attentions = 0;
    walkKernels({"llama2-7b", dtype, true}, [&](Operation *op, unsigned phase,
                                                codegen::KernelEmitter &emitter,
                                                std::string &body) {
      std::vector<artifact::TensorMapSpec> maps = emitter.tensorMaps(op, phase);
      bool tma = body.find("llamaTmaLoad2d(") != std::string::npos;
      EXPECT_EQ(!maps.empty(), tma) << op->getName().getStringRef().str();
      if (maps.empty())
        return;
      for (const artifact::TensorMapSpec &map : maps) {
        EXPECT_EQ(map.boxInner, 64u);
        EXPECT_EQ(map.swizzleBytes, 128u);
      }
      ASSERT_EQ(maps.size(), 2u);
      if (isa<llama::FusedRoPEAttentionOp>(op)) {
        ++attentions;
        EXPECT_EQ(emitter.phaseName(op, phase), "flash");
        EXPECT_EQ(maps[0].operand, 6u);
        EXPECT_EQ(maps[1].operand, 7u);
        EXPECT_EQ(maps[0].boxRows, 128u);
        EXPECT_EQ(maps[1].boxRows, 128u);
        return;
      }
      ++gemms;
      auto fused = dyn_cast<llama::FusedMatmulOp>(op);
      ASSERT_TRUE(fused) << op->getName().getStringRef().str();
      EXPECT_EQ(maps[0].operand, 0u);
      EXPECT_EQ(maps[0].boxRows, 128u);
      // Half the weight tile a box (for SwiGLU its gate or up rows): what
      // each CTA of a cluster loads for both.
      EXPECT_EQ(maps[1].operand, 1u);
      EXPECT_EQ(maps[1].boxRows, 128u);
    });
    EXPECT_EQ(gemms > 0, dtype != DType::F32);
    EXPECT_EQ(attentions > 0, dtype != DType::F32);
  }
}

int64_t columnsOf(llama::FusedMatmulOp op) {
  int64_t n = cast<RankedTensorType>(op.getWeight().getType()).getDimSize(0);
  return op.getEpilogue() == llama::Epilogue::SwiGLU ? n / 2 : n;
}

/// The integer after `name = ` in a kernel body, or -1.
int64_t constantIn(const std::string &body, const std::string &name) {
  size_t at = body.find(name + " = ");
  if (at == std::string::npos)
    return -1;
  return std::stoll(body.substr(at + name.size() + 3));
}

TEST(CudaGeometryTest, DecodeGemvCoversEveryColumn) {
  // 70B's GEMVs all have 8192 columns or more, each a warp; 7B's Wo and W2
  // (4096) split their K between two warps of a block.
  for (const char *model : {"llama2-70b", "llama2-7b"}) {
    int gemvs = 0;
    forEachKernel({model, DType::BF16, true}, [&](Operation *op, auto g,
                                                  auto &body) {
      auto fused = dyn_cast<llama::FusedMatmulOp>(op);
      if (!fused ||
          !cast<RankedTensorType>(fused.getInput().getType()).hasStaticShape())
        return;
      ++gemvs;
      const int64_t columns = columnsOf(fused);
      const int64_t split = constantIn(body, "SPLIT");
      EXPECT_EQ(split,
                std::string(model) == "llama2-7b" && columns == 4096 ? 2 : 1)
          << model << " " << columns << " columns";
      // Without SwiGLU, 8 blocks an SM: 32 registers a thread.
      EXPECT_NE(body.find(fused.getEpilogue() == llama::Epilogue::SwiGLU
                              ? "__launch_bounds__(256) "
                              : "__launch_bounds__(256, 8) "),
                std::string::npos);
      // 8 warps a block, SPLIT of them a column; nothing depends on the
      // call's length.
      EXPECT_EQ(g.gridBase[0], (columns * split + 7) / 8);
      EXPECT_EQ(g.rowsPerBlock[0] + g.rowsPerBlock[1] + g.rowsPerBlock[2], 0u);
      EXPECT_EQ(g.block[0], 256u);
      EXPECT_NE(body.find("WARPS = 8, SPLIT = "), std::string::npos);
      // Each warp prefetches 1 KiB of its rows, but Wo, which attention
      // leaves an idle HBM before, 16 MiB of its weight in all.
      const int64_t lines = constantIn(body, "PREFETCH_LINES");
      const int64_t rowBytes =
          cast<RankedTensorType>(fused.getWeight().getType()).getDimSize(1) * 2;
      EXPECT_LT((lines - 1) * 128, rowBytes);
      if (fused.getInput().getDefiningOp<llama::FusedRoPEAttentionOp>())
        EXPECT_EQ(lines * 128 * columns, int64_t(16) << 20) << model;
      else
        EXPECT_EQ(lines, 8 * split) << model << " " << columns << " columns";
    });
    // QKV, Wo, W1/W3 and W2 a layer, and the output.
    EXPECT_EQ(gemvs,
              std::string(model) == "llama2-7b" ? 4 * 32 + 1 : 4 * 80 + 1)
        << model;
  }
}

TEST(CudaGeometryTest, PrefillGemmTilesFollowTheCallLength) {
  for (DType dtype : {DType::BF16, DType::F32}) {
    const int64_t tileRows = 128; // mma.sync, 16-bit and TF32
    forEachKernel({"llama2-7b", dtype, true}, [&](Operation *op, auto g,
                                                  auto &) {
      auto fused = dyn_cast<llama::FusedMatmulOp>(op);
      if (!fused ||
          cast<RankedTensorType>(fused.getInput().getType()).hasStaticShape())
        return;
      bool swiglu = fused.getEpilogue() == llama::Epilogue::SwiGLU;
      int64_t tileCols = (swiglu ? tileRows / 2 : tileRows);
      EXPECT_EQ(g.gridBase[0], (columnsOf(fused) + tileCols - 1) / tileCols);
      EXPECT_EQ(g.rowsPerBlock[1], tileRows);
      for (int64_t seq : {1, 7, 64, 128, 129, 4096}) {
        uint64_t blocks = gridOf(g, 1, 1, seq);
        EXPECT_GE(blocks * tileRows, seq);
        EXPECT_LT((blocks - 1) * tileRows, seq);
      }
    });
  }
}

/// On sm_90a the tensor-core GEMM tiles 128 rows by 256 weight rows (128
/// output columns for SwiGLU; without SwiGLU 128 weight rows where the
/// call's rows are few), one block per SM with its 4 stages in 193 KiB:
/// 8 warps that multiply and a loader warpgroup, which the kernel's launch
/// bound names; no other inference kernel but the prefill attention
/// (FlashAttentionBlocksTheQueries) has a geometry of its own there.
TEST(CudaGeometryTest, WgmmaGemmTilesAreTwiceAsWide) {
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    unsigned wide = 0;
    walkKernels({"llama2-7b", dtype, true}, [&](Operation *op, unsigned phase,
                                                codegen::KernelEmitter &emitter,
                                                std::string &body) {
      std::optional<artifact::LaunchGeometry> g =
          emitter.wgmmaGeometry(op, phase);
      if (isa<llama::FusedRoPEAttentionOp>(op))
        return;
      bool wgmmaBody = body.find("llamaWgmma64x256<") != std::string::npos;
      EXPECT_EQ(g.has_value(), wgmmaBody) << op->getName().getStringRef().str();
      if (!g)
        return;
      ++wide;
      auto fused = cast<llama::FusedMatmulOp>(op);
      bool swiglu = fused.getEpilogue() == llama::Epilogue::SwiGLU;
      int64_t tileCols = swiglu ? 128 : 256;
      if (swiglu) {
        EXPECT_EQ(g->gridBase[0], (columnsOf(fused) + 127) / 128);
        EXPECT_EQ(g->rowsPerBlock[1], 128u);
      } else {
        // The runtime's cap counts the narrow 128 x 128 tiles, a block for
        // each, in pairs of row tiles (a cluster's), so that few rows may
        // take them.
        EXPECT_EQ(g->gridBase[0], 2 * ((columnsOf(fused) + 127) / 128));
        EXPECT_EQ(g->rowsPerBlock[1], 256u);
      }
      EXPECT_NE(body.find("NARROW_BN = 128"), std::string::npos);
      EXPECT_NE(body.find("llamaWgmma64x128<TX>"), std::string::npos);
      EXPECT_EQ(g->block[0], 384u);
      EXPECT_NE(body.find("__launch_bounds__(LLAMA_TENSOR_CORE_GEMM_THREADS, "
                          "1)"),
                std::string::npos);
      EXPECT_NE(body.find("llamaRegistersIncrease<232>"), std::string::npos);
      // The stages, alignment, mbarriers, row scales and the epilogue's
      // 32 staged columns of 128 rows (padded by 8).
      EXPECT_EQ(g->sharedBytes, 4u * (128 + 256) * 128 + 1024 + 4 * 2 * 8 +
                                    128 * 4 + 128 * (32 + 8) * 4);
      EXPECT_LE(g->sharedBytes, 227u * 1024);
      EXPECT_NE(body.find("BN = 256, NARROW_BN = 128, STAGES = 4"),
                std::string::npos);
      // Persistent: one block an SM walks the tiles, in clusters of 2 that
      // share the weight tile (TMA multicast).
      EXPECT_EQ(g->persistentBlocksPerSm, 1u);
      EXPECT_EQ(g->clusterBlocks, 2u);
      EXPECT_NE(body.find("llamaForEachClusterTile<8>("), std::string::npos);
      EXPECT_NE(body.find("llamaTmaLoad2dMulticast("), std::string::npos);
      // The mma.sync variant keeps its 128 x 128 tiles and 97 KiB.
      artifact::LaunchGeometry base = emitter.launchGeometry(op, phase);
      EXPECT_EQ(base.gridBase[0],
                (columnsOf(fused) + tileCols / 2 - 1) / (tileCols / 2));
      EXPECT_EQ(base.sharedBytes, 3u * 2 * 128 * 128 + 1024);
      EXPECT_EQ(base.persistentBlocksPerSm, 0u);
      EXPECT_EQ(base.clusterBlocks, 0u);
      EXPECT_NE(body.find("BN = 128, STAGES = 3"), std::string::npos);
    });
    EXPECT_EQ(wide > 0, dtype != DType::F32);
  }
}

/// The tensor-core GEMM stages its outputs in shared memory and writes 8
/// columns at a time exactly when every output row is whole 16-byte chunks:
/// all of 7B's, but not tiny's SwiGLU width of 172.
TEST(CudaGeometryTest, TensorCoreGemmStagesOutputsOfWholeChunks) {
  for (const char *preset : {"llama2-7b", "tiny"}) {
    unsigned staged = 0, pairs = 0;
    forEachKernel({preset, DType::BF16, true}, [&](Operation *op, auto,
                                                   auto &body) {
      auto fused = dyn_cast<llama::FusedMatmulOp>(op);
      if (!fused || body.find("llamaWgmma64x256<") == std::string::npos)
        return;
      bool whole = columnsOf(fused) % 8 == 0;
      for (int64_t size : fused.getSegments())
        whole = whole && size % 8 == 0;
      EXPECT_EQ(body.find("finish8(r, c, v);") != std::string::npos, whole)
          << preset << " " << columnsOf(fused);
      EXPECT_EQ(body.find("finish(r, c, v0, v1, scale);") != std::string::npos,
                !whole);
      (whole ? staged : pairs) += 1;
    });
    EXPECT_GT(staged, 0u) << preset;
    EXPECT_EQ(pairs > 0, std::string(preset) == "tiny");
  }
}

TEST(CudaGeometryTest, FlashDecodingSplitsEachKvHead) {
  // Splits for about 264 blocks at the longest context, each a whole number
  // of steps of 4 warps x 32 / LANES rows x UNROLL: 70B's groups of 8 keep
  // 2 rows a lane group in flight (16-row steps), 7B's lone heads 4 (32).
  struct Case {
    const char *model;
    unsigned kvHeads, splits;
    const char *shape;
  };
  for (const Case &c :
       {Case{"llama2-70b", 8, 33, "GROUP = 8, QF = 8192, KVF = 1024"},
        Case{"llama2-7b", 32, 9, "GROUP = 1, QF = 4096, KVF = 4096"}}) {
    int kernels = 0;
    forEachKernel({c.model, DType::BF16, true}, [&](Operation *op, auto g,
                                                    auto &body) {
      auto attention = dyn_cast<llama::FusedRoPEAttentionOp>(op);
      if (!attention || !cast<RankedTensorType>(attention.getQuery().getType())
                             .hasStaticShape())
        return;
      ++kernels;
      EXPECT_EQ(g.gridBase[0], c.splits) << c.model;
      EXPECT_EQ(g.gridBase[1], c.kvHeads);
      EXPECT_EQ(g.gridBase[2], 1u); // batch
      EXPECT_EQ(g.block[0], 128u);
      EXPECT_NE(body.find("SPLITS = " + std::to_string(g.gridBase[0])),
                std::string::npos);
      EXPECT_NE(body.find(c.shape), std::string::npos) << c.model;
      const int64_t lanes = constantIn(body, "LANES");
      const int64_t unroll = constantIn(body, "UNROLL");
      EXPECT_EQ(unroll, c.kvHeads == 8 ? 2 : 4) << c.model;
      const int64_t step = 4 * (32 / lanes) * unroll;
      EXPECT_LE(int64_t(c.splits - 1) * step, 4096) << c.model;
    });
    EXPECT_GT(kernels, 0) << c.model;
  }
}

TEST(CudaGeometryTest, FlashAttentionBlocksTheQueries) {
  // Prefill (caches, a dynamic number of tokens) is two launches: the cache
  // write, one block per token row, then flash attention. bf16 takes the
  // tensor-core kernel (4 warps of 32 queries; the queries and
  // double-buffered 32-row key and value tiles in dynamic shared memory),
  // f32 the 3xTF32 one (4 warps of 16 queries; the queries and
  // double-buffered 16-row key and value tiles, f32 in rows of D + 4).
  // On sm_90a the bf16 kernel has a wgmma variant over the same blocks:
  // 384 threads, and the queries and two stages of 128-row key and value
  // tiles, unpadded, from a 1024-byte boundary, with 10 mbarriers (a full
  // and an empty one a stage, for keys and for values, and a rotated one a
  // stage, which only cacheless fused_rope_attention uses).
  struct Expected {
    DType dtype;
    unsigned threads, queries, sharedBytes;
    unsigned wgmmaSharedBytes;
  };
  for (Expected want :
       {Expected{DType::BF16, 128, 128, (128 + 2 * 2 * 32) * 136 * 2,
                 (128 + 2 * 2 * 128) * 128 * 2 + 1024 + 80},
        Expected{DType::F32, 128, 64, (64 + 2 * 2 * 16) * 132 * 4, 0}}) {
    unsigned writes = 0, flashes = 0;
    walkKernels(
        {"llama2-70b", want.dtype, true},
        [&](Operation *op, unsigned phase, codegen::KernelEmitter &emitter,
            std::string &body) {
          auto attention = dyn_cast<llama::FusedRoPEAttentionOp>(op);
          if (!attention ||
              cast<RankedTensorType>(attention.getQuery().getType())
                  .hasStaticShape())
            return;
          ASSERT_EQ(emitter.phaseCount(op), 2u);
          artifact::LaunchGeometry g = emitter.launchGeometry(op, phase);
          if (phase == 0) {
            ++writes;
            EXPECT_EQ(emitter.phaseName(op, phase), "cache_write");
            EXPECT_NE(body.find("kc[dst + d1] ="), std::string::npos);
            EXPECT_EQ(g.block[0], 256u);
            EXPECT_EQ(g.sharedBytes, 0u);
            for (int64_t seq : {1, 63, 4096})
              EXPECT_EQ(gridOf(g, 0, 1, seq), uint64_t(seq));
            EXPECT_EQ(g.gridBase[1], 1u);
            EXPECT_EQ(g.gridBase[2], 1u);
            return;
          }
          ++flashes;
          EXPECT_EQ(emitter.phaseName(op, phase), "flash");
          // The cache write has done the caches' part.
          EXPECT_EQ(body.find("kc["), std::string::npos);
          EXPECT_EQ(body.find("vc["), std::string::npos);
          EXPECT_EQ(g.gridBase[0], 64u); // query heads
          EXPECT_EQ(g.block[0], want.threads);
          EXPECT_EQ(g.sharedBytes, want.sharedBytes);
          for (int64_t seq : {1, 63, 64, 65, 127, 128, 129, 4096})
            EXPECT_EQ(gridOf(g, 1, 1, seq),
                      uint64_t((seq + want.queries - 1) / want.queries));
          std::optional<artifact::LaunchGeometry> wg =
              emitter.wgmmaGeometry(op, phase);
          ASSERT_EQ(wg.has_value(), want.wgmmaSharedBytes != 0);
          if (!wg)
            return;
          EXPECT_EQ(wg->block[0], 384u);
          EXPECT_EQ(wg->sharedBytes, want.wgmmaSharedBytes);
          for (unsigned axis = 0; axis < 3; ++axis) {
            EXPECT_EQ(wg->gridBase[axis], g.gridBase[axis]);
            EXPECT_EQ(wg->rowsPerBlock[axis], g.rowsPerBlock[axis]);
          }
          EXPECT_NE(body.find("LLAMA_TENSOR_CORE_ATTENTION_THREADS"),
                    std::string::npos);
        });
    EXPECT_GT(writes, 0u);
    EXPECT_EQ(writes, flashes);
  }
}

TEST(CudaGeometryTest, MatmulGradTilesCoverBothProducts) {
  // x: K's column tiles; y: dW's N row tiles, then the rows' tiles of dx.
  // 16-bit GEMMs with K and N multiples of 8 take tensor-core tiles of 128
  // rows: 128 columns with mma.sync in 55.5 KiB of dynamic shared memory (3
  // stages of 32 summed rows, rows padded by 16 bytes), and on sm_90a 256
  // columns with wgmma in 193 KiB (4 stages of 64 summed rows of dy's 128
  // and x's or W's 256 columns, 1 KiB to align them, and a full and an
  // empty mbarrier a stage), loaded by TMA from a loader warpgroup (384
  // threads) in 64 x 64 boxes of x, W and dy, one block an SM walking the
  // tiles (persistent). The rest take 128 x 128 TF32
  // tiles in static shared memory.
  constexpr uint32_t mmaSyncBytes = 3 * (128 * 40 + 32 * 136) * 2;
  constexpr uint32_t wgmmaBytes = 4 * (128 + 256) * 64 * 2 + 1024 + 4 * 2 * 8;
  static_assert(wgmmaBytes <= 227 * 1024);
  struct Expected {
    const char *preset;
    DType dtype;
  };
  for (Expected c :
       {Expected{"llama2-7b", DType::BF16}, Expected{"llama2-7b", DType::F32},
        Expected{"tiny", DType::BF16}}) {
    unsigned tensorCore = 0, simt = 0;
    walkKernels(
        {c.preset, c.dtype, true, /*training=*/true,
         /*backward=*/true},
        [&](Operation *op, unsigned phase, codegen::KernelEmitter &emitter,
            std::string &body) {
          auto grad = dyn_cast<llama::MatmulGradOp>(op);
          if (!grad)
            return;
          artifact::LaunchGeometry g = emitter.launchGeometry(op, phase);
          std::optional<artifact::LaunchGeometry> wide =
              emitter.wgmmaGeometry(op, phase);
          auto weight = cast<RankedTensorType>(grad.getWeight().getType());
          int64_t n = weight.getDimSize(0), k = weight.getDimSize(1);
          bool tc = c.dtype == DType::BF16 && n % 8 == 0 && k % 8 == 0;
          int64_t tile = 128;
          (tc ? tensorCore : simt) += 1;
          EXPECT_EQ(body.find("llamaMma16816") != std::string::npos, tc);
          EXPECT_EQ(body.find("llamaGemmTile128") != std::string::npos, !tc);
          EXPECT_EQ(
              body.find("llamaWgmma64x256<ST, 1, 1>") != std::string::npos, tc);
          EXPECT_EQ(g.block[0], 256u);
          EXPECT_EQ(g.sharedBytes, tc ? mmaSyncBytes : 0u);
          EXPECT_EQ(g.gridBase[0], uint64_t((k + tile - 1) / tile));
          EXPECT_EQ(g.gridBase[1], uint64_t((n + tile - 1) / tile));
          EXPECT_EQ(g.rowsPerBlock[1], uint32_t(tile));
          ASSERT_EQ(wide.has_value(), tc);
          if (!tc)
            return;
          EXPECT_EQ(wide->block[0], 384u);
          EXPECT_EQ(wide->sharedBytes, wgmmaBytes);
          // The sm_90a kernel is persistent; the mma.sync one is not.
          EXPECT_EQ(wide->persistentBlocksPerSm, 1u);
          EXPECT_EQ(g.persistentBlocksPerSm, 0u);
          std::vector<artifact::TensorMapSpec> maps =
              emitter.tensorMaps(op, phase);
          ASSERT_EQ(maps.size(), 3u);
          for (uint32_t i = 0; i < 3; ++i) {
            EXPECT_EQ(maps[i].operand, i); // x, W, dy
            EXPECT_EQ(maps[i].boxInner, 64u);
            EXPECT_EQ(maps[i].boxRows, 64u);
            EXPECT_EQ(maps[i].swizzleBytes, 128u);
          }
          EXPECT_EQ(wide->gridBase[0], uint64_t((k + 255) / 256));
          // In clusters of 2 that share B, over dW's row tiles padded to
          // whole clusters (so that no cluster straddles dW and dx).
          EXPECT_EQ(wide->clusterBlocks, 2u);
          EXPECT_EQ(g.clusterBlocks, 0u);
          const int64_t weightTiles = (n + tile - 1) / tile;
          EXPECT_EQ(wide->gridBase[1], uint64_t(weightTiles + weightTiles % 2));
          EXPECT_EQ(wide->rowsPerBlock[1], 128u);
          EXPECT_NE(body.find("llamaForEachClusterTile<8>("),
                    std::string::npos);
          EXPECT_NE(body.find("llamaTmaLoad2dMulticast("), std::string::npos);
          EXPECT_NE(body.find("bars.awaitClusterReleases(step)"),
                    std::string::npos);
        });
    // 7B's GEMMs all take the tensor cores in bf16; tiny's FFN (172 wide)
    // does not.
    EXPECT_GT(c.dtype == DType::BF16 ? tensorCore : simt, 0u) << c.preset;
    if (c.dtype == DType::F32 || std::string(c.preset) == "llama2-7b")
      EXPECT_EQ(c.dtype == DType::BF16 ? simt : tensorCore, 0u) << c.preset;
    else
      EXPECT_GT(simt, 0u) << c.preset;
  }
}

TEST(CudaGeometryTest, AttentionGradPhasesBlockTheirRows) {
  // bf16 at head size 128 (70B: 64 heads, 8 KV heads) takes the three
  // tensor-core phases: blocks
  // of 64 queries (stats, dq) or keys (dkv) with mma.sync, and on sm_90a
  // blocks of 128 with a loader warpgroup (384 threads), over 64-row tiles
  // in three stages from a 1024-byte boundary: the block's own 128 rows of
  // two operands, then a stage's two tiles (and for dkv 1 KiB of the
  // queries' statistics), and a full and an empty mbarrier a stage. The
  // tiles come by TMA: keys and values (buffers 1, 2) for the query side;
  // queries, output gradients (0, 3) and the statistics' first 16 bytes of
  // each dQ row (4, unswizzled) for dkv. f32 takes the 3xTF32 phases:
  // blocks of 64 rows (16 a warp) with mma.sync, their own two 64-row
  // tiles and two stages of two 16-row ones, f32 rows of 132: the 99 KiB
  // that sm_86 and sm_89 give a block. Every mma.sync phase fits there.
  constexpr uint32_t querySide = (2 * 128 + 2 * 3 * 64) * 128 * 2 + 1024 + 48;
  constexpr uint32_t keySide = querySide + 3 * 1024;
  static_assert(keySide <= 227 * 1024);
  for (DType dtype : {DType::BF16, DType::F32}) {
    unsigned phases = 0;
    walkKernels(
        {"llama2-70b", dtype, true, /*training=*/true, /*backward=*/true},
        [&](Operation *op, unsigned phase, codegen::KernelEmitter &emitter,
            std::string &body) {
          if (!isa<llama::AttentionGradOp>(op))
            return;
          ++phases;
          std::optional<artifact::LaunchGeometry> wg =
              emitter.wgmmaGeometry(op, phase);
          std::vector<artifact::TensorMapSpec> maps =
              emitter.tensorMaps(op, phase);
          artifact::LaunchGeometry g = emitter.launchGeometry(op, phase);
          bool keys = emitter.phaseName(op, phase) == "dkv";
          EXPECT_LE(g.sharedBytes, 99u * 1024);
          if (dtype == DType::F32) {
            EXPECT_FALSE(wg.has_value());
            EXPECT_TRUE(maps.empty());
            EXPECT_EQ(body.find("LLAMA_WGMMA"), std::string::npos);
            EXPECT_NE(body.find("llamaTf32RowProducts"), std::string::npos);
            EXPECT_EQ(g.gridBase[0], keys ? 8u : 64u);
            EXPECT_EQ(g.block[0], 128u);
            EXPECT_EQ(g.sharedBytes, (2u * 64 + 4 * 16) * 132 * 4);
            for (int64_t seq : {1, 63, 64, 65, 4096})
              EXPECT_EQ(gridOf(g, 1, 1, seq), uint64_t((seq + 63) / 64));
            return;
          }
          ASSERT_TRUE(wg.has_value());
          EXPECT_EQ(g.gridBase[0], keys ? 8u : 64u); // KV heads or heads
          EXPECT_EQ(wg->gridBase[0], g.gridBase[0]);
          EXPECT_EQ(g.block[0], 128u);
          EXPECT_EQ(wg->block[0], 384u);
          EXPECT_EQ(wg->sharedBytes, keys ? keySide : querySide);
          for (int64_t seq : {1, 63, 64, 65, 128, 129, 4096}) {
            EXPECT_EQ(gridOf(g, 1, 1, seq), uint64_t((seq + 63) / 64));
            EXPECT_EQ(gridOf(*wg, 1, 1, seq), uint64_t((seq + 127) / 128));
          }
          EXPECT_NE(body.find("#ifdef LLAMA_WGMMA"), std::string::npos);
          ASSERT_EQ(maps.size(), keys ? 3u : 2u);
          std::vector<uint32_t> operands;
          for (const artifact::TensorMapSpec &map : maps) {
            operands.push_back(map.operand);
            EXPECT_EQ(map.boxRows, 64u);
            bool stats = map.operand == 4;
            EXPECT_EQ(map.boxInner, stats ? 8u : 64u);
            EXPECT_EQ(map.swizzleBytes, stats ? 0u : 128u);
          }
          const std::vector<uint32_t> keyMaps = {0, 3, 4}, queryMaps = {1, 2};
          EXPECT_EQ(operands, keys ? keyMaps : queryMaps);
        });
    EXPECT_GT(phases, 0u);
    EXPECT_EQ(phases % 3, 0u);
  }
}

TEST(CudaGeometryTest, RowKernelsHaveOneBlockPerRow) {
  forEachKernel({"tiny", DType::F32, false}, [](Operation *op, auto g, auto &) {
    if (!isa<llama::EmbeddingOp, llama::RMSNormOp, llama::RoPEOp, llama::SiLUOp,
             llama::AddOp, llama::KVCacheWriteOp>(op))
      return;
    // A cache write walks the rows of its new values, not of the cache.
    Value rows =
        isa<llama::KVCacheWriteOp>(op) ? op->getOperand(1) : op->getResult(0);
    auto type = cast<RankedTensorType>(rows.getType());
    if (type.hasStaticShape()) {
      EXPECT_EQ(g.gridBase[0], 1u) << op->getName().getStringRef().str();
    } else {
      EXPECT_EQ(g.gridBase[0], 0u);
      EXPECT_EQ(g.rowsPerBlock[0], 1u);
    }
  });
}

/// Only the tensor-core GEMM and attention ask for dynamic shared memory:
/// the GEMM's 3 stages of 128 x 64 A and B tiles and 1 KiB for the
/// alignment (sm_90a's wider tiles have a geometry of their own, checked
/// above); the attention's 128 queries and 2 stages of 32-row key and
/// value tiles, rows padded by 8 elements. Both fit the 99 KiB that sm_86
/// and sm_89 (the least of the default archs) allow a block.
TEST(CudaGeometryTest, SameBodySameGeometryAndSharedMemoryForTheTiledKernels) {
  constexpr uint32_t gemmBytes = 3 * (128 + 128) * 64 * 2 + 1024;
  static_assert(gemmBytes <= 99 * 1024);
  static_assert((128 + 2 * 2 * 32) * (128 + 8) * 2 <= 99 * 1024);
  for (const char *preset : {"tiny", "llama2-13b", "llama2-70b"})
    for (bool fused : {true, false}) {
      llvm::StringMap<artifact::LaunchGeometry> seen;
      unsigned gemms = 0, attentions = 0;
      forEachKernel({preset, DType::BF16, fused}, [&](Operation *op, auto g,
                                                      auto &body) {
        bool dynamic = body.find("LLAMA_DYNAMIC_SHARED") != std::string::npos;
        // The tensor-core attention takes the prelude's online softmax on
        // its score accumulators.
        if (isa<llama::FusedRoPEAttentionOp, llama::AttentionOp>(op) &&
            body.find("llamaOnlineSoftmax(") != std::string::npos) {
          ++attentions;
          // The head size, as the body states it ("..., D = 128;").
          size_t at = body.find(", D = ");
          ASSERT_NE(at, std::string::npos);
          int64_t headDim = std::stoll(body.substr(at + 6));
          EXPECT_TRUE(dynamic);
          EXPECT_EQ(g.sharedBytes,
                    uint32_t((128 + 2 * 2 * 32) * (headDim + 8) * 2));
        } else {
          gemms += dynamic;
          EXPECT_EQ(g.sharedBytes, dynamic ? gemmBytes : 0u);
        }
        EXPECT_GE(g.block[0], 32u);
        EXPECT_LE(g.block[0] * g.block[1] * g.block[2], 1024u);
        auto [it, inserted] = seen.try_emplace(body, g);
        if (inserted)
          return;
        for (int i = 0; i < 3; ++i) {
          EXPECT_EQ(it->second.gridBase[i], g.gridBase[i]);
          EXPECT_EQ(it->second.rowsPerBlock[i], g.rowsPerBlock[i]);
          EXPECT_EQ(it->second.block[i], g.block[i]);
        }
        EXPECT_EQ(it->second.sharedBytes, g.sharedBytes);
      });
      EXPECT_GT(gemms, 0u) << preset;
      // tiny's head size, 8, is too small for the tensor cores.
      if (llvm::StringRef(preset) != "tiny")
        EXPECT_GT(attentions, 0u) << preset;
    }
}

/// Emits the adamw_update and grad_norm kernels over one tensor of
/// `elements` f32 values and returns their sources, in that order.
std::vector<std::string> emitOptimizerOver(int64_t elements) {
  std::unique_ptr<MLIRContext> context = makeContext();
  std::string n = std::to_string(elements);
  std::string t = "tensor<" + n + "xf32>";
  std::string source =
      "func.func @step(%w: " + t + ", %g: " + t +
      ", %lr: tensor<f32>, %n: tensor<f32>, %s: tensor<3xi32>) -> " + t +
      " {\n"
      "  %u:3 = llama.adamw_update params(%w) grads(%g) moments(%w) "
      "second_moments(%w) lr(%lr) grad_norm(%n) schedule(%s) {beta1 = 0.9 : "
      "f64, beta2 = 0.95 : f64, epsilon = 1.0e-5 : f64, weight_decay = 0.1 : "
      "f64, max_grad_norm = 1.0 : f64} : (" +
      t + ", " + t + ", " + t + ", " + t +
      ", tensor<f32>, tensor<f32>, tensor<3xi32>) -> (" + t + ", " + t + ", " +
      t + ")\n  %norm = llama.grad_norm %g : (" + t +
      ") -> tensor<f32>\n  return %u#0 : " + t + "\n}\n";
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, context.get());
  EXPECT_TRUE(module) << source;
  std::vector<std::string> kernels;
  if (!module)
    return kernels;
  std::unique_ptr<codegen::KernelEmitter> emitter =
      codegen::createCudaEmitter();
  module->walk([&](Operation *op) {
    if (!isa<llama::AdamWUpdateOp, llama::GradNormOp>(op))
      return;
    std::string body;
    llvm::raw_string_ostream os(body);
    EXPECT_TRUE(succeeded(emitter->emitKernel(op, 0, "kernel", os)));
    kernels.push_back(body);
  });
  return kernels;
}

TEST(CudaOptimizerTest, VectorWidthDividesEveryTensor) {
  // The optimizer kernels move VEC consecutive elements a thread with no
  // scalar tail: 4 where every tensor is whole vectors of 4 (a 16-byte f32
  // access), else 2 or 1 (a model of width 78 has such tensors).
  for (auto [elements, vec] :
       {std::pair<int64_t, int>{4104, 4}, {6, 2}, {78, 2}, {7, 1}}) {
    std::vector<std::string> kernels = emitOptimizerOver(elements);
    ASSERT_EQ(kernels.size(), 2u) << elements;
    std::string expected = "constexpr int VEC = " + std::to_string(vec);
    for (const std::string &kernel : kernels)
      EXPECT_NE(kernel.find(expected), std::string::npos)
          << elements << " elements:\n"
          << kernel;
  }
}

} // namespace
