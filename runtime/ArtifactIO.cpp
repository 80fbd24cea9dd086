//===- ArtifactIO.cpp - Artifacts to and from .art files ------------------===//

#include "runtime/ArtifactIO.h"

#include "runtime/ArtifactVerifier.h"
#include "runtime/Artifact_generated.h"
#include "runtime/AtomicFile.h"
#include "runtime/Fnv1a.h"
#include "runtime/MappedFile.h"

#include <cctype>
#include <cstdio>
#include <cstring>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace fbs = llamac::artifact::fb;

namespace {

/// FlatBuffers offsets are 32-bit; leave room for the tables around the
/// binaries.
constexpr uint64_t kMaxArtifactBytes =
    (uint64_t(1) << 31) - (uint64_t(1) << 24);

/// Binaries are aligned so that a cubin can be handed to the driver in place.
constexpr size_t kBinaryAlignment = 64;

/// The checksum of an artifact's FlatBuffer bytes.
uint64_t artifactChecksum(const uint8_t *bytes, size_t size) {
  return fnv1a64(std::string_view(reinterpret_cast<const char *>(bytes), size));
}

/// Appends the checksum of `bytes` (little-endian) and the tag.
void appendChecksumTrailer(std::vector<uint8_t> &bytes) {
  uint64_t sum = artifactChecksum(bytes.data(), bytes.size());
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<uint8_t>(sum >> (8 * i)));
  bytes.insert(bytes.end(), kArtifactChecksumTag, kArtifactChecksumTag + 8);
}

/// Whether `bytes` end with a checksum trailer's tag.
bool hasChecksumTrailer(const uint8_t *bytes, size_t size) {
  return size >= 8 + kArtifactTrailerBytes &&
         std::memcmp(bytes + size - 8, kArtifactChecksumTag, 8) == 0;
}

std::string hex64(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx",
                static_cast<unsigned long long>(value));
  return text;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

flatbuffers::Offset<fbs::ModelConfig>
writeConfig(flatbuffers::FlatBufferBuilder &builder, const ModelConfig &c) {
  auto name = builder.CreateString(c.name);
  fbs::ModelConfigBuilder config(builder);
  config.add_name(name);
  config.add_dim(c.dim);
  config.add_n_layers(c.nLayers);
  config.add_n_heads(c.nHeads);
  config.add_n_kv_heads(c.nKvHeads);
  config.add_ffn_dim(c.ffnDim);
  config.add_vocab_size(c.vocabSize);
  config.add_max_seq_len(c.maxSeqLen);
  config.add_rope_theta(c.ropeTheta);
  config.add_norm_eps(c.normEps);
  config.add_rope_style(static_cast<fbs::RopeStyle>(c.ropeStyle));
  config.add_dtype(static_cast<fbs::DType>(c.dtype));
  config.add_shared_classifier(c.sharedClassifier);
  return config.Finish();
}

flatbuffers::Offset<fbs::Entry> writeEntry(flatbuffers::FlatBufferBuilder &b,
                                           const EntrySpec &e) {
  std::vector<flatbuffers::Offset<fbs::Launch>> launches;
  launches.reserve(e.launches.size());
  for (const LaunchSpec &launch : e.launches)
    launches.push_back(
        fbs::CreateLaunch(b, launch.kernel, b.CreateVector(launch.buffers)));
  return fbs::CreateEntry(b, b.CreateString(e.name), e.batch, e.seq, e.maxSeq,
                          e.arenaBytes, b.CreateVector(launches),
                          b.CreateVector(e.inputs), b.CreateVector(e.outputs));
}

fbs::LaunchGeometry writeGeometry(const LaunchGeometry &g) {
  using Dims = flatbuffers::span<const uint32_t, 3>;
  return fbs::LaunchGeometry(Dims(g.gridBase), Dims(g.rowsPerBlock),
                             Dims(g.block), g.sharedBytes);
}

