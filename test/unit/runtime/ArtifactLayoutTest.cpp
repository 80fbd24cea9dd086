//===- ArtifactLayoutTest.cpp - Sizes an executor allocates -------------===//
//
// The memory plan a session checks against the GPU's free memory: every
// buffer sized for the longest call that names it, activations in their
// entries' arenas, and each kind counted once.
//
//===----------------------------------------------------------------------===//

#include "runtime/ArtifactLayout.h"

#include <gtest/gtest.h>

using namespace llamac::artifact;

namespace {

BufferSpec buffer(const char *name, BufferKind kind, ElementType type,
                  std::vector<int64_t> shape) {
  BufferSpec spec;
  spec.name = name;
  spec.kind = kind;
  spec.type = type;
  spec.shape = std::move(shape);
  return spec;
}

TEST(ArtifactLayoutTest, MemoryPlanCountsEachKindOnce) {
  ArtifactSpec spec;
  spec.buffers = {
      buffer("w", BufferKind::Weight, ElementType::BF16, {1024, 1024}),
      buffer("packed", BufferKind::Packed, ElementType::BF16, {512}),
      buffer("k_cache.0", BufferKind::Cache, ElementType::F32, {64, 32}),
      buffer("adamw.m.w", BufferKind::State, ElementType::F32, {1024}),
      buffer("tokens", BufferKind::Input, ElementType::I32, {-1}),
      buffer("h", BufferKind::Activation, ElementType::F32, {-1, 1024}),
  };
  spec.kernels.resize(1);
  EntrySpec prefill;
  prefill.name = "prefill";
  prefill.maxSeq = 100;
  prefill.arenaBytes = 4096;
  prefill.inputs = {4};
  prefill.launches.push_back({});
  prefill.launches.back().buffers = {0, 1, 2, 4, 5};
  spec.entries = {prefill};
  const MemoryPlan plan = memoryPlan(spec, bufferUses(spec));
  EXPECT_EQ(plan.weights, 1024u * 1024 * 2 + 512 * 2);
  EXPECT_EQ(plan.caches, 64u * 32 * 4);
  EXPECT_EQ(plan.state, 1024u * 4);
  // The arena, and the tokens sized for the longest call; the activation
  // lives in the arena.
  EXPECT_EQ(plan.activations, 4096u + 100 * 4);
  EXPECT_EQ(plan.describe(),
            "2.02 MiB (weights 2.00 MiB, KV caches 8.00 KiB, optimizer state "
            "4.00 KiB, activations 4.39 KiB)");
}

/// Weights that only the load entry reads (packed into others) are held
/// launch by launch: the plan's peak is the most held at once.
TEST(ArtifactLayoutTest, LoadOnlyWeightsAreHeldWhileTheyArePacked) {
  ArtifactSpec spec;
  spec.buffers = {
      buffer("wq", BufferKind::Weight, ElementType::F32, {256}),
      buffer("wk", BufferKind::Weight, ElementType::F32, {256}),
      buffer("qk", BufferKind::Packed, ElementType::F32, {512}),
      buffer("w1", BufferKind::Weight, ElementType::F32, {1024}),
      buffer("w3", BufferKind::Weight, ElementType::F32, {1024}),
      buffer("w13", BufferKind::Packed, ElementType::F32, {2048}),
      buffer("norm", BufferKind::Weight, ElementType::F32, {64}),
  };
  spec.kernels.resize(1);
  EntrySpec load;
  load.name = "load";
  load.seq = 1;
  load.launches = {{0, {0, 1, 2}}, {0, {3, 4, 5}}, {0, {6, 5}}};
  EntrySpec prefill;
  prefill.name = "prefill";
  prefill.maxSeq = 8;
  prefill.launches = {{0, {2, 5, 6}}};
  spec.entries = {load, prefill};
  EXPECT_EQ(loadOnlyWeights(spec),
            (std::vector<bool>{true, true, false, true, true, false, false}));
  // Each load-only weight arrives at the first launch that reads it and
  // leaves after the last.
  const std::vector<LoadStep> steps = loadSchedule(spec, loadOnlyWeights(spec));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].arriving, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(steps[0].leaving, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(steps[1].arriving, (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(steps[1].leaving, (std::vector<uint32_t>{3, 4}));
  EXPECT_TRUE(steps[2].arriving.empty() && steps[2].leaving.empty());
  const MemoryPlan plan = memoryPlan(spec, bufferUses(spec));
  // The packed buffers and the norm, which prefill reads too.
  EXPECT_EQ(plan.weights, (512u + 2048 + 64) * 4);
  EXPECT_EQ(plan.unpacked, (256u * 2 + 1024 * 2) * 4);
  EXPECT_EQ(plan.unpackedPeak, 1024u * 2 * 4);
  EXPECT_EQ(plan.peak(), plan.total() + 8192);
  EXPECT_EQ(plan.describe(), "10.25 KiB (weights 10.25 KiB; 8.00 KiB more "
                             "while the weights are packed)");

  // A weight that a later launch reads again is held until then.
  spec.entries[0].launches.push_back({0, {3, 5}});
  const std::vector<LoadStep> longer =
      loadSchedule(spec, loadOnlyWeights(spec));
  ASSERT_EQ(longer.size(), 4u);
  EXPECT_EQ(longer[1].leaving, (std::vector<uint32_t>{4}));
  EXPECT_EQ(longer[3].leaving, (std::vector<uint32_t>{3}));
  EXPECT_EQ(memoryPlan(spec, bufferUses(spec)).unpackedPeak, 1024u * 2 * 4);
  // A load launch of more buffers than a launch passes directly reads them
  // through a table written before any launch: nothing is then streamed.
  spec.entries[0].launches.push_back({0, std::vector<uint32_t>(13, 6)});
  EXPECT_EQ(loadOnlyWeights(spec), std::vector<bool>(7, false));
  EXPECT_EQ(memoryPlan(spec, bufferUses(spec)).unpackedPeak, 0u);
}

TEST(ArtifactLayoutTest, FormatsBytesInBinaryUnits) {
  EXPECT_EQ(formatBytes(0), "0 bytes");
  EXPECT_EQ(formatBytes(1023), "1023 bytes");
  EXPECT_EQ(formatBytes(1536), "1.50 KiB");
  EXPECT_EQ(formatBytes(uint64_t(13) << 30), "13.00 GiB");
  EXPECT_EQ(formatBytes(uint64_t(3) << 40), "3.00 TiB");
}

} // namespace
