//===- Info.cpp - llama-run info: what an artifact holds ------------------===//

#include "Commands.h"

#include "runtime/ArtifactIO.h"
#include "runtime/ArtifactLayout.h"
#include "runtime/Json.h"
#include "runtime/CudaDevice.h"
#include "runtime/Tensor.h"

#include <algorithm>
#include <cstdio>
#include <map>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

/// Which cuda binary this machine's GPU would run, or why there is none.
void printCudaChoice(const ArtifactSpec &spec) {
  StatusOr<std::unique_ptr<CudaDevice>> device = CudaDevice::open();
  if (!device.ok()) {
    std::printf("  this machine: none runs (%s)\n", device.message().c_str());
    return;
  }
  StatusOr<CudaBinaryChoice> choice =
      selectCudaBinary(spec.binaries, (*device)->sm());
  std::printf("  this machine: %s: %s\n", (*device)->describe().c_str(),
              choice.ok() ? ("runs " + choice->description).c_str()
                          : choice.message().c_str());
}

/// The config and targets as one JSON object, for scripts (test/gpu/) that
/// build a reference model of the same shape.
void printJson(const ArtifactSpec &spec) {
  const ModelConfig &c = spec.config;
  std::printf("{\"name\": %s, \"dim\": %lld, \"n_layers\": %lld, "
              "\"n_heads\": %lld, \"n_kv_heads\": %lld, \"ffn_dim\": %lld, "
              "\"vocab_size\": %lld, \"max_seq_len\": %lld, "
              "\"rope_theta\": %.17g, \"norm_eps\": %.17g, "
              "\"rope_style\": \"%s\", \"dtype\": \"%s\", "
              "\"shared_classifier\": %s, \"binaries\": [",
              quoteJson(c.name).c_str(), (long long)c.dim,
              (long long)c.nLayers, (long long)c.nHeads, (long long)c.nKvHeads,
              (long long)c.ffnDim, (long long)c.vocabSize,
              (long long)c.maxSeqLen, c.ropeTheta, c.normEps,
              toString(c.ropeStyle), toString(c.dtype),
              c.sharedClassifier ? "true" : "false");
  for (size_t i = 0; i < spec.binaries.size(); ++i)
    std::printf("%s{\"target\": %s, \"arch\": %s, \"format\": %s}",
                i ? ", " : "", quoteJson(spec.binaries[i].target).c_str(),
                quoteJson(spec.binaries[i].arch).c_str(),
                quoteJson(spec.binaries[i].format).c_str());
  std::printf("], \"entries\": [");
  for (size_t i = 0; i < spec.entries.size(); ++i) {
    const EntrySpec &e = spec.entries[i];
    std::printf("%s{\"name\": %s, \"batch\": %lld, \"seq\": %lld, "
                "\"max_seq\": %lld}",
                i ? ", " : "", quoteJson(e.name).c_str(), (long long)e.batch,
                (long long)e.seq, (long long)e.maxSeq);
  }
  std::printf("]}\n");
}

} // namespace