flatbuffers::Offset<fbs::Binary> writeBinary(flatbuffers::FlatBufferBuilder &b,
                                             const BinarySpec &binary) {
  auto target = b.CreateString(binary.target);
  auto arch = b.CreateString(binary.arch);
  auto format = b.CreateString(binary.format);
  b.ForceVectorAlignment(binary.data.size(), sizeof(uint8_t), kBinaryAlignment);
  auto data = b.CreateVector(binary.data);
  return fbs::CreateBinary(b, target, arch, format, data);
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

std::string str(const flatbuffers::String *value) {
  return value ? value->str() : std::string();
}

template <class T> std::vector<T> vec(const flatbuffers::Vector<T> *values) {
  return values ? std::vector<T>(values->begin(), values->end())
                : std::vector<T>();
}

/// The identifier as printable text: "\x00" for bytes that are not.
std::string printableIdentifier(const uint8_t *bytes) {
  std::string text;
  for (int i = 0; i < 4; ++i) {
    if (std::isprint(bytes[i]) && bytes[i] != '\'') {
      text += char(bytes[i]);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", bytes[i]);
      text += escaped;
    }
  }
  return text;
}

/// Enums arrive as raw bytes: a value the schema does not define would
/// otherwise be cast silently into the C++ enum.
template <class Enum>
Status checkEnum(const std::string &origin, const std::string &where,
                 uint8_t raw, Enum last) {
  if (raw > static_cast<uint8_t>(last))
    return Status::error(origin + ": " + where + ": unknown value " +
                         std::to_string(raw));
  return {};
}

LaunchGeometry readGeometry(const fbs::LaunchGeometry &g) {
  LaunchGeometry geometry;
  for (flatbuffers::uoffset_t i = 0; i < 3; ++i) {
    geometry.gridBase[i] = g.grid_base()->Get(i);
    geometry.rowsPerBlock[i] = g.rows_per_block()->Get(i);
    geometry.block[i] = g.block()->Get(i);
  }
  geometry.sharedBytes = g.shared_bytes();
  return geometry;
}

StatusOr<ArtifactSpec> convert(const fbs::Artifact &root,
                               const std::string &origin) {
  ArtifactSpec spec;
  spec.schemaVersion = root.schema_version();

  if (const fbs::ModelConfig *c = root.config()) {
    ModelConfig &config = spec.config;
    config.name = str(c->name());
    config.dim = c->dim();
    config.nLayers = c->n_layers();
    config.nHeads = c->n_heads();
    config.nKvHeads = c->n_kv_heads();
    config.ffnDim = c->ffn_dim();
    config.vocabSize = c->vocab_size();
    config.maxSeqLen = c->max_seq_len();
    config.ropeTheta = c->rope_theta();
    config.normEps = c->norm_eps();
    LLAMAC_RETURN_IF_ERROR(checkEnum(origin, "config: rope_style",
                                     uint8_t(c->rope_style()),
                                     fbs::RopeStyle::MAX));
    LLAMAC_RETURN_IF_ERROR(checkEnum(origin, "config: dtype",
                                     uint8_t(c->dtype()), fbs::DType::MAX));
    config.ropeStyle = static_cast<RopeStyle>(c->rope_style());
    config.dtype = static_cast<DType>(c->dtype());
    config.sharedClassifier = c->shared_classifier();
  } else {
    return Status::error(origin + ": config: missing");
  }

  if (const auto *buffers = root.buffers()) {
    spec.buffers.reserve(buffers->size());
    for (uint32_t i = 0; i < buffers->size(); ++i) {
      const fbs::Buffer *b = buffers->Get(i);
      std::string where = "buffers[" + std::to_string(i) + "]";
      LLAMAC_RETURN_IF_ERROR(checkEnum(
          origin, where + ": kind", uint8_t(b->kind()), fbs::BufferKind::MAX));
      LLAMAC_RETURN_IF_ERROR(checkEnum(
          origin, where + ": type", uint8_t(b->type()), fbs::ElementType::MAX));
      BufferSpec buffer;
      buffer.name = str(b->name());
      buffer.kind = static_cast<BufferKind>(b->kind());
      buffer.type = static_cast<ElementType>(b->type());
      buffer.shape = vec(b->shape());
      buffer.arenaOffset = b->arena_offset();
      spec.buffers.push_back(std::move(buffer));
    }
  }

  if (const auto *kernels = root.kernels()) {
    spec.kernels.reserve(kernels->size());
    for (const fbs::Kernel *k : *kernels) {
      KernelSpec kernel;
      kernel.symbol = str(k->symbol());
      kernel.op = str(k->op());
      kernel.origin = str(k->origin());
      if (const fbs::LaunchGeometry *g = k->geometry())
        kernel.geometry = readGeometry(*g);
      kernel.geometry.persistentBlocksPerSm = k->persistent_blocks_per_sm();
      kernel.geometry.clusterBlocks = k->cluster_blocks();
      if (const fbs::LaunchGeometry *g = k->wgmma_geometry()) {
        kernel.wgmmaGeometry = readGeometry(*g);
        kernel.wgmmaGeometry->persistentBlocksPerSm =
            k->wgmma_persistent_blocks_per_sm();
        kernel.wgmmaGeometry->clusterBlocks = k->wgmma_cluster_blocks();
      }
      if (const auto *maps = k->tensor_maps())
        for (const fbs::TensorMap *m : *maps)
          kernel.tensorMaps.push_back({m->operand(), m->box_inner(),
                                       m->box_rows(), m->swizzle_bytes()});
      spec.kernels.push_back(std::move(kernel));
    }
  }

  if (const auto *entries = root.entries()) {
    for (const fbs::Entry *e : *entries) {
      EntrySpec entry;
      entry.name = str(e->name());
      entry.batch = e->batch();
      entry.seq = e->seq();
      entry.maxSeq = e->max_seq();
      entry.arenaBytes = e->arena_bytes();
      if (const auto *launches = e->launches())
        for (const fbs::Launch *l : *launches)
          entry.launches.push_back({l->kernel(), vec(l->buffers())});
      entry.inputs = vec(e->inputs());
      entry.outputs = vec(e->outputs());
      spec.entries.push_back(std::move(entry));
    }
  }

  if (const auto *binaries = root.binaries()) {
    for (const fbs::Binary *b : *binaries)
      spec.binaries.push_back(
          {str(b->target()), str(b->arch()), str(b->format()), vec(b->data())});
  }

  spec.kernelSource = str(root.kernel_source());
  if (const fbs::Provenance *p = root.provenance())
    spec.provenance = {str(p->compiler_version()), str(p->source_hash()),
                       str(p->flags()), str(p->tool_version())};
  return spec;
}

} // namespace

