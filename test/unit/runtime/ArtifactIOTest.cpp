//===- ArtifactIOTest.cpp - Writing, reading and verifying artifacts ------===//
//
// One test per way an artifact file can be wrong, each checking that the
// message names the file, the field and the reason.
//
//===----------------------------------------------------------------------===//

#include "runtime/ArtifactIO.h"
#include "runtime/ArtifactLayout.h"
#include "runtime/ArtifactVerifier.h"
#include "runtime/Fnv1a.h"

#include "TestArtifacts.h"
#include "TestAssets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;
using llamac::test::readBytes;
using llamac::test::TempDir;
using llamac::test::toyArtifact;
using llamac::test::writeBytes;
using testing::HasSubstr;

namespace {

/// The toy artifact with a stand-in binary: these tests never load it, and
/// without a real shared object in the middle, the file is mostly tables.
ArtifactSpec tableOnlyArtifact() {
  ArtifactSpec spec = toyArtifact({0x7f, 'E', 'L', 'F'});
  spec.kernelSource.clear();
  return spec;
}

/// Writes `spec` to a file and returns the error reading it back.
std::string readError(const TempDir &dir, const ArtifactSpec &spec) {
  std::string path = dir.file("m.art");
  Status written = writeArtifact(spec, path);
  EXPECT_TRUE(written.ok()) << written.message();
  StatusOr<ArtifactSpec> read = readArtifact(path);
  EXPECT_FALSE(read.ok());
  return read.ok() ? "" : read.message();
}

std::string readErrorOfBytes(const TempDir &dir,
                             const std::vector<uint8_t> &bytes) {
  std::string path = dir.file("m.art");
  writeBytes(path, bytes);
  StatusOr<ArtifactSpec> read = readArtifact(path);
  EXPECT_FALSE(read.ok());
  return read.ok() ? "" : read.message();
}

TEST(ArtifactIOTest, RoundTripsEveryField) {
  TempDir dir;
  ArtifactSpec spec = toyArtifact({1, 2, 3, 4, 5});
  spec.config.ropeStyle = RopeStyle::HalfSplit;
  spec.config.dtype = DType::BF16;
  spec.config.ropeTheta = 500000.0;
  spec.config.normEps = 1e-6;
  spec.binaries.push_back({"cuda", "sm_90", "cubin", {9, 8, 7}});
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(spec, path).ok());
  StatusOr<ArtifactSpec> read = readArtifact(path);
  ASSERT_TRUE(read.ok()) << read.message();
  const ArtifactSpec &back = *read;

  EXPECT_EQ(back.schemaVersion, kSchemaVersion);
  EXPECT_EQ(back.config.name, "toy");
  EXPECT_EQ(back.config.dim, 4);
  EXPECT_EQ(back.config.nLayers, 1);
  EXPECT_EQ(back.config.nHeads, 2);
  EXPECT_EQ(back.config.nKvHeads, 1);
  EXPECT_EQ(back.config.ffnDim, 8);
  EXPECT_EQ(back.config.vocabSize, 8);
  EXPECT_EQ(back.config.maxSeqLen, 16);
  EXPECT_EQ(back.config.ropeTheta, 500000.0);
  EXPECT_EQ(back.config.normEps, 1e-6);
  EXPECT_EQ(back.config.ropeStyle, RopeStyle::HalfSplit);
  EXPECT_EQ(back.config.dtype, DType::BF16);
  EXPECT_TRUE(back.config.sharedClassifier);

