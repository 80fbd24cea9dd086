//===- Session.cpp - Runs an artifact's entries on the CPU ----------------===//

#include "runtime/Session.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/ArtifactVerifier.h"
#include "runtime/CallCheck.h"
#include "runtime/HalfFloat.h"
#include "runtime/Tensor.h"
#include "runtime/WeightBinding.h"

#include <algorithm>
#include <chrono>
#include <cstring>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

Session::~Session() = default;

Status Session::fail(const std::string &message) const {
  return Status::error(options.origin + ": " + message);
}

StatusOr<std::unique_ptr<Session>> Session::create(ArtifactSpec spec,
                                                   WeightSource &weights,
                                                   SessionOptions options) {
  LLAMAC_RETURN_IF_ERROR(verifyArtifact(spec, options.origin));
  std::unique_ptr<Session> session(new Session());
  session->artifact = std::move(spec);
  session->options = std::move(options);
  session->setNumThreads(session->options.numThreads);
  session->profiling = session->options.profile;
  session->kernelTimes.assign(session->artifact.kernels.size(), {});

  StatusOr<std::unique_ptr<CpuKernelLibrary>> library =
      CpuKernelLibrary::load(session->artifact, session->options.origin);
  if (!library.ok())
    return library.status();
  session->kernels = std::move(library).value();

  LLAMAC_RETURN_IF_ERROR(session->allocate());
  LLAMAC_RETURN_IF_ERROR(session->bindWeights(weights));
  session->prepareEntries();

  LLAMAC_RETURN_IF_ERROR(session->runLoad(weights));
  return session;
}

Status Session::allocate() {
  const size_t numBuffers = artifact.buffers.size();
  storage.resize(numBuffers);
  addresses.assign(numBuffers, nullptr);

  // An input's sequence dimension is sized for the longest entry using it.
  std::vector<BufferUse> uses = bufferUses(artifact);
  isLoadOnly = loadOnlyWeights(artifact);

  entries.resize(artifact.entries.size());
  for (size_t e = 0; e < artifact.entries.size(); ++e) {
    uint64_t bytes = artifact.entries[e].arenaBytes;
    entries[e].arena = AlignedBuffer(size_t(bytes));
    if (!entries[e].arena)
      return fail("entries[" + std::to_string(e) + "] '" +
                  artifact.entries[e].name +
                  "': cannot allocate its arena of " + std::to_string(bytes) +
                  " bytes");
    entries[e].scratch.resize(artifact.entries[e].outputs.size());
  }

  for (size_t id = 0; id < numBuffers; ++id) {
    const BufferSpec &buffer = artifact.buffers[id];
    if (buffer.kind == BufferKind::Activation) {
      // Verified: an activation belongs to one entry and fits its arena.
      if (uses[id].owner >= 0)
        addresses[id] =
            entries[size_t(uses[id].owner)].arena.data() + buffer.arenaOffset;
      continue;
    }
    if (isLoadOnly[id])
      continue; // allocated by runLoad
    LLAMAC_RETURN_IF_ERROR(allocateStorage(
        uint32_t(id), bufferBytes(buffer, uses[id].longestCall)));
    addresses[id] = storage[id].data();
  }
  return {};
}

Status Session::allocateStorage(uint32_t id, uint64_t bytes) {
  storage[id] = AlignedBuffer(size_t(bytes));
  if (!storage[id])
    return fail(bufferLabel(artifact, id) + ": cannot allocate " +
                std::to_string(bytes) + " bytes");
  return {};
}

Status Session::bindWeights(WeightSource &weights) {
  for (size_t id = 0; id < artifact.buffers.size(); ++id)
    if (artifact.buffers[id].kind == BufferKind::Weight && !isLoadOnly[id])
      LLAMAC_RETURN_IF_ERROR(bindWeight(artifact.config, artifact.buffers[id],
                                        weights, storage[id].data()));
  return {};
}

Status Session::runLoad(WeightSource &weights) {
  return runLoadEntry(artifact, options.origin, [&](int entry, int64_t seq) {
    return runLoadStreamed(entry, seq, weights);
  });
}

Status Session::runLoadStreamed(int entryId, int64_t seq,
                                WeightSource &weights) {
  if (std::none_of(isLoadOnly.begin(), isLoadOnly.end(),
                   [](bool b) { return b; }))
    return run(entryId, {}, 0, seq);
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  Entry &entry = entries[size_t(entryId)];
  // Launch l's buffer pointers are its slice of entry.arguments, from
  // first[l]; its load-only weights' point at their storage (null once
  // freed).
  std::vector<size_t> first(spec.launches.size() + 1, 0);
  for (size_t l = 0; l < spec.launches.size(); ++l)
    first[l + 1] = first[l] + spec.launches[l].buffers.size();
  auto pointLaunch = [&](size_t l) {
    for (size_t k = 0; k < spec.launches[l].buffers.size(); ++k) {
      const uint32_t id = spec.launches[l].buffers[k];
      if (isLoadOnly[id])
        entry.arguments[first[l] + k] = storage[id].data();
    }
  };
  std::vector<Launch> launches = std::move(entry.launches);
  auto acquire = [&](size_t l, const std::vector<uint32_t> &arriving) {
    for (uint32_t id : arriving) {
      const BufferSpec &buffer = artifact.buffers[id];
      LLAMAC_RETURN_IF_ERROR(allocateStorage(id, bufferBytes(buffer, 1)));
      LLAMAC_RETURN_IF_ERROR(
          bindWeight(artifact.config, buffer, weights, storage[id].data()));
    }
    pointLaunch(l);
    return Status();
  };
  auto launch = [&](size_t l) {
    entry.launches = {launches[l]};
    return run(entryId, {}, 0, seq);
  };
  auto release = [&](const std::vector<uint32_t> &leaving) {
    for (uint32_t id : leaving)
      storage[id] = AlignedBuffer();
  };
  Status status =
      runLoadLaunches(artifact, isLoadOnly, acquire, launch, release);
  // The load entry never runs again: nothing points at a freed weight.
  for (uint32_t id = 0; id < isLoadOnly.size(); ++id)
    if (isLoadOnly[id])
      storage[id] = AlignedBuffer();
  for (size_t l = 0; l < spec.launches.size(); ++l)
    pointLaunch(l);
  entry.launches = std::move(launches);
  return status;
}

