//===- CudaSession.h - Runs an artifact's entries on a GPU ------*- C++ -*-===//
//
// The cuda executor. Like the cpu Session it owns every buffer the artifact
// describes, now in device memory: weights (converted to their element type
// on the host, then uploaded once), packed weights, KV caches (zeroed), one
// activation arena per entry, and the inputs. A call copies the inputs to
// the device, launches the entry's kernels in order on one stream and waits
// for them; outputs are copied back only when read, and lastTokenLogits
// copies only the last row.
//
// Every launch's LlamaGpuArgs (the buffer addresses) is built once at
// creation; a call only writes the context (batch, seq, position) into it
// and computes the grid from the kernel's LaunchGeometry. Kernels are
// launched directly rather than through a captured CUDA graph: the position
// is a by-value kernel parameter, so a graph would need every kernel node
// updated per token, and for the models where launch overhead matters least
// (7B and up, tens of microseconds per kernel) the launches already overlap
// the previous kernels' execution.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDASESSION_H
#define LLAMAC_RUNTIME_CUDASESSION_H

#include "runtime/ArtifactSpec.h"
#include "runtime/CudaDevice.h"
#include "runtime/CudaKernels.h"
#include "runtime/Executor.h"
#include "runtime/KernelAbi.h"
#include "runtime/WeightSource.h"

#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

struct CudaSessionOptions {
  /// Starts every message: usually the artifact's path.
  std::string origin = "artifact";
  /// The GPU, in the driver's numbering (after CUDA_VISIBLE_DEVICES).
  int deviceOrdinal = 0;
  bool profile = false;
};

class CudaSession final : public Executor {
public:
  /// Verifies `spec`, opens the GPU, loads the binary it runs (CudaArch.h),
  /// allocates and uploads everything and runs the "load" entry.
  static StatusOr<std::unique_ptr<CudaSession>>
  create(artifact::ArtifactSpec spec, WeightSource &weights,
         CudaSessionOptions options = {});

  ~CudaSession() override;

  const artifact::ArtifactSpec &spec() const override { return artifact; }
  std::string describe() const override;
  /// The binary that was loaded: "cubin sm_90 (exact match)".
  const std::string &binaryChoice() const { return kernels->choice(); }

  Status run(int entry, const std::vector<InputData> &inputs, int32_t position,
             int64_t seq) override;
  std::vector<int64_t> outputShape(int entry, size_t index) const override;
  StatusOr<const float *> outputF32(int entry, size_t index) override;
  StatusOr<const float *> lastTokenLogits(int entry) override;
  Status resetCaches() override;

  void setProfiling(bool enabled) override { profiling = enabled; }
  const std::vector<KernelTime> &profile() const override {
    return kernelTimes;
  }
  void clearProfile() override;

private:
  CudaSession() = default;

  struct Launch {
    cu::Function function;
    uint32_t kernelIndex;
    /// Buffer addresses fixed at creation; the context is set per call.
    LlamaGpuArgs args;
  };
  struct Entry {
    std::vector<Launch> launches;
    int64_t lastSeq = 0;
    /// Host copies of outputs as f32, filled when read.
    std::vector<std::vector<float>> outputs;
  };

  Status allocate();
  Status bindWeights(WeightSource &weights);
  void prepareEntries();
  Status launchAll(Entry &entry, const artifact::EntrySpec &spec,
                   int32_t position, int64_t seq);
  /// Copies `rows` rows from `firstRow` of output `index` into host f32.
  StatusOr<const float *> copyOutput(int entry, size_t index, int64_t firstRow,
                                     int64_t rows);
  Status fail(const std::string &message) const;
  Status check(cu::Result result, const std::string &what) const;

  artifact::ArtifactSpec artifact;
  CudaSessionOptions options;
  /// Declared before everything that lives in its context, so that it is
  /// destroyed after them.
  std::unique_ptr<CudaDevice> device;
  std::unique_ptr<CudaKernelLibrary> kernels;
  cu::Stream stream = nullptr;
  /// Every cuMemAlloc, freed by the destructor.
  std::vector<cu::DevicePtr> allocations;
  /// Every buffer's device address, by id.
  std::vector<cu::DevicePtr> addresses;
  std::vector<Entry> entries;
  bool profiling = false;
  std::vector<KernelTime> kernelTimes;
  /// Start and end events of each launch of a profiled call.
  std::vector<cu::Event> events;
  std::vector<uint8_t> staging;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDASESSION_H