  ASSERT_EQ(back.buffers.size(), spec.buffers.size());
  for (size_t i = 0; i < spec.buffers.size(); ++i) {
    EXPECT_EQ(back.buffers[i].name, spec.buffers[i].name);
    EXPECT_EQ(back.buffers[i].kind, spec.buffers[i].kind);
    EXPECT_EQ(back.buffers[i].type, spec.buffers[i].type);
    EXPECT_EQ(back.buffers[i].shape, spec.buffers[i].shape);
    EXPECT_EQ(back.buffers[i].arenaOffset, spec.buffers[i].arenaOffset);
  }
  ASSERT_EQ(back.kernels.size(), spec.kernels.size());
  for (size_t i = 0; i < spec.kernels.size(); ++i) {
    EXPECT_EQ(back.kernels[i].symbol, spec.kernels[i].symbol);
    EXPECT_EQ(back.kernels[i].op, spec.kernels[i].op);
    EXPECT_EQ(back.kernels[i].origin, spec.kernels[i].origin);
  }
  ASSERT_EQ(back.entries.size(), spec.entries.size());
  for (size_t i = 0; i < spec.entries.size(); ++i) {
    const EntrySpec &a = spec.entries[i], &b = back.entries[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.batch, a.batch);
    EXPECT_EQ(b.seq, a.seq);
    EXPECT_EQ(b.maxSeq, a.maxSeq);
    EXPECT_EQ(b.arenaBytes, a.arenaBytes);
    EXPECT_EQ(b.inputs, a.inputs);
    EXPECT_EQ(b.outputs, a.outputs);
    ASSERT_EQ(b.launches.size(), a.launches.size());
    for (size_t l = 0; l < a.launches.size(); ++l) {
      EXPECT_EQ(b.launches[l].kernel, a.launches[l].kernel);
      EXPECT_EQ(b.launches[l].buffers, a.launches[l].buffers);
    }
  }
  ASSERT_EQ(back.binaries.size(), 2u);
  EXPECT_EQ(back.binaries[0].target, "cpu");
  EXPECT_EQ(back.binaries[0].arch, "x86-64");
  EXPECT_EQ(back.binaries[0].format, "elf-shared-object");
  EXPECT_EQ(back.binaries[0].data, (std::vector<uint8_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(back.binaries[1].data, (std::vector<uint8_t>{9, 8, 7}));
  EXPECT_EQ(back.kernelSource, spec.kernelSource);
  EXPECT_EQ(back.provenance.compilerVersion, "0.1.0");
  EXPECT_EQ(back.provenance.sourceHash, "0123456789abcdef");
  EXPECT_EQ(back.provenance.flags, "llamac --target=cpu");
  EXPECT_EQ(back.provenance.toolVersion, "test compiler");
}

TEST(ArtifactIOTest, BinariesAre64ByteAligned) {
  StatusOr<std::vector<uint8_t>> bytes =
      serializeArtifact(toyArtifact(std::vector<uint8_t>(100, 0xab)));
  ASSERT_TRUE(bytes.ok());
  StatusOr<ArtifactSpec> read =
      readArtifactFromMemory(bytes->data(), bytes->size(), "mem");
  ASSERT_TRUE(read.ok()) << read.message();
  // Find the run of 0xab in the file: it must start at a multiple of 64.
  const std::vector<uint8_t> &file = *bytes;
  size_t start = 0;
  while (start + 100 <= file.size() &&
         !std::all_of(file.begin() + start, file.begin() + start + 100,
                      [](uint8_t b) { return b == 0xab; }))
    ++start;
  ASSERT_LE(start + 100, file.size());
  EXPECT_EQ(start % 64, 0u);
}

TEST(ArtifactIOTest, WriteIsAtomicAndLeavesNoTemporary) {
  TempDir dir;
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(tableOnlyArtifact(), path).ok());
  size_t files = 0;
  for (auto &entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST(ArtifactIOTest, MissingFile) {
  TempDir dir;
  StatusOr<ArtifactSpec> read = readArtifact(dir.file("absent.art"));
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.message(), HasSubstr("absent.art: cannot open"));
}

TEST(ArtifactIOTest, TruncatedFile) {
  TempDir dir;
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(tableOnlyArtifact());
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> half(bytes->begin(), bytes->begin() + bytes->size() / 2);
  std::string message = readErrorOfBytes(dir, half);
  EXPECT_THAT(message, HasSubstr("m.art: truncated or corrupt: FlatBuffers "
                                 "verification failed (file size " +
                                 std::to_string(half.size()) + " bytes)"));
}

TEST(ArtifactIOTest, FileShorterThanHeader) {
  TempDir dir;
  std::string message = readErrorOfBytes(dir, {1, 2, 3});
  EXPECT_THAT(message, HasSubstr("m.art: truncated or corrupt: file has 3 "
                                 "bytes"));
}

TEST(ArtifactIOTest, FlippedBytesInTheMiddle) {
  TempDir dir;
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(tableOnlyArtifact());
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> corrupt = *bytes;
  for (size_t i = corrupt.size() / 2 - 16; i < corrupt.size() / 2 + 16; ++i)
    corrupt[i] ^= 0xff;
  std::string message = readErrorOfBytes(dir, corrupt);
  EXPECT_THAT(message, HasSubstr("m.art: truncated or corrupt"));
}

/// The file ends with the FNV-1a 64 of the FlatBuffer, then the tag.
TEST(ArtifactIOTest, EndsWithTheChecksumOfWhatPrecedesIt) {
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(tableOnlyArtifact());
  ASSERT_TRUE(bytes.ok());
  const std::vector<uint8_t> &file = *bytes;
  ASSERT_GT(file.size(), kArtifactTrailerBytes);
  size_t body = file.size() - kArtifactTrailerBytes;
  EXPECT_EQ(std::string(file.end() - 8, file.end()), kArtifactChecksumTag);
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i)
    stored |= uint64_t(file[body + i]) << (8 * i);
  EXPECT_EQ(stored, fnv1a64(std::string_view(
                        reinterpret_cast<const char *>(file.data()), body)));
}

/// One bit of a kernel binary: every structural check passes, so only the
/// checksum stands between it and running corrupt machine code.
TEST(ArtifactIOTest, FlippedBitInABinary) {
  TempDir dir;
  StatusOr<std::vector<uint8_t>> bytes =
      serializeArtifact(toyArtifact(std::vector<uint8_t>(100, 0xab)));
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> corrupt = *bytes;
  auto binary = std::search_n(corrupt.begin(), corrupt.end(), 100, 0xab);
  ASSERT_NE(binary, corrupt.end());
  binary[50] ^= 0x10;
  std::string message = readErrorOfBytes(dir, corrupt);
  size_t body = corrupt.size() - kArtifactTrailerBytes;
  EXPECT_THAT(message, HasSubstr("m.art: truncated or corrupt: checksum "));
  EXPECT_THAT(message, HasSubstr(" of its first " + std::to_string(body) +
                                 " bytes, the file says "));
}

TEST(ArtifactIOTest, FlippedBitInTheChecksum) {
  TempDir dir;
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(tableOnlyArtifact());
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> corrupt = *bytes;
  corrupt[corrupt.size() - kArtifactTrailerBytes] ^= 1;
  EXPECT_THAT(readErrorOfBytes(dir, corrupt),
              HasSubstr("m.art: truncated or corrupt: checksum "));
}

/// Without its trailer (cut off, or its tag damaged) a current file is
/// refused; the FlatBuffer alone would pass every other check.
TEST(ArtifactIOTest, CurrentVersionWithoutChecksum) {
  TempDir dir;
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(tableOnlyArtifact());
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> cut(bytes->begin(),
                           bytes->end() - kArtifactTrailerBytes);
  std::string expected = dir.file("m.art") +
                         ": truncated or corrupt: no checksum at its end "
                         "(\"LLMAfnv1\"), which every file of schema "
                         "version 4 and later ends with";
  EXPECT_EQ(readErrorOfBytes(dir, cut), expected);
  std::vector<uint8_t> badTag = *bytes;
  badTag.back() ^= 1;
  EXPECT_EQ(readErrorOfBytes(dir, badTag), expected);
}

/// Files of schema version 3 and older have no trailer, and still read.
TEST(ArtifactIOTest, ReadsVersion3WithoutChecksum) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.schemaVersion = 3;
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(spec);
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> old(bytes->begin(),
                           bytes->end() - kArtifactTrailerBytes);
  writeBytes(dir.file("m.art"), old);
  StatusOr<ArtifactSpec> back = readArtifact(dir.file("m.art"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->schemaVersion, 3u);
}

TEST(ArtifactIOTest, WrongIdentifier) {
  TempDir dir;
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(tableOnlyArtifact());
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> other = *bytes;
  std::copy_n("ABC\x01", 4, other.begin() + 4);
  std::string message = readErrorOfBytes(dir, other);
  EXPECT_EQ(message, dir.file("m.art") +
                         ": not a llamac artifact (identifier 'ABC\\x01', "
                         "expected 'LLMA')");
}

TEST(ArtifactIOTest, FutureSchemaVersion) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.schemaVersion = kSchemaVersion + 1;
  EXPECT_THAT(
      readError(dir, spec),
      HasSubstr("m.art: schema_version: " + std::to_string(kSchemaVersion + 1) +
                " is newer than the versions " +
                std::to_string(kOldestSchemaVersion) + " to " +
                std::to_string(kSchemaVersion) + " this runtime reads"));
}

