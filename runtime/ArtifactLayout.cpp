//===- ArtifactLayout.cpp - Sizes and names of artifact buffers -----------===//

#include "runtime/ArtifactLayout.h"
#include "runtime/KernelAbi.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

using namespace llamac::artifact;

size_t llamac::artifact::elementBytes(ElementType type) {
  switch (type) {
  case ElementType::F32:
  case ElementType::I32:
    return 4;
  case ElementType::F16:
  case ElementType::BF16:
    return 2;
  }
  return 0;
}

const char *llamac::artifact::toString(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return "f32";
  case ElementType::F16:
    return "f16";
  case ElementType::BF16:
    return "bf16";
  case ElementType::I32:
    return "i32";
  }
  return "?";
}

const char *llamac::artifact::toString(BufferKind kind) {
  switch (kind) {
  case BufferKind::Input:
    return "input";
  case BufferKind::Weight:
    return "weight";
  case BufferKind::Packed:
    return "packed";
  case BufferKind::Cache:
    return "cache";
  case BufferKind::Activation:
    return "activation";
  case BufferKind::State:
    return "state";
  }
  return "?";
}

bool llamac::artifact::isDynamic(const BufferSpec &buffer) {
  return std::find(buffer.shape.begin(), buffer.shape.end(), -1) !=
         buffer.shape.end();
}

std::vector<int64_t> llamac::artifact::resolveShape(const BufferSpec &buffer,
                                                    int64_t seq) {
  std::vector<int64_t> shape = buffer.shape;
  for (int64_t &dim : shape)
    if (dim == -1)
      dim = seq;
  return shape;
}

uint64_t llamac::artifact::bufferBytes(const BufferSpec &buffer, int64_t seq) {
  uint64_t bytes = elementBytes(buffer.type);
  for (int64_t dim : buffer.shape)
    bytes *= uint64_t(dim == -1 ? seq : dim);
  return bytes;
}

int64_t llamac::artifact::entryMaxSeq(const EntrySpec &entry) {
  return std::max(entry.seq, entry.maxSeq);
}

