//===- Executor.h - Runs an artifact's entries on some device ---*- C++ -*-===//
//
// What llama-run needs from a backend, whatever runs the kernels: the cpu
// Session (through CpuExecutor) or the CudaSession. One virtual call per
// entry call is all it adds; the cpu decode loop itself is untouched.
// Outputs are read through StatusOr because on a GPU reading them is a copy
// that can fail.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_EXECUTOR_H
#define LLAMAC_RUNTIME_EXECUTOR_H

#include "runtime/ArtifactSpec.h"
#include "runtime/CudaArch.h"
#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

class WeightSource;

/// The caller's bytes for one input buffer of an entry.
struct InputData {
  const void *data = nullptr;
  size_t bytes = 0;
};

/// Time spent in one kernel since profiling started.
struct KernelTime {
  uint64_t calls = 0;
  uint64_t nanoseconds = 0;
};

class Executor {
public:
  virtual ~Executor();

  virtual const artifact::ArtifactSpec &spec() const = 0;
  /// For reports: "cpu x86-64-v3, 2 threads" or "cuda NVIDIA H100 (sm_90,
  /// ...), cubin sm_90 (exact match)".
  virtual std::string describe() const = 0;
  /// The index of the entry called `name`, or -1.
  int entryIndex(const std::string &name) const;

  /// Runs entry `entry` on `seq` tokens starting at `position` and waits for
  /// it to finish. `inputs` follow the entry's input order; each must have
  /// exactly the bytes of its buffer at `seq`.
  virtual Status run(int entry, const std::vector<InputData> &inputs,
                     int32_t position, int64_t seq) = 0;
  /// The shape of output `index` of `entry` at its last run's seq.
  virtual std::vector<int64_t> outputShape(int entry, size_t index) const = 0;
  /// Output `index` of `entry` after its last run, as f32. Valid until the
  /// next call of any method.
  virtual StatusOr<const float *> outputF32(int entry, size_t index) = 0;
  /// The last row of output 0 (the logits of the last token of the call),
  /// whose length is the last dimension of the output.
  virtual StatusOr<const float *> lastTokenLogits(int entry) = 0;
  /// Zeroes every KV cache, to start a new sequence at position 0.
  virtual Status resetCaches() = 0;

  /// Copies buffer `id`, a weight or optimizer-state buffer (the ones that
  /// persist across calls and make a training checkpoint), whole and in its
  /// element type, into `host`, whose `bytes` must be exactly its size.
  /// Training saves checkpoints through it whatever the device.
  virtual Status copyPersistentOut(uint32_t id, void *host, size_t bytes) = 0;
  /// Overwrites weight or optimizer-state buffer `id` with `bytes` (exactly
  /// its size) from `host`: how a resumed run restores its optimizer state.
  /// Packed buffers that the load entry derived from a weight keep their
  /// old contents.
  virtual Status copyPersistentIn(uint32_t id, const void *host,
                                  size_t bytes) = 0;

  /// Per-kernel timing of every launch (see profile()).
  virtual void setProfiling(bool enabled) = 0;
  /// Per kernel index of the artifact.
  virtual const std::vector<KernelTime> &profile() const = 0;
  virtual void clearProfile() = 0;
};

/// Where an artifact runs.
enum class Device { Auto, Cpu, Cuda };

struct ExecutorOptions {
  /// Starts every message: usually the artifact's path.
  std::string origin = "artifact";
  /// Auto runs an artifact with only cuda binaries on the GPU, one with only
  /// cpu binaries on the CPU, and one with both on the GPU when one is usable.
  Device device = Device::Auto;
  /// Threads per cpu kernel.
  int numThreads = 1;
  bool profile = false;
  /// cuda only: replay repeated calls from a CUDA graph (CudaSession.h).
  bool cudaGraphs = true;
  /// cuda only: programmatic dependent launch where possible
  /// (CudaSession.h).
  bool cudaProgrammaticLaunch = true;
  /// cuda only: launch kernels whose geometry asks for clusters in
  /// clusters, where the GPU (sm_90+) and the driver allow (CudaSession.h).
  bool cudaClusters = true;
  /// cuda only: the code to load (CudaArch.h): the binary for this GPU, the
  /// PTX (--ptx), or the embedded source compiled for it (--jit).
  CudaCode cudaCode = CudaCode::Binary;
  /// cuda only: the kernels that run the artifact's PTX beside sm_90a's
  /// cubin (--portable-kernels, CudaSession.h).
  std::vector<std::string> cudaPortableKernels;
};

/// Creates the executor for `options.device`: binds `weights` and runs the
/// "load" entry. A cuda artifact on a machine without a GPU fails with the
/// driver's reason ("no CUDA driver: dlopen(libcuda.so.1) failed: ...").
StatusOr<std::unique_ptr<Executor>> createExecutor(artifact::ArtifactSpec spec,
                                                   WeightSource &weights,
                                                   ExecutorOptions options);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_EXECUTOR_H