TEST(ArtifactIOTest, SchemaVersionBeforeTheOldestReadable) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.schemaVersion = kOldestSchemaVersion - 1;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: schema_version: " +
                        std::to_string(kOldestSchemaVersion - 1) +
                        " is older than the versions " +
                        std::to_string(kOldestSchemaVersion) + " to " +
                        std::to_string(kSchemaVersion) +
                        " this runtime reads; recompile the model"));
}

/// Version 1 files are version 2 files without tensor maps.
TEST(ArtifactIOTest, ReadsTheOldestSchemaVersion) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.schemaVersion = kOldestSchemaVersion;
  ASSERT_TRUE(writeArtifact(spec, dir.file("m.art")).ok());
  StatusOr<ArtifactSpec> back = readArtifact(dir.file("m.art"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->schemaVersion, kOldestSchemaVersion);
}

TEST(ArtifactIOTest, BufferIdOutOfRange) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kDecodeEntry].launches[1].buffers[2] = 99;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[2] 'decode': launches[1]: buffer id 99 "
                        "out of range (the artifact has 11 buffers)"));
}

TEST(ArtifactIOTest, KernelIndexOutOfRange) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kPrefillEntry].launches[2].kernel = 7;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[1] 'prefill': launches[2]: kernel "
                        "index 7 out of range (the artifact has 4 kernels)"));
}

