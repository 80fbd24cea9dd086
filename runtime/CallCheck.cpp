//===- CallCheck.cpp - Is a call of an entry valid? -----------------------===//

#include "runtime/CallCheck.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/Tensor.h"

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

Status llamac::runtime::checkCall(const ArtifactSpec &artifact,
                                  const std::string &origin, int entryId,
                                  const std::vector<InputData> &inputs,
                                  int32_t position, int64_t seq) {
  auto fail = [&](const std::string &message) {
    return Status::error(origin + ": " + message);
  };
  if (entryId < 0 || size_t(entryId) >= artifact.entries.size())
    return fail("entry " + std::to_string(entryId) +
                " out of range (the artifact has " +
                std::to_string(artifact.entries.size()) + " entries)");
  const EntrySpec &entry = artifact.entries[size_t(entryId)];
  std::string label = "entry '" + entry.name + "'";
  if (entry.seq > 0 && seq != entry.seq)
    return fail(label + ": seq " + std::to_string(seq) +
                ": the entry takes exactly " + std::to_string(entry.seq) +
                " tokens per call");
  if (entry.seq < 0 && (seq < 1 || seq > entry.maxSeq))
    return fail(label + ": seq " + std::to_string(seq) +
                ": must be between 1 and " + std::to_string(entry.maxSeq));
  if (position < 0)
    return fail(label + ": position " + std::to_string(position) +
                " is negative");
  if (int64_t(position) + seq > artifact.config.maxSeqLen)
    return fail(label + ": position " + std::to_string(position) + " + " +
                std::to_string(seq) + " tokens exceeds the KV cache capacity " +
                std::to_string(artifact.config.maxSeqLen));
  if (inputs.size() != entry.inputs.size())
    return fail(label + ": takes " + std::to_string(entry.inputs.size()) +
                " inputs, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const BufferSpec &buffer = artifact.buffers[entry.inputs[i]];
    uint64_t expected = bufferBytes(buffer, seq);
    std::string where =
        label + ": input " + std::to_string(i) + " '" + buffer.name + "'";
    if (inputs[i].bytes != expected || (expected && !inputs[i].data))
      return fail(where + ": got " + std::to_string(inputs[i].bytes) +
                  " bytes, expected " + std::to_string(expected) + " (" +
                  toString(buffer.type) + " " +
                  shapeToString(resolveShape(buffer, seq)) + ")");
    // Token ids index the embedding table; one out of range would be an
    // out-of-bounds read in a kernel, so it is caught here.
    if (buffer.type == ElementType::I32 && buffer.name == "tokens") {
      const auto *ids = static_cast<const int32_t *>(inputs[i].data);
      for (size_t t = 0; t < expected / 4; ++t)
        if (ids[t] < 0 || ids[t] >= artifact.config.vocabSize)
          return fail(where + ": token id " + std::to_string(ids[t]) +
                      " at index " + std::to_string(t) +
                      " is outside the vocabulary of " +
                      std::to_string(artifact.config.vocabSize));
    }
  }
  return {};
}

Status llamac::runtime::checkPersistentCopy(const ArtifactSpec &spec,
                                            const std::string &origin,
                                            const std::vector<bool> &loadOnly,
                                            uint32_t id, size_t bytes) {
  if (id >= spec.buffers.size())
    return Status::error(origin + ": buffer id " + std::to_string(id) +
                         " out of range (the artifact has " +
                         std::to_string(spec.buffers.size()) + " buffers)");
  const BufferSpec &buffer = spec.buffers[id];
  std::string label = origin + ": " + bufferLabel(spec, id);
  if (buffer.kind != BufferKind::Weight && buffer.kind != BufferKind::State)
    return Status::error(label + ": " + toString(buffer.kind) +
                         ", not a weight or state buffer; only those are "
                         "copied to or from the host");
  // Persistent buffers have static shapes: the size is the same at any seq.
  uint64_t expected = bufferBytes(buffer, 1);
  if (bytes != expected)
    return Status::error(
        label + ": " + std::to_string(bytes) +
        " bytes given, but the buffer has " + std::to_string(expected) + " (" +
        toString(buffer.type) + " " + shapeToString(buffer.shape) + ")");
  if (loadOnly[id])
    return Status::error(
        label + ": a weight only the load entry reads, freed once packed");
  return {};
}

Status llamac::runtime::runLoadLaunches(
    const ArtifactSpec &spec, const std::vector<bool> &loadOnly,
    const std::function<Status(size_t, const std::vector<uint32_t> &)> &acquire,
    const std::function<Status(size_t)> &launch,
    const std::function<void(const std::vector<uint32_t> &)> &release) {
  const std::vector<LoadStep> steps = loadSchedule(spec, loadOnly);
  for (size_t l = 0; l < steps.size(); ++l) {
    LLAMAC_RETURN_IF_ERROR(acquire(l, steps[l].arriving));
    Status ran = launch(l);
    release(steps[l].leaving);
    LLAMAC_RETURN_IF_ERROR(ran);
  }
  return {};
}

Status llamac::runtime::runLoadEntry(
    const artifact::ArtifactSpec &spec, const std::string &origin,
    const std::function<Status(int entry, int64_t seq)> &run) {
  for (size_t e = 0; e < spec.entries.size(); ++e) {
    const artifact::EntrySpec &entry = spec.entries[e];
    if (entry.name != "load")
      continue;
    if (!entry.inputs.empty())
      return Status::error(origin + ": entries[" + std::to_string(e) +
                           "] 'load': takes inputs, but the runtime runs it "
                           "with none");
    return run(int(e), entry.seq > 0 ? entry.seq : 1);
  }
  return Status::success();
}
