//===- BenchJson.cpp - llama-run bench results for scripts ----------------===//

#include "BenchJson.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/Json.h"

#include <cstdio>
#include <cstring>
#include <set>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

std::string shapeJson(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

/// Bytes of the weight and packed buffers an entry's launches name: what a
/// call must read from memory at least once.
uint64_t parameterBytes(const ArtifactSpec &spec, const EntrySpec &entry) {
  std::set<uint32_t> ids;
  for (const LaunchSpec &launch : entry.launches)
    for (uint32_t id : launch.buffers)
      if (spec.buffers[id].kind == BufferKind::Weight ||
          spec.buffers[id].kind == BufferKind::Packed)
        ids.insert(id);
  uint64_t bytes = 0;
  for (uint32_t id : ids)
    bytes += bufferBytes(spec.buffers[id], 1);
  return bytes;
}

std::string kernelsJson(const ArtifactSpec &spec,
                        const KernelProfile &profile) {
  const EntrySpec *entry = findEntry(spec, profile.entry);
  std::string text;
  for (size_t k = 0; k < profile.times.size(); ++k) {
    const KernelTime &time = profile.times[k];
    if (time.calls == 0)
      continue;
    const KernelSpec &kernel = spec.kernels[k];
    std::string buffers;
    if (entry) {
      for (const LaunchSpec &launch : entry->launches) {
        if (launch.kernel != k)
          continue;
        for (uint32_t id : launch.buffers) {
          const BufferSpec &b = spec.buffers[id];
          buffers += std::string(buffers.empty() ? "" : ", ") +
                     "{\"name\": " + quoteJson(b.name) + ", \"kind\": \"" +
                     toString(b.kind) + "\", \"type\": \"" + toString(b.type) +
                     "\", \"shape\": " + shapeJson(b.shape) + "}";
        }
        break;
      }
    }
    text += std::string(text.empty() ? "" : ",\n      ") +
            "{\"symbol\": " + quoteJson(kernel.symbol) +
            ", \"op\": " + quoteJson(kernel.op) +
            ", \"origin\": " + quoteJson(kernel.origin) +
            ", \"calls\": " + std::to_string(time.calls) +
            ", \"ns\": " + std::to_string(time.nanoseconds) +
            ", \"buffers\": [" + buffers + "]}";
  }
  return text;
}

} // namespace

Status llamac::run::writeBenchJson(const std::string &path,
                                   const BenchResults &results,
                                   const Executor &executor) {
  const ArtifactSpec &spec = executor.spec();
  std::string text = "{\n  \"backend\": " + quoteJson(results.backend) +
                     ",\n  \"batch\": " + std::to_string(results.batch) +
                     ",\n  \"prefill\": [";
  for (size_t i = 0; i < results.prefill.size(); ++i) {
    char item[96];
    std::snprintf(item, sizeof(item), "%s{\"tokens\": %lld, \"seconds\": %.9g}",
                  i ? ", " : "", (long long)results.prefill[i].tokens,
                  results.prefill[i].seconds);
    text += item;
  }
  char decode[128];
  std::snprintf(decode, sizeof(decode),
                "{\"tokens\": %lld, \"seconds\": %.9g, \"context\": %lld}",
                (long long)results.decode.tokens, results.decode.seconds,
                (long long)results.decodeContext);
  text += "],\n  \"decode\": " + std::string(decode) +
          ",\n  \"parameter_bytes\": {";
  for (size_t e = 0; e < spec.entries.size(); ++e)
    text += std::string(e ? ", " : "") + quoteJson(spec.entries[e].name) + ": " +
            std::to_string(parameterBytes(spec, spec.entries[e]));
  text += "},\n  \"profiles\": [";
  for (size_t p = 0; p < results.profiles.size(); ++p) {
    const KernelProfile &profile = results.profiles[p];
    text += std::string(p ? "," : "") +
            "\n    {\"entry\": " + quoteJson(profile.entry) +
            ", \"seq\": " + std::to_string(profile.seq) +
            ", \"kernels\": [\n      " + kernelsJson(spec, profile) + "]}";
  }
  text += "]\n}\n";

  FILE *file = std::fopen(path.c_str(), "w");
  if (!file)
    return Status::error("--json: cannot write " + path + ": " +
                         std::strerror(errno));
  bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  if (std::fclose(file) != 0 || !written)
    return Status::error("--json: cannot write " + path);
  return {};
}