TEST(ArtifactIOTest, LaunchWithoutBuffers) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kLoadEntry].launches[0].buffers.clear();
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[0] 'load': launches[0]: buffers: "
                        "empty"));
}

TEST(ArtifactIOTest, InputOutOfRange) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kDecodeEntry].inputs = {11};
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[2] 'decode': inputs[0]: buffer id 11 "
                        "out of range"));
}

TEST(ArtifactIOTest, InputThatIsNotAnInputBuffer) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kDecodeEntry].inputs = {test::kCache};
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[2] 'decode': inputs[0]: buffers[4] "
                        "'k_cache.0' is a cache buffer, not an input"));
}

TEST(ArtifactIOTest, OutputOutOfRange) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kPrefillEntry].outputs = {40};
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[1] 'prefill': outputs[0]: buffer id "
                        "40 out of range"));
}

TEST(ArtifactIOTest, ArenaOverflow) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kPrefillEntry].arenaBytes = 700;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[1] 'prefill': buffers[7] 'logits': "
                        "arena overflow: offset 512 + 256 bytes (at seq 16) "
                        "exceeds arena_bytes 700"));
}

TEST(ArtifactIOTest, MisalignedActivation) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.buffers[test::kDecodeY].arenaOffset = 60;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: buffers[9] 'y.decode': arena_offset 60 is not "
                        "a multiple of 64"));
}

TEST(ArtifactIOTest, ActivationSharedByTwoEntries) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kDecodeEntry].outputs = {test::kPrefillLogits};
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: buffers[7] 'logits': activation used by both "
                        "entries[1] 'prefill' and entries[2] 'decode'"));
}

TEST(ArtifactIOTest, DynamicDimensionInACache) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.buffers[test::kCache].shape = {-1, 4};
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: buffers[4] 'k_cache.0': shape [-1, 4]: the "
                        "sequence dimension -1 is allowed only in input and "
                        "activation buffers, not in a cache buffer"));
}

TEST(ArtifactIOTest, NonPositiveDimension) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.buffers[test::kEmbedding].shape = {8, 0};
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: buffers[1] 'tok_embeddings.weight': shape "
                        "[8, 0]: dimension 0 is not positive"));
}

TEST(ArtifactIOTest, InvalidConfig) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.config.nKvHeads = 3;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: config: n_kv_heads: 3 exceeds n_heads 2"));
}

TEST(ArtifactIOTest, EmptyBinary) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.binaries[0].data.clear();
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: binaries[0] (cpu x86-64): data: empty"));
}

TEST(ArtifactIOTest, EntryLongerThanTheCache) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyArtifact();
  spec.entries[test::kPrefillEntry].maxSeq = 32;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: entries[1] 'prefill': calls of 32 tokens "
                        "exceed the config's max_seq_len 16"));
}

TEST(ArtifactIOTest, ReadFromMemoryNamesTheOrigin) {
  std::vector<uint8_t> bytes(64, 0);
  StatusOr<ArtifactSpec> read =
      readArtifactFromMemory(bytes.data(), bytes.size(), "<memory>");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.message(), "<memory>: not a llamac artifact (identifier "
                            "'\\x00\\x00\\x00\\x00', expected 'LLMA')");
}

TEST(ArtifactLayoutTest, OriginFamilyReplacesLayerNumbers) {
  EXPECT_EQ(originFamily("layers.3.attention"), "layers.*.attention");
  EXPECT_EQ(originFamily("layers.12.feed_forward.w1"),
            "layers.*.feed_forward.w1");
  EXPECT_EQ(originFamily("output"), "output");
  EXPECT_EQ(originFamily(""), "");
}