StatusOr<std::vector<uint8_t>>
llamac::runtime::serializeArtifact(const ArtifactSpec &spec) {
  uint64_t binaryBytes = spec.kernelSource.size();
  for (const BinarySpec &binary : spec.binaries)
    binaryBytes += binary.data.size() + kBinaryAlignment;
  if (binaryBytes > kMaxArtifactBytes)
    return Status::error("artifact: binaries: " + std::to_string(binaryBytes) +
                         " bytes exceed the 2 GiB limit of the file format");

  flatbuffers::FlatBufferBuilder b(size_t(binaryBytes) + (1 << 16));
  auto config = writeConfig(b, spec.config);

  std::vector<flatbuffers::Offset<fbs::Buffer>> buffers;
  for (const BufferSpec &buffer : spec.buffers)
    buffers.push_back(
        fbs::CreateBuffer(b, b.CreateString(buffer.name),
                          static_cast<fbs::BufferKind>(buffer.kind),
                          static_cast<fbs::ElementType>(buffer.type),
                          b.CreateVector(buffer.shape), buffer.arenaOffset));
  std::vector<flatbuffers::Offset<fbs::Kernel>> kernels;
  for (const KernelSpec &kernel : spec.kernels) {
    fbs::LaunchGeometry geometry = writeGeometry(kernel.geometry);
    std::optional<fbs::LaunchGeometry> wgmmaGeometry;
    if (kernel.wgmmaGeometry)
      wgmmaGeometry = writeGeometry(*kernel.wgmmaGeometry);
    flatbuffers::Offset<
        flatbuffers::Vector<flatbuffers::Offset<fbs::TensorMap>>>
        maps;
    if (!kernel.tensorMaps.empty()) {
      std::vector<flatbuffers::Offset<fbs::TensorMap>> list;
      for (const TensorMapSpec &map : kernel.tensorMaps)
        list.push_back(fbs::CreateTensorMap(b, map.operand, map.boxInner,
                                            map.boxRows, map.swizzleBytes));
      maps = b.CreateVector(list);
    }
    kernels.push_back(fbs::CreateKernel(
        b, b.CreateString(kernel.symbol), b.CreateString(kernel.op),
        b.CreateString(kernel.origin), &geometry, maps,
        wgmmaGeometry ? &*wgmmaGeometry : nullptr,
        kernel.geometry.persistentBlocksPerSm,
        kernel.wgmmaGeometry ? kernel.wgmmaGeometry->persistentBlocksPerSm : 0,
        kernel.geometry.clusterBlocks,
        kernel.wgmmaGeometry ? kernel.wgmmaGeometry->clusterBlocks : 0));
  }
  std::vector<flatbuffers::Offset<fbs::Entry>> entries;
  for (const EntrySpec &entry : spec.entries)
    entries.push_back(writeEntry(b, entry));
  std::vector<flatbuffers::Offset<fbs::Binary>> binaries;
  for (const BinarySpec &binary : spec.binaries)
    binaries.push_back(writeBinary(b, binary));
  auto source = b.CreateString(spec.kernelSource);
  const Provenance &p = spec.provenance;
  auto provenance = fbs::CreateProvenance(
      b, b.CreateString(p.compilerVersion), b.CreateString(p.sourceHash),
      b.CreateString(p.flags), b.CreateString(p.toolVersion));

  auto root = fbs::CreateArtifact(
      b, spec.schemaVersion, config, b.CreateVector(buffers),
      b.CreateVector(kernels), b.CreateVector(entries),
      b.CreateVector(binaries), source, provenance);
  fbs::FinishArtifactBuffer(b, root);
  std::vector<uint8_t> bytes(b.GetBufferPointer(),
                             b.GetBufferPointer() + b.GetSize());
  appendChecksumTrailer(bytes);
  return bytes;
}

