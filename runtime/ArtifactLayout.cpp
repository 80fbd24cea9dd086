//===- ArtifactLayout.cpp - Sizes and names of artifact buffers -----------===//

#include "runtime/ArtifactLayout.h"

#include <algorithm>
#include <cctype>

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

int llamac::artifact::inputIndex(const ArtifactSpec &spec, int entry,
                                 const std::string &name) {
  const EntrySpec &e = spec.entries[size_t(entry)];
  for (size_t i = 0; i < e.inputs.size(); ++i)
    if (spec.buffers[e.inputs[i]].name == name)
      return int(i);
  return -1;
}