TEST(ArtifactLayoutTest, BufferBytesResolveTheSequence) {
  BufferSpec buffer{
      "x", BufferKind::Activation, ElementType::F16, {1, -1, 4}, 0};
  EXPECT_EQ(bufferBytes(buffer, 3), 24u);
  EXPECT_EQ(resolveShape(buffer, 3), (std::vector<int64_t>{1, 3, 4}));
}

} // namespace

//===----------------------------------------------------------------------===//
// Launch geometry (cuda artifacts)
//===----------------------------------------------------------------------===//

namespace {

using llamac::test::cudaToyArtifact;

/// cudaToyArtifact with a stand-in cubin, for tests that never load it.
ArtifactSpec tableOnlyCudaArtifact() {
  return cudaToyArtifact({{"cuda", "sm_90", "cubin", {1, 2, 3}}});
}

TEST(ArtifactIOTest, LaunchGeometryRoundTrips) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyCudaArtifact();
  LaunchGeometry &g = spec.kernels[2].geometry;
  g = {{7, 8, 9}, {16, 0, 3}, {128, 2, 4}, 49152};
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(spec, path).ok());
  StatusOr<ArtifactSpec> read = readArtifact(path);
  ASSERT_TRUE(read.ok()) << read.message();
  ASSERT_EQ(read->kernels.size(), spec.kernels.size());
  for (size_t k = 0; k < spec.kernels.size(); ++k) {
    const LaunchGeometry &a = spec.kernels[k].geometry;
    const LaunchGeometry &b = read->kernels[k].geometry;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(b.gridBase[i], a.gridBase[i]) << "kernel " << k << " dim " << i;
      EXPECT_EQ(b.rowsPerBlock[i], a.rowsPerBlock[i]);
      EXPECT_EQ(b.block[i], a.block[i]);
    }
    EXPECT_EQ(b.sharedBytes, a.sharedBytes);
  }
  EXPECT_EQ(read->kernels[0].geometry.rowsPerBlock[0], 2u);
  EXPECT_EQ(read->kernels[2].geometry.block[2], 4u);
}

TEST(ArtifactIOTest, CpuArtifactsIgnoreLaunchGeometry) {
  ArtifactSpec spec = tableOnlyArtifact();
  spec.kernels[0].geometry.block[0] = 0;
  spec.kernels[0].geometry.sharedBytes = 1 << 20;
  std::vector<uint32_t> many(13, test::kDecodeX);
  many.push_back(test::kDecodeY);
  spec.entries[test::kDecodeEntry].launches[1].buffers = many;
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_TRUE(status.ok()) << status.message();
}

/// The verifier's message for `spec`.
std::string verifyError(const ArtifactSpec &spec) {
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_FALSE(status.ok());
  return status.message();
}

TEST(ArtifactIOTest, WgmmaGeometryRoundTrips) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[1].wgmmaGeometry =
      LaunchGeometry{{5, 1, 1}, {0, 128, 0}, {256, 1, 1}, 197696};
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(spec, path).ok());
  StatusOr<ArtifactSpec> read = readArtifact(path);
  ASSERT_TRUE(read.ok()) << read.message();
  for (size_t k = 0; k < spec.kernels.size(); ++k)
    EXPECT_EQ(read->kernels[k].wgmmaGeometry.has_value(), k == 1) << k;
  const LaunchGeometry &g = *read->kernels[1].wgmmaGeometry;
  EXPECT_EQ(g.gridBase[0], 5u);
  EXPECT_EQ(g.rowsPerBlock[1], 128u);
  EXPECT_EQ(g.block[0], 256u);
  EXPECT_EQ(g.sharedBytes, 197696u);
  // The other geometry is its own.
  EXPECT_EQ(read->kernels[1].geometry.sharedBytes,
            spec.kernels[1].geometry.sharedBytes);
}

TEST(ArtifactIOTest, PersistentBlocksPerSmRoundTripsPerGeometry) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[1].wgmmaGeometry =
      LaunchGeometry{{5, 1, 1}, {0, 128, 0}, {384, 1, 1}, 218688, 1};
  spec.kernels[2].geometry.persistentBlocksPerSm = 3;
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(spec, path).ok());
  StatusOr<ArtifactSpec> read = readArtifact(path);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(read->kernels[1].wgmmaGeometry->persistentBlocksPerSm, 1u);
  EXPECT_EQ(read->kernels[1].geometry.persistentBlocksPerSm, 0u);
  EXPECT_EQ(read->kernels[2].geometry.persistentBlocksPerSm, 3u);
  EXPECT_FALSE(read->kernels[2].wgmmaGeometry.has_value());
}