Status llamac::runtime::writeArtifact(const ArtifactSpec &spec,
                                      const std::string &path) {
  StatusOr<std::vector<uint8_t>> bytes = serializeArtifact(spec);
  if (!bytes.ok())
    return Status::error(path + ": " + bytes.message());
  return writeFileAtomically(path, [&](FileSink &sink) {
    sink.write(bytes->data(), bytes->size());
    return Status::success();
  });
}

StatusOr<ArtifactSpec>
llamac::runtime::readArtifactFromMemory(const uint8_t *bytes, size_t size,
                                        const std::string &origin) {
  std::string sizeText = std::to_string(size) + " bytes";
  // The root offset and the identifier take the first 8 bytes.
  if (size < 8)
    return Status::error(origin + ": truncated or corrupt: file has " +
                         sizeText + ", too few for a FlatBuffers header");
  if (!flatbuffers::BufferHasIdentifier(bytes, kArtifactIdentifier))
    return Status::error(origin + ": not a llamac artifact (identifier '" +
                         printableIdentifier(bytes + 4) + "', expected '" +
                         kArtifactIdentifier + "')");
  if (size >= FLATBUFFERS_MAX_BUFFER_SIZE)
    return Status::error(origin + ": truncated or corrupt: file has " +
                         sizeText + ", more than FlatBuffers can address");
  // The FlatBuffer is what precedes the trailer, if there is one; whether
  // there must be one depends on the schema version, checked below.
  const bool checksummed = hasChecksumTrailer(bytes, size);
  if (checksummed) {
    size -= kArtifactTrailerBytes;
    uint64_t stored = 0;
    for (int i = 0; i < 8; ++i)
      stored |= uint64_t(bytes[size + i]) << (8 * i);
    uint64_t computed = artifactChecksum(bytes, size);
    if (stored != computed)
      return Status::error(origin + ": truncated or corrupt: checksum " +
                           hex64(computed) + " of its first " +
                           std::to_string(size) + " bytes, the file says " +
                           hex64(stored));
  }
  // The default table limit (one million) is near what a large model's
  // launch lists reach; the file size bounds the work either way.
  flatbuffers::Verifier verifier(bytes, size, /*max_depth=*/64,
                                 /*max_tables=*/size / 4 + 1000);
  if (!fbs::VerifyArtifactBuffer(verifier))
    return Status::error(origin +
                         ": truncated or corrupt: FlatBuffers verification "
                         "failed (file size " +
                         sizeText + ")");
  const fbs::Artifact *root = fbs::GetArtifact(bytes);
  uint32_t version = root->schema_version();
  if (version < artifact::kOldestSchemaVersion ||
      version > artifact::kSchemaVersion) {
    std::string supported = std::to_string(artifact::kOldestSchemaVersion) +
                            " to " + std::to_string(artifact::kSchemaVersion);
    if (version > artifact::kSchemaVersion)
      return Status::error(
          origin + ": schema_version: " + std::to_string(version) +
          " is newer than the versions " + supported +
          " this runtime reads; use a llama-run as new as the llamac "
          "that built it");
    return Status::error(origin +
                         ": schema_version: " + std::to_string(version) +
                         " is older than the versions " + supported +
                         " this runtime reads; recompile the model");
  }
  if (version >= artifact::kFirstChecksummedSchemaVersion && !checksummed)
    return Status::error(
        origin + ": truncated or corrupt: no checksum at its end (\"" +
        kArtifactChecksumTag + "\"), which every file of schema version " +
        std::to_string(artifact::kFirstChecksummedSchemaVersion) +
        " and later ends with");
  StatusOr<ArtifactSpec> spec = convert(*root, origin);
  if (!spec.ok())
    return spec.status();
  LLAMAC_RETURN_IF_ERROR(verifyArtifact(*spec, origin));
  return spec;
}

StatusOr<ArtifactSpec> llamac::runtime::readArtifact(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  const MappedFile &mapped = **file;
  static const uint8_t empty[1] = {0};
  return readArtifactFromMemory(mapped.data() ? mapped.data() : empty,
                                mapped.size(), path);
}
