//===- CudaSession.h - Runs an artifact's entries on a GPU ------*- C++ -*-===//
//
// The cuda executor. Like the cpu Session it owns every buffer the artifact
// describes, now in device memory: weights (converted to their element type
// on the host, then uploaded once; random weights generated in place by the
// binary's fill kernels), packed weights, KV caches (zeroed), one
// activation arena per entry, and the inputs. A call copies the inputs to
// the device, launches the entry's kernels in order on one stream and waits
// for them; outputs are copied back only when read, and lastTokenLogits
// copies only the last row.
//
// Every launch's LlamaGpuArgs (the buffer addresses) is built once at
// creation; a call only writes the context (batch, seq) into it and
// computes the grid from the kernel's LaunchGeometry. A launch with more
// than LLAMA_MAX_KERNEL_BUFFERS buffers (an optimizer op) gets a device
// table of their addresses instead, also written once at creation
// (KernelAbi.h), and so are the tensor maps its kernel lists, encoded over
// all the rows each buffer's allocation holds. The position goes to a 4-byte
// device buffer that every kernel reads, copied on the stream before the
// launches.
//
// CUDA graphs: when an entry is called again with the same seq as its last
// call (every decode token after the first), its launches are captured
// once into a graph and from then on the whole call is one cuGraphLaunch,
// which saves the CPU cost of each launch (several microseconds each, tens
// of kernels per token) and the gaps between kernels. Nothing in the
// captured parameters depends on the position, so the graph stays valid
// until seq changes. Profiling (per-kernel events) launches directly, as
// does a driver without graph support or CudaSessionOptions::graphs off.
//
// Programmatic dependent launch (sm_90 and later): every kernel is launched
// with programmatic stream serialization, so the next kernel's blocks get
// resident and wait (griddepcontrol.wait, their first instruction) while
// the current one drains, instead of launching after it has finished; with
// tens of short kernels per decode token those gaps add up. Graph captures
// keep the overlap as programmatic edges. Off for binaries whose kernels do
// not wait, on older GPUs and drivers, and with
// CudaSessionOptions::programmaticLaunch off.
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
  /// Replay repeated calls (decode) from a captured CUDA graph.
  bool graphs = true;
  /// The code to load: the artifact's binary for this GPU, its PTX, or its
  /// embedded source compiled here with NVRTC (CudaJit.h).
  CudaCode code = CudaCode::Binary;
  /// Launch each kernel while the previous one may still run (programmatic
  /// dependent launch), where the GPU (sm_90+), the driver
  /// (cuLaunchKernelEx) and the binary (kernels that wait) allow.
  bool programmaticLaunch = true;
  /// Launch the kernels whose geometry asks for clusters
  /// (LaunchGeometry::clusterBlocks) in clusters, where the GPU (sm_90+)
  /// and the driver (cuLaunchKernelEx) allow; else each of their blocks
  /// loads its own tiles whole.
  bool clusters = true;
  /// The kernels whose name contains one of these run the artifact's PTX
  /// (CudaKernelLibrary::load), the rest sm_90a's cubin.
  std::vector<std::string> portableKernels;
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
  /// "cuda NAME (sm_90, 132 SMs, driver 13.0), cubin sm_90 (exact match),
  /// repeated calls replayed as CUDA graphs".
  std::string describe() const override;
  /// The binary that was loaded: "cubin sm_90 (exact match)".
  const std::string &binaryChoice() const { return kernels->choice(); }

  Status run(int entry, const std::vector<InputData> &inputs, int32_t position,
             int64_t seq) override;
  std::vector<int64_t> outputShape(int entry, size_t index) const override;
  StatusOr<const float *> outputF32(int entry, size_t index) override;
  StatusOr<const float *> lastTokenLogits(int entry) override;
  Status resetCaches() override;
  Status copyPersistentOut(uint32_t id, void *host, size_t bytes) override;
  Status copyPersistentIn(uint32_t id, const void *host, size_t bytes) override;

  void setProfiling(bool enabled) override { profiling = enabled; }
  /// Graphs captured, and calls run as one graph launch, so far.
  int graphsCaptured() const { return captures; }
  int64_t graphLaunches() const { return replays; }
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
    /// The seq of the last successful call, whose outputs are readable; 0
    /// while a call runs or after one failed.
    int64_t lastSeq = 0;
    /// The seq of the call before this one, successful or not: a repeat
    /// is worth a graph.
    int64_t previousSeq = 0;
    /// The captured launches of calls with seq `graphSeq`.
    cu::GraphExec graph = nullptr;
    int64_t graphSeq = 0;
    /// Host copies of outputs as f32, filled when read.
    std::vector<std::vector<float>> outputs;
  };

  /// cuMemAlloc of `bytes` (at least 1), freed by the destructor; errors
  /// start with `what`, and running out of memory says what the session
  /// needs in all (`memoryNeed`).
  Status allocateBytes(uint64_t bytes, const std::string &what,
                       cu::DevicePtr *pointer);
  Status allocate();
  /// Binds every weight that is not load-only.
  Status bindWeights(WeightSource &weights);
  /// Binds `ids`, allocated, from `weights`: uploaded, or generated on the
  /// GPU for random weights.
  Status bindWeightBuffers(WeightSource &weights,
                           const std::vector<uint32_t> &ids);
  /// Runs the load entry, if any. Load-only weights are allocated and
  /// bound just before the first of its launches that reads them and freed
  /// after the last, so that a model's unpacked and packed copies of a
  /// weight are never all on the GPU at once.
  Status runLoad(WeightSource &weights);
  Status runLoadStreamed(int entryId, int64_t seq, WeightSource &weights);
  /// cuMemFree of an allocateBytes allocation.
  void freeAllocation(cu::DevicePtr pointer);
  /// Generates weight buffers `ids` on the GPU by the rules `fills`
  /// (RandomWeights.h): the same bits the host would upload, without
  /// generating or copying gigabytes on the host.
  Status fillRandomWeights(const std::vector<uint32_t> &ids,
                           const std::vector<LlamaRandomFill> &fills);
  /// Builds every launch's LlamaGpuArgs, uploading the buffer table of each
  /// launch with more than LLAMA_MAX_KERNEL_BUFFERS buffers and encoding
  /// the tensor maps its kernel lists.
  Status prepareEntries();
  /// Encodes `map` over buffer `id`, all the rows its allocation holds;
  /// errors start with `what`.
  Status encodeTensorMap(const artifact::TensorMapSpec &map, uint32_t id,
                         const std::string &what, LlamaGpuTensorMap *out);
  /// One kernel on the stream: cuLaunchKernelEx with programmatic stream
  /// serialization when `programmatic` and `cluster` blocks a cluster
  /// when above 1, else cuLaunchKernel.
  cu::Result launchKernel(cu::Function function, const unsigned grid[3],
                          const artifact::LaunchGeometry &g, unsigned cluster,
                          void **params);
  /// The blocks of a cluster that kernel `index` is launched with: 1, or
  /// its geometry's clusterBlocks where `clusters` holds.
  unsigned clusterBlocks(uint32_t index) const;
  /// How many of its clusters the GPU holds at once (at least 1): the
  /// driver's cuOccupancyMaxActiveClusters where it has one, else the SMs
  /// its persistentBlocksPerSm fill, in whole clusters. Asked once per
  /// kernel.
  StatusOr<unsigned> residentClusters(const Launch &launch, unsigned cluster);
  Status launchAll(Entry &entry, const artifact::EntrySpec &spec,
                   int64_t seq);
  /// Runs the call's launches: directly, or from the entry's graph
  /// (capturing it first when `seq` repeats).
  Status launchCall(Entry &entry, const artifact::EntrySpec &spec,
                    int64_t seq);
  Status captureGraph(Entry &entry, const artifact::EntrySpec &spec,
                      int64_t seq);
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
  /// Every buffer's device address, by id, and the bytes allocated for it
  /// (a dynamic buffer's at its entry's longest call).
  std::vector<cu::DevicePtr> addresses;
  std::vector<uint64_t> capacities;
  /// The position every kernel reads (LlamaGpuArgs::livePosition), and its
  /// host source, which must outlive the asynchronous copy.
  cu::DevicePtr livePosition = 0;
  int32_t hostPosition = 0;
  std::vector<Entry> entries;
  bool profiling = false;
  /// Kernels are launched with programmatic stream serialization.
  bool programmatic = false;
  /// Kernels that ask for clusters get them.
  bool clusters = false;
  /// MemoryPlan::describe() of what allocate() allocates, for errors.
  std::string memoryNeed;
  /// Weights that only the load entry reads, which runLoad allocates,
  /// binds and frees launch by launch (loadOnlyWeights).
  std::vector<bool> loadOnly;
  /// residentClusters by kernel index; 0 where not asked yet.
  std::vector<unsigned> clustersResident;
  /// LLAMAC_CUDA_PERSISTENT_BLOCKS: when positive, a persistent kernel
  /// launches at most this many blocks, so that on any GPU each walks
  /// several tiles (test/gpu/check.sh); 0 leaves it to the SMs.
  int persistentBlockCap = 0;
  std::vector<KernelTime> kernelTimes;
  /// Start and end events of each launch of a profiled call.
  std::vector<cu::Event> events;
  std::vector<uint8_t> staging;
  int captures = 0;
  int64_t replays = 0;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDASESSION_H