TEST(ArtifactIOTest, ClusterBlocksRoundTripPerGeometry) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[1].wgmmaGeometry =
      LaunchGeometry{{5, 1, 1}, {0, 128, 0}, {384, 1, 1}, 218688, 1, 2};
  spec.kernels[2].geometry.persistentBlocksPerSm = 1;
  spec.kernels[2].geometry.clusterBlocks = 4;
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(spec, path).ok());
  StatusOr<ArtifactSpec> read = readArtifact(path);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(read->kernels[1].wgmmaGeometry->clusterBlocks, 2u);
  EXPECT_EQ(read->kernels[1].geometry.clusterBlocks, 0u);
  EXPECT_EQ(read->kernels[2].geometry.clusterBlocks, 4u);
  EXPECT_EQ(read->kernels[3].geometry.clusterBlocks, 0u);
}

/// Clusters hold at most 8 blocks on every GPU that has them, and only a
/// persistent grid is sized to whole clusters.
TEST(ArtifactIOTest, ClusterBlocksNeedAPersistentKernelAndAPortableSize) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[3].geometry.persistentBlocksPerSm = 1;
  spec.kernels[3].geometry.clusterBlocks = 9;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[3] 'k_accumulate': geometry: cluster_blocks 9 "
            "exceeds 8 (the portable cluster size)");
  spec.kernels[3].geometry.clusterBlocks = 2;
  spec.kernels[3].geometry.persistentBlocksPerSm = 0;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[3] 'k_accumulate': geometry: cluster_blocks 2 on "
            "a kernel that is not persistent (persistent_blocks_per_sm 0): "
            "only a persistent grid is sized to whole clusters");
  spec.kernels[3].geometry.persistentBlocksPerSm = 1;
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(ArtifactIOTest, PersistentBlocksPerSmFitAnSm) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[3].geometry.persistentBlocksPerSm = 33;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[3] 'k_accumulate': geometry: "
            "persistent_blocks_per_sm 33 exceeds 32 (the most blocks an SM "
            "holds at once)");
  spec.kernels[3].geometry.persistentBlocksPerSm = 32;
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(ArtifactIOTest, WgmmaGeometryIsForCudaKernelsOnly) {
  ArtifactSpec spec = tableOnlyArtifact();
  spec.kernels[2].wgmmaGeometry = LaunchGeometry{};
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[2] 'k_add': wgmma_geometry: only a cuda "
            "artifact's kernels have launch geometries");
}

TEST(ArtifactIOTest, WgmmaGeometryIsVerifiedLikeTheGeometry) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[3].wgmmaGeometry = spec.kernels[3].geometry;
  spec.kernels[3].wgmmaGeometry->sharedBytes = 228 * 1024;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[3] 'k_accumulate': wgmma_geometry: shared_bytes "
            "233472 exceeds 232448 (227 KiB, the most any GPU gives a "
            "block)");
  spec.kernels[3].wgmmaGeometry->sharedBytes = 0;
  spec.kernels[3].wgmmaGeometry->block[0] = 2048;
  EXPECT_THAT(verifyError(spec),
              HasSubstr("kernels[3] 'k_accumulate': wgmma_geometry: block "
                        "(2048, 1, 1): x must be between 1 and 1024"));
}

TEST(ArtifactIOTest, WgmmaGridTooLargeAtTheLongestCall) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  LaunchGeometry g = spec.kernels[2].geometry;
  g.gridBase[1] = 65535;
  g.rowsPerBlock[1] = 1;
  spec.kernels[2].wgmmaGeometry = g;
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[1]: kernel 'k_add' "
            "(wgmma_geometry): grid dimension 1 is 65551 at 16 rows, more "
            "than CUDA's limit of 65535");
}

TEST(ArtifactIOTest, CudaBlockWithTooManyThreads) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[1].geometry.block[0] = 512;
  spec.kernels[1].geometry.block[1] = 4;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[1] 'k_pack': geometry: block (512, 4, 1) has "
            "2048 threads, more than the 1024 a CUDA block may have");
}

TEST(ArtifactIOTest, CudaBlockDimensionOfZero) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[2].geometry.block[1] = 0;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[2] 'k_add': geometry: block (1, 0, 1): y must be "
            "between 1 and 1024");
}

