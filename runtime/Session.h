//===- Session.h - Runs an artifact's entries on the CPU ---------*- C++
//-*-===//
//
// The executor. It owns the memory an artifact describes (weights bound from
// a WeightSource, packed weights, KV caches, one activation arena per entry)
// and runs an entry by calling its kernels in order with the buffers each
// launch names. It knows nothing about what the kernels compute.
//
// Decoding one token of a small model takes tens of microseconds, so every
// launch's argument array is resolved once at creation: activations sit at
// fixed arena offsets whatever the call's sequence length, and a call is a
// plain loop of indirect calls.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_SESSION_H
#define LLAMAC_RUNTIME_SESSION_H

#include "runtime/AlignedBuffer.h"
#include "runtime/ArtifactSpec.h"
#include "runtime/CpuKernels.h"
#include "runtime/Executor.h"
#include "runtime/KernelAbi.h"
#include "runtime/Status.h"
#include "runtime/WeightSource.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

struct SessionOptions {
  /// Starts every message: usually the artifact's path.
  std::string origin = "artifact";
  /// LlamaKernelContext::numThreads.
  int numThreads = 1;
  /// Time every launch (see Session::profile()).
  bool profile = false;
};

class Session {
public:
  /// Verifies `spec`, loads its cpu kernels, allocates every buffer, binds
  /// weights by name from `weights` (checking shapes, converting to the
  /// artifact's element type and to its RoPE row order), and runs the
  /// "load" entry if there is one.
  static StatusOr<std::unique_ptr<Session>> create(artifact::ArtifactSpec spec,
                                                   WeightSource &weights,
                                                   SessionOptions options = {});

  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  const artifact::ArtifactSpec &spec() const { return artifact; }
  /// What every message starts with (SessionOptions::origin).
  const std::string &origin() const { return options.origin; }
  /// The index of the entry called `name`, or -1.
  int entryIndex(const std::string &name) const;

  /// Runs entry `entry` on `seq` tokens starting at `position`. `inputs`
  /// follow the entry's input order; each must have exactly the bytes of its
  /// buffer at `seq` (int32 token ids for "tokens").
  Status run(int entry, const std::vector<InputData> &inputs, int32_t position,
             int64_t seq);
  Status run(const std::string &entry, const std::vector<InputData> &inputs,
             int32_t position, int64_t seq);

  /// Output `index` of `entry` after its last run, in the buffer's element
  /// type, and its shape at that run's seq.
  const void *outputData(int entry, size_t index) const;
  std::vector<int64_t> outputShape(int entry, size_t index) const;
  /// The output as f32, converted into a scratch copy when it is f16/bf16.
  const float *outputF32(int entry, size_t index);
  /// The last row of output 0 (the logits of the last token of the call),
  /// whose length is the last dimension of the output.
  const float *lastTokenLogits(int entry);

  /// Zeroes every KV cache, to start a new sequence at position 0.
  void resetCaches();

  /// The storage of weight or optimizer-state buffer `id` (its full static
  /// shape, in the buffer's element type), which training reads to save a
  /// checkpoint and writes to resume one. Null for any other kind, and for
  /// a weight only the load entry reads (loadOnly).
  void *persistentData(uint32_t id);
  /// The weights only the load entry reads, held only while they are
  /// packed (loadOnlyWeights).
  const std::vector<bool> &loadOnly() const { return isLoadOnly; }

  void setNumThreads(int threads) { numThreads = threads < 1 ? 1 : threads; }
  int threads() const { return numThreads; }
  /// The arch of the cpu binary that was loaded ("x86-64-v3").
  const std::string &kernelArch() const { return kernels->arch(); }
  void setProfiling(bool enabled) { profiling = enabled; }
  /// Per kernel index of the artifact.
  const std::vector<KernelTime> &profile() const { return kernelTimes; }
  void clearProfile();

private:
  Session() = default;

  struct Launch {
    LlamaCpuKernel kernel;
    void *const *buffers;
    uint32_t kernelIndex;
  };
  struct Entry {
    std::vector<void *> arguments;
    std::vector<Launch> launches;
    AlignedBuffer arena;
    int64_t lastSeq = 0;
    /// f32 copies of f16/bf16 outputs, for outputF32.
    std::vector<std::vector<float>> scratch;
  };

  Status allocate();
  /// Allocates storage[id], `bytes` long, or says which buffer could not be.
  Status allocateStorage(uint32_t id, uint64_t bytes);
  /// Binds every weight that is not load-only.
  Status bindWeights(WeightSource &weights);
  /// Runs the load entry, if any, a launch at a time: each load-only weight
  /// is allocated and bound just before the first launch that reads it
  /// and freed after the last, so that a weight's unpacked and packed
  /// copies are never all in memory at once.
  Status runLoad(WeightSource &weights);
  Status runLoadStreamed(int entryId, int64_t seq, WeightSource &weights);
  void prepareEntries();
  Status checkCall(int entry, const std::vector<InputData> &inputs,
                   int32_t position, int64_t seq) const;
  Status fail(const std::string &message) const;

  artifact::ArtifactSpec artifact;
  SessionOptions options;
  std::unique_ptr<CpuKernelLibrary> kernels;
  /// Weight, Packed, Cache and Input buffers, by buffer id (empty for
  /// activations).
  std::vector<AlignedBuffer> storage;
  /// loadOnlyWeights(artifact).
  std::vector<bool> isLoadOnly;
  /// Every buffer's address, by id: its storage or its place in the arena.
  std::vector<void *> addresses;
  std::vector<Entry> entries;
  int numThreads = 1;
  bool profiling = false;
  std::vector<KernelTime> kernelTimes;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_SESSION_H