const EntrySpec *llamac::artifact::findEntry(const ArtifactSpec &spec,
                                             const std::string &name) {
  for (const EntrySpec &entry : spec.entries)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

const BinarySpec *llamac::artifact::findBinary(const ArtifactSpec &spec,
                                               const std::string &target) {
  for (const BinarySpec &binary : spec.binaries)
    if (binary.target == target)
      return &binary;
  return nullptr;
}

std::string llamac::artifact::originFamily(const std::string &origin) {
  std::string result;
  size_t start = 0;
  while (start <= origin.size()) {
    size_t end = origin.find('.', start);
    if (end == std::string::npos)
      end = origin.size();
    std::string part = origin.substr(start, end - start);
    bool numeric = !part.empty() &&
                   std::all_of(part.begin(), part.end(),
                               [](unsigned char c) { return std::isdigit(c); });
    result += numeric ? "*" : part;
    if (end == origin.size())
      break;
    result += '.';
    start = end + 1;
  }
  return result;
}

std::vector<BufferUse> llamac::artifact::bufferUses(const ArtifactSpec &spec) {
  std::vector<BufferUse> uses(spec.buffers.size());
  for (size_t e = 0; e < spec.entries.size(); ++e) {
    const EntrySpec &entry = spec.entries[e];
    auto use = [&](uint32_t id) {
      uses[id].longestCall = std::max(uses[id].longestCall, entryMaxSeq(entry));
      uses[id].owner = int(e);
    };
    for (const LaunchSpec &launch : entry.launches)
      for (uint32_t id : launch.buffers)
        use(id);
    for (uint32_t id : entry.inputs)
      use(id);
    for (uint32_t id : entry.outputs)
      use(id);
  }
  return uses;
}

std::vector<bool> llamac::artifact::loadOnlyWeights(const ArtifactSpec &spec) {
  std::vector<bool> byLoad(spec.buffers.size(), false),
      byOthers(spec.buffers.size(), false);
  for (const EntrySpec &entry : spec.entries) {
    std::vector<bool> &named = entry.name == "load" ? byLoad : byOthers;
    for (const LaunchSpec &launch : entry.launches)
      for (uint32_t id : launch.buffers)
        named[id] = true;
    for (uint32_t id : entry.inputs)
      named[id] = true;
    for (uint32_t id : entry.outputs)
      named[id] = true;
  }
  std::vector<bool> loadOnly(spec.buffers.size(), false);
  for (size_t id = 0; id < spec.buffers.size(); ++id)
    loadOnly[id] = spec.buffers[id].kind == BufferKind::Weight && byLoad[id] &&
                   !byOthers[id];
  // A launch's buffer table and tensor maps are written before any launch,
  // so a weight allocated later cannot be reached through them.
  if (const EntrySpec *load = findEntry(spec, "load"))
    for (const LaunchSpec &launch : load->launches) {
      bool late = launch.buffers.size() <= LLAMA_MAX_KERNEL_BUFFERS;
      for (const TensorMapSpec &map : spec.kernels[launch.kernel].tensorMaps)
        late = late && !loadOnly[launch.buffers[map.operand]];
      if (!late)
        return std::vector<bool>(spec.buffers.size(), false);
    }
  return loadOnly;
}

std::vector<LoadStep>
llamac::artifact::loadSchedule(const ArtifactSpec &spec,
                               const std::vector<bool> &loadOnly) {
  const EntrySpec *load = findEntry(spec, "load");
  if (!load)
    return {};
  std::vector<int> first(spec.buffers.size(), -1), last(spec.buffers.size());
  for (size_t l = 0; l < load->launches.size(); ++l)
    for (uint32_t id : load->launches[l].buffers) {
      if (first[id] < 0)
        first[id] = int(l);
      last[id] = int(l);
    }
  std::vector<LoadStep> steps(load->launches.size());
  for (uint32_t id = 0; id < spec.buffers.size(); ++id)
    if (loadOnly[id] && first[id] >= 0) {
      steps[size_t(first[id])].arriving.push_back(id);
      steps[size_t(last[id])].leaving.push_back(id);
    }
  return steps;
}

llamac::artifact::MemoryPlan
llamac::artifact::memoryPlan(const ArtifactSpec &spec,
                             const std::vector<BufferUse> &uses) {
  MemoryPlan plan;
  for (const EntrySpec &entry : spec.entries)
    plan.activations += entry.arenaBytes;
  const std::vector<bool> loadOnly = loadOnlyWeights(spec);
  // The peak of the load-only weights held, after each launch's arrive.
  uint64_t held = 0;
  for (const LoadStep &step : loadSchedule(spec, loadOnly)) {
    for (uint32_t id : step.arriving)
      held += bufferBytes(spec.buffers[id], 1);
    plan.unpackedPeak = std::max(plan.unpackedPeak, held);
    for (uint32_t id : step.leaving)
      held -= bufferBytes(spec.buffers[id], 1);
  }
  for (size_t id = 0; id < spec.buffers.size(); ++id) {
    const BufferSpec &buffer = spec.buffers[id];
    const uint64_t bytes = bufferBytes(buffer, uses[id].longestCall);
    if (loadOnly[id]) {
      plan.unpacked += bytes;
      continue;
    }
    switch (buffer.kind) {
    case BufferKind::Weight:
    case BufferKind::Packed:
      plan.weights += bytes;
      break;
    case BufferKind::Cache:
      plan.caches += bytes;
      break;
    case BufferKind::State:
      plan.state += bytes;
      break;
    case BufferKind::Input:
      plan.activations += bytes;
      break;
    case BufferKind::Activation:
      break; // in its entry's arena
    }
  }
  return plan;
}

std::string llamac::artifact::formatBytes(uint64_t bytes) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024)
    return std::to_string(bytes) + " bytes";
  double value = double(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f %s", value, units[unit]);
  return text;
}

std::string llamac::artifact::bufferLabel(const ArtifactSpec &spec,
                                          uint32_t id) {
  return "buffers[" + std::to_string(id) + "] '" + spec.buffers[id].name + "'";
}

std::string llamac::artifact::MemoryPlan::describe() const {
  std::string parts;
  auto add = [&](uint64_t bytes, const char *what) {
    if (bytes == 0)
      return;
    parts += (parts.empty() ? "" : ", ") + std::string(what) + " " +
             formatBytes(bytes);
  };
  add(weights, "weights");
  add(caches, "KV caches");
  add(state, "optimizer state");
  add(activations, "activations");
  if (unpackedPeak)
    parts += "; " + formatBytes(unpackedPeak) +
             " more while the weights are "
             "packed";
  return formatBytes(total()) + " (" + parts + ")";
}

int llamac::artifact::inputIndex(const ArtifactSpec &spec, int entry,
                                 const std::string &name) {
  const EntrySpec &e = spec.entries[size_t(entry)];
  for (size_t i = 0; i < e.inputs.size(); ++i)
    if (spec.buffers[e.inputs[i]].name == name)
      return int(i);
  return -1;
}