TEST(ArtifactIOTest, CudaBlockZTooLarge) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[2].geometry.block[2] = 128;
  EXPECT_THAT(verifyError(spec), HasSubstr("z must be between 1 and 64"));
}

TEST(ArtifactIOTest, CudaSharedMemoryOver227KiB) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[3].geometry.sharedBytes = 227 * 1024 + 4;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[3] 'k_accumulate': geometry: shared_bytes 232452 "
            "exceeds 232448 (227 KiB, the most any GPU gives a block)");
  // More than 48 KiB is the device's to refuse, at load time.
  spec.kernels[3].geometry.sharedBytes = 96 * 1024;
  EXPECT_TRUE(verifyArtifact(spec, "m.art").ok());
}

TEST(ArtifactIOTest, CudaGridThatIsAlwaysEmpty) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[2].geometry.gridBase[2] = 0;
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[2] 'k_add': geometry: grid z is always 0 "
            "(grid_base 0 and rows_per_block 0)");
}

TEST(ArtifactIOTest, CudaGridFromRowsAloneIsFine) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[2].geometry.gridBase[0] = 0;
  spec.kernels[2].geometry.rowsPerBlock[0] = 1;
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(ArtifactIOTest, CudaGridTooLargeAtTheLongestCall) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[2].geometry.gridBase[1] = 65535;
  spec.kernels[2].geometry.rowsPerBlock[1] = 1;
  // Prefill calls take up to 16 tokens: 65535 + 16 blocks in y.
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[1]: kernel 'k_add': grid "
            "dimension 1 is 65551 at 16 rows, more than CUDA's limit of "
            "65535");
}

TEST(ArtifactIOTest, CudaLaunchWithMoreBuffersThanItsTableTakes) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  std::vector<uint32_t> many(LLAMA_MAX_TABLE_BUFFERS, test::kDecodeX);
  many.push_back(test::kDecodeY);
  spec.entries[test::kDecodeEntry].launches[1].buffers = many;
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[2] 'decode': launches[1]: buffers: 65537 buffers, "
            "but a cuda launch takes at most 65536 (LLAMA_MAX_TABLE_BUFFERS)");
}

TEST(ArtifactIOTest, CudaLaunchWith12BuffersIsFine) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  std::vector<uint32_t> twelve(11, test::kDecodeX);
  twelve.push_back(test::kDecodeY);
  spec.entries[test::kDecodeEntry].launches[1].buffers = twelve;
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(ArtifactIOTest, CudaLaunchThroughABufferTableIsFine) {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  std::vector<uint32_t> many(LLAMA_MAX_TABLE_BUFFERS - 1, test::kDecodeX);
  many.push_back(test::kDecodeY);
  spec.entries[test::kDecodeEntry].launches[1].buffers = many;
  Status status = verifyArtifact(spec, "m.art");
  EXPECT_TRUE(status.ok()) << status.message();
}

/// k_add (kernels[2]) reads x (operand 0, [1, seq, 4] f32) and the packed
/// norm (operand 1, [4] f32): rows of 16 bytes.
ArtifactSpec cudaArtifactWithTensorMaps() {
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[2].tensorMaps = {{0, 4, 8, 0}, {1, 4, 1, 0}};
  return spec;
}

TEST(ArtifactIOTest, TensorMapsRoundTrip) {
  TempDir dir;
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  std::string path = dir.file("m.art");
  ASSERT_TRUE(writeArtifact(spec, path).ok());
  StatusOr<ArtifactSpec> read = readArtifact(path);
  ASSERT_TRUE(read.ok()) << read.message();
  ASSERT_EQ(read->kernels.size(), spec.kernels.size());
  for (size_t k = 0; k < spec.kernels.size(); ++k) {
    const std::vector<TensorMapSpec> &a = spec.kernels[k].tensorMaps;
    const std::vector<TensorMapSpec> &b = read->kernels[k].tensorMaps;
    ASSERT_EQ(b.size(), a.size()) << "kernel " << k;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(b[i].operand, a[i].operand);
      EXPECT_EQ(b[i].boxInner, a[i].boxInner);
      EXPECT_EQ(b[i].boxRows, a[i].boxRows);
      EXPECT_EQ(b[i].swizzleBytes, a[i].swizzleBytes);
    }
  }
  EXPECT_EQ(read->kernels[2].tensorMaps[0].boxRows, 8u);
}

TEST(ArtifactIOTest, TensorMapsAreForCudaKernelsOnly) {
  ArtifactSpec spec = tableOnlyArtifact();
  spec.kernels[2].tensorMaps = {{0, 4, 8, 0}};
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[2] 'k_add': tensor_maps: only a cuda artifact's "
            "kernels use tensor maps");
}