void Session::prepareEntries() {
  for (size_t e = 0; e < artifact.entries.size(); ++e) {
    const EntrySpec &spec = artifact.entries[e];
    Entry &entry = entries[e];
    size_t total = 0;
    for (const LaunchSpec &launch : spec.launches)
      total += launch.buffers.size();
    // Filled completely before any pointer into it is taken.
    entry.arguments.reserve(total);
    for (const LaunchSpec &launch : spec.launches)
      for (uint32_t id : launch.buffers)
        entry.arguments.push_back(addresses[id]);
    size_t next = 0;
    for (const LaunchSpec &launch : spec.launches) {
      entry.launches.push_back({kernels->kernel(launch.kernel),
                                entry.arguments.data() + next, launch.kernel});
      next += launch.buffers.size();
    }
  }
}

int Session::entryIndex(const std::string &name) const {
  for (size_t e = 0; e < artifact.entries.size(); ++e)
    if (artifact.entries[e].name == name)
      return int(e);
  return -1;
}

Status Session::checkCall(int entryId, const std::vector<InputData> &inputs,
                          int32_t position, int64_t seq) const {
  return runtime::checkCall(artifact, options.origin, entryId, inputs, position,
                            seq);
}

Status Session::run(int entryId, const std::vector<InputData> &inputs,
                    int32_t position, int64_t seq) {
  LLAMAC_RETURN_IF_ERROR(checkCall(entryId, inputs, position, seq));
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  Entry &entry = entries[size_t(entryId)];
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].bytes)
      std::memcpy(addresses[spec.inputs[i]], inputs[i].data, inputs[i].bytes);

  const LlamaKernelContext context{spec.batch, seq, position, numThreads};
  if (!profiling) {
    for (const Launch &launch : entry.launches)
      launch.kernel(launch.buffers, &context);
  } else {
    using Clock = std::chrono::steady_clock;
    for (const Launch &launch : entry.launches) {
      Clock::time_point start = Clock::now();
      launch.kernel(launch.buffers, &context);
      auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(
          Clock::now() - start);
      KernelTime &time = kernelTimes[launch.kernelIndex];
      ++time.calls;
      time.nanoseconds += uint64_t(elapsed.count());
    }
  }
  entry.lastSeq = seq;
  return {};
}

Status Session::run(const std::string &name,
                    const std::vector<InputData> &inputs, int32_t position,
                    int64_t seq) {
  int entryId = entryIndex(name);
  if (entryId < 0)
    return fail("entry '" + name + "': not in the artifact");
  return run(entryId, inputs, position, seq);
}

const void *Session::outputData(int entryId, size_t index) const {
  return addresses[artifact.entries[size_t(entryId)].outputs[index]];
}

std::vector<int64_t> Session::outputShape(int entryId, size_t index) const {
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  return resolveShape(artifact.buffers[spec.outputs[index]],
                      std::max<int64_t>(entries[size_t(entryId)].lastSeq, 1));
}

const float *Session::outputF32(int entryId, size_t index) {
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  const BufferSpec &buffer = artifact.buffers[spec.outputs[index]];
  const void *data = outputData(entryId, index);
  if (buffer.type == ElementType::F32)
    return static_cast<const float *>(data);
  int64_t count = numElements(outputShape(entryId, index));
  std::vector<float> &copy = entries[size_t(entryId)].scratch[index];
  copy.resize(size_t(count));
  const auto *raw = static_cast<const uint16_t *>(data);
  for (int64_t i = 0; i < count; ++i) {
    if (buffer.type == ElementType::F16)
      copy[i] = f16ToF32(raw[i]);
    else if (buffer.type == ElementType::BF16)
      copy[i] = bf16ToF32(raw[i]);
    else
      copy[i] = float(static_cast<const int32_t *>(data)[i]);
  }
  return copy.data();
}

const float *Session::lastTokenLogits(int entryId) {
  std::vector<int64_t> shape = outputShape(entryId, 0);
  int64_t width = shape.empty() ? 1 : shape.back();
  int64_t rows = numElements(shape) / width;
  return outputF32(entryId, 0) + (rows - 1) * width;
}

void *Session::persistentData(uint32_t id) {
  BufferKind kind = artifact.buffers[id].kind;
  return (kind == BufferKind::Weight && !isLoadOnly[id]) ||
                 kind == BufferKind::State
             ? storage[id].data()
             : nullptr;
}

void Session::resetCaches() {
  for (size_t id = 0; id < artifact.buffers.size(); ++id)
    if (artifact.buffers[id].kind == BufferKind::Cache)
      storage[id].clear();
}

void Session::clearProfile() {
  kernelTimes.assign(artifact.kernels.size(), {});
}