Status llamac::run::infoCommand(const std::vector<std::string> &args) {
  std::string path;
  bool json = false;
  FlagSet flags("info", "Prints an artifact's config, entries, kernels, "
                        "binaries and provenance.");
  flags.addString("artifact", &path, "FILE",
                  "compiled model (.art) (required)");
  flags.addBool("json", &json,
                "print only the config, binaries and entries as one JSON "
                "object");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  if (path.empty())
    return Status::error("--artifact: required");
  StatusOr<ArtifactSpec> read = readArtifact(path);
  if (!read.ok())
    return read.status();
  const ArtifactSpec &spec = *read;
  const ModelConfig &c = spec.config;
  if (json) {
    printJson(spec);
    return {};
  }

  std::printf("artifact: %s (schema version %u)\n", path.c_str(),
              spec.schemaVersion);
  std::printf("config: %s\n", c.name.empty() ? "(unnamed)" : c.name.c_str());
  std::printf("  dim %lld, n_layers %lld, n_heads %lld, n_kv_heads %lld, "
              "ffn_dim %lld, vocab_size %lld, max_seq_len %lld\n",
              (long long)c.dim, (long long)c.nLayers, (long long)c.nHeads,
              (long long)c.nKvHeads, (long long)c.ffnDim,
              (long long)c.vocabSize, (long long)c.maxSeqLen);
  // A 16-bit training artifact keeps f32 weights: mixed precision.
  bool masterWeights =
      c.dtype != DType::F32 &&
      std::any_of(spec.buffers.begin(), spec.buffers.end(),
                  [](const BufferSpec &b) {
                    return b.kind == BufferKind::Weight &&
                           b.type == artifact::ElementType::F32;
                  });
  std::printf("  rope_theta %g, norm_eps %g, rope %s, dtype %s%s, classifier "
              "%s\n",
              c.ropeTheta, c.normEps, toString(c.ropeStyle), toString(c.dtype),
              masterWeights ? " (f32 master weights)" : "",
              c.sharedClassifier ? "shared" : "separate");

  std::map<BufferKind, std::pair<size_t, uint64_t>> kinds;
  for (const BufferSpec &buffer : spec.buffers) {
    auto &[count, bytes] = kinds[buffer.kind];
    ++count;
    if (buffer.kind != BufferKind::Activation)
      bytes += bufferBytes(buffer, c.maxSeqLen);
  }
  std::printf("buffers: %zu\n", spec.buffers.size());
  for (const auto &[kind, totals] : kinds) {
    if (kind == BufferKind::Activation)
      std::printf("  %-10s %6zu (in the entries' arenas)\n", toString(kind),
                  totals.first);
    else
      std::printf("  %-10s %6zu  %llu bytes\n", toString(kind), totals.first,
                  (unsigned long long)totals.second);
  }
  if (findBinary(spec, "cuda"))
    std::printf("GPU memory a cuda session allocates: %s\n",
                memoryPlan(spec, bufferUses(spec)).describe().c_str());
  size_t withMaps = 0, withWgmmaGeometry = 0, persistent = 0, clustered = 0;
  for (const KernelSpec &kernel : spec.kernels) {
    withMaps += !kernel.tensorMaps.empty();
    withWgmmaGeometry += kernel.wgmmaGeometry.has_value();
    persistent += kernel.geometry.persistentBlocksPerSm > 0 ||
                  (kernel.wgmmaGeometry &&
                   kernel.wgmmaGeometry->persistentBlocksPerSm > 0);
    clustered +=
        kernel.geometry.clusterBlocks > 1 ||
        (kernel.wgmmaGeometry && kernel.wgmmaGeometry->clusterBlocks > 1);
  }
  std::string sm90a;
  if (withMaps)
    sm90a = std::to_string(withMaps) +
            " load tiles by TMA through tensor maps on sm_90a";
  if (withWgmmaGeometry)
    sm90a += (sm90a.empty() ? "" : "; ") + std::to_string(withWgmmaGeometry) +
             " launch with their own geometry there";
  if (persistent)
    sm90a += (sm90a.empty() ? "" : "; ") + std::to_string(persistent) +
             " persistent: a block on each SM walks their tiles";
  if (clustered)
    sm90a += (sm90a.empty() ? "" : "; ") + std::to_string(clustered) +
             " in clusters whose blocks share tiles";
  if (sm90a.empty())
    std::printf("kernels: %zu\n", spec.kernels.size());
  else
    std::printf("kernels: %zu (%s)\n", spec.kernels.size(), sm90a.c_str());
  std::printf("entries: %zu\n", spec.entries.size());
  for (const EntrySpec &entry : spec.entries) {
    std::string seq = entry.seq > 0 ? std::to_string(entry.seq)
                                    : "1.." + std::to_string(entry.maxSeq);
    std::printf("  %-14s batch %lld, seq %s, %zu launches, arena %llu bytes, "
                "%zu inputs, %zu outputs\n",
                entry.name.c_str(), (long long)entry.batch, seq.c_str(),
                entry.launches.size(), (unsigned long long)entry.arenaBytes,
                entry.inputs.size(), entry.outputs.size());
    for (uint32_t id : entry.outputs)
      std::printf("    output %s %s %s\n", spec.buffers[id].name.c_str(),
                  toString(spec.buffers[id].type),
                  shapeToString(spec.buffers[id].shape).c_str());
  }
  std::printf("binaries: %zu\n", spec.binaries.size());
  for (const BinarySpec &binary : spec.binaries)
    std::printf("  %-5s %-12s %-18s %zu bytes\n", binary.target.c_str(),
                binary.arch.c_str(), binary.format.c_str(), binary.data.size());
  if (findBinary(spec, "cuda"))
    printCudaChoice(spec);
  std::printf("kernel source: %zu bytes\n", spec.kernelSource.size());
  const Provenance &p = spec.provenance;
  std::printf("provenance:\n  compiler %s\n  source hash %s\n  tool %s\n  "
              "flags %s\n",
              p.compilerVersion.c_str(), p.sourceHash.c_str(),
              p.toolVersion.c_str(), p.flags.c_str());
  return {};
}