TEST(ArtifactIOTest, TooManyTensorMaps) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  spec.kernels[2].tensorMaps.resize(LLAMA_MAX_TENSOR_MAPS + 1, {0, 4, 8, 0});
  EXPECT_EQ(verifyError(spec),
            "m.art: kernels[2] 'k_add': tensor_maps: 5 maps, but a launch "
            "passes at most 4 (LLAMA_MAX_TENSOR_MAPS)");
}

TEST(ArtifactIOTest, TensorMapBoxLargerThanTheTmaCopies) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  spec.kernels[2].tensorMaps[1].boxRows = 257;
  EXPECT_EQ(verifyError(spec), "m.art: kernels[2] 'k_add': tensor_maps[1]: "
                               "box_rows 257 is not between 1 and 256");
  spec.kernels[2].tensorMaps[1].boxRows = 1;
  spec.kernels[2].tensorMaps[1].boxInner = 0;
  EXPECT_EQ(verifyError(spec), "m.art: kernels[2] 'k_add': tensor_maps[1]: "
                               "box_inner 0 is not between 1 and 256");
}

TEST(ArtifactIOTest, TensorMapSwizzleOtherThan128Bytes) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  spec.kernels[2].tensorMaps[0].swizzleBytes = 64;
  EXPECT_EQ(verifyError(spec), "m.art: kernels[2] 'k_add': tensor_maps[0]: "
                               "swizzle_bytes 64 is neither 0 nor 128");
}

TEST(ArtifactIOTest, TensorMapOperandPastTheLaunchBuffers) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  spec.kernels[2].tensorMaps[1].operand = 3;
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[1]: kernel 'k_add': "
            "tensor_maps[1]: operand 3 out of range (the launch names 3 "
            "buffers)");
}

TEST(ArtifactIOTest, TensorMapBoxOfPartial16ByteChunks) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  spec.kernels[2].tensorMaps[0].boxInner = 2;
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[1]: kernel 'k_add': "
            "tensor_maps[0]: box_inner 2 of f32 is 8 bytes, not a multiple of "
            "16");
}

TEST(ArtifactIOTest, TensorMapSwizzleNeedsRowsOfItsSpan) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  spec.kernels[2].tensorMaps[0].swizzleBytes = 128;
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[1]: kernel 'k_add': "
            "tensor_maps[0]: box_inner 4 of f32 is 16 bytes, but "
            "swizzle_bytes 128 needs rows of exactly that many");
}

TEST(ArtifactIOTest, TensorMapOverAnIntegerBuffer) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  // The embedding's tokens, i32, here with rows of 4 (16 bytes).
  spec.buffers[test::kTokens].shape = {1, 4};
  spec.kernels[0].tensorMaps = {{0, 4, 1, 0}};
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[0]: kernel 'k_embed': "
            "tensor_maps[0]: buffers[0] 'tokens' is i32; tensor maps read "
            "f32, f16 or bf16");
}

TEST(ArtifactIOTest, TensorMapOverRowsThatAreNot16ByteAligned) {
  ArtifactSpec spec = cudaArtifactWithTensorMaps();
  // The embedding's tokens: [1, seq] i32, no static last dimension.
  spec.kernels[0].tensorMaps = {{0, 4, 1, 0}};
  EXPECT_EQ(verifyError(spec),
            "m.art: entries[1] 'prefill': launches[0]: kernel 'k_embed': "
            "tensor_maps[0]: buffers[0] 'tokens' has no static last dimension "
            "to read rows of");
  // Its table: [8, 4] f32 rows are fine; [8, 3] are 12 bytes.
  spec.kernels[0].tensorMaps = {{1, 4, 1, 0}};
  spec.buffers[test::kEmbedding].shape = {8, 3};
  EXPECT_THAT(verifyError(spec),
              HasSubstr("tensor_maps[0]: buffers[1] 'tok_embeddings.weight': "
                        "rows of 12 bytes, not a multiple of 16"));
}

TEST(ArtifactIOTest, GeometryErrorsAreCaughtOnRead) {
  TempDir dir;
  ArtifactSpec spec = tableOnlyCudaArtifact();
  spec.kernels[0].geometry.block[0] = 2048;
  EXPECT_THAT(readError(dir, spec),
              HasSubstr("m.art: kernels[0] 'k_embed': geometry: block"));
}

} // namespace
