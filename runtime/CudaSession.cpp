//===- CudaSession.cpp - Runs an artifact's entries on a GPU --------------===//

#include "runtime/CudaSession.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/ArtifactVerifier.h"
#include "runtime/CallCheck.h"
#include "runtime/HalfFloat.h"
#include "runtime/Tensor.h"
#include "runtime/WeightBinding.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

/// grid[i] = gridBase[i] + ceil(rows / rowsPerBlock[i]) (ArtifactSpec.h);
/// for a persistent kernel, that many tiles shared by at most the blocks
/// that `multiprocessors` SMs hold at once (`resident` clusters of
/// `cluster` blocks, where `cluster` is above 1), and at most `cap` if
/// positive (rounded up to a whole cluster).
void gridFor(const LaunchGeometry &g, int64_t rows, int multiprocessors,
             int cap, unsigned cluster, unsigned resident, unsigned grid[3]) {
  uint64_t tiles = 1;
  for (int i = 0; i < 3; ++i) {
    uint64_t size = g.gridBase[i];
    if (g.rowsPerBlock[i] > 0)
      size += (uint64_t(rows) + g.rowsPerBlock[i] - 1) / g.rowsPerBlock[i];
    grid[i] = unsigned(size);
    tiles *= size;
  }
  if (g.persistentBlocksPerSm == 0 || multiprocessors <= 0)
    return;
  if (cluster > 1) {
    uint64_t clusters = resident;
    if (cap > 0)
      clusters = std::min(clusters, std::max<uint64_t>(1, cap / cluster));
    clusters = std::min(clusters, (tiles + cluster - 1) / cluster);
    grid[0] = unsigned(clusters * cluster);
    grid[1] = grid[2] = 1;
    return;
  }
  uint64_t blocks =
      uint64_t(g.persistentBlocksPerSm) * uint64_t(multiprocessors);
  if (cap > 0)
    blocks = std::min(blocks, uint64_t(cap));
  grid[0] = unsigned(std::min(tiles, blocks));
  grid[1] = grid[2] = 1;
}

/// How launchKernel launched, for its failures: the options that chose it,
/// and the flags that turn them off.
std::string launchMethod(bool programmatic, unsigned cluster) {
  if (!programmatic && cluster <= 1)
    return "cuLaunchKernel";
  std::string method = "cuLaunchKernelEx (";
  if (programmatic)
    method += "programmatic dependent launch; llama-run --no-pdl launches "
              "without it";
  if (programmatic && cluster > 1)
    method += "; ";
  if (cluster > 1)
    method += "clusters; llama-run --no-clusters launches without them";
  return method + ")";
}

void toF32(ElementType type, const uint8_t *raw, int64_t count, float *out) {
  switch (type) {
  case ElementType::F32:
    std::memcpy(out, raw, size_t(count) * 4);
    return;
  case ElementType::F16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = f16ToF32(reinterpret_cast<const uint16_t *>(raw)[i]);
    return;
  case ElementType::BF16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = bf16ToF32(reinterpret_cast<const uint16_t *>(raw)[i]);
    return;
  case ElementType::I32:
    for (int64_t i = 0; i < count; ++i)
      out[i] = float(reinterpret_cast<const int32_t *>(raw)[i]);
    return;
  }
}

} // namespace

Status CudaSession::fail(const std::string &message) const {
  return Status::error(options.origin + ": " + message);
}

Status CudaSession::check(cu::Result result, const std::string &what) const {
  if (result == cu::kSuccess)
    return {};
  return fail(what + ": " + device->driver().describe(result));
}

StatusOr<std::unique_ptr<CudaSession>>
CudaSession::create(ArtifactSpec spec, WeightSource &weights,
                    CudaSessionOptions options) {
  LLAMAC_RETURN_IF_ERROR(verifyArtifact(spec, options.origin));
  if (!findBinary(spec, "cuda"))
    return Status::error(options.origin +
                         ": has no cuda binaries; recompile with "
                         "--target=cuda, or run it with --device cpu");
  std::unique_ptr<CudaSession> session(new CudaSession());
  session->artifact = std::move(spec);
  session->options = std::move(options);
  session->profiling = session->options.profile;
  session->kernelTimes.assign(session->artifact.kernels.size(), {});

  StatusOr<std::unique_ptr<CudaDevice>> device =
      CudaDevice::open(session->options.deviceOrdinal);
  if (!device.ok())
    return Status::error(session->options.origin + ": " + device.message());
  session->device = std::move(device).value();
  StatusOr<std::unique_ptr<CudaKernelLibrary>> library =
      CudaKernelLibrary::load(*session->device, session->artifact,
                              session->options.origin, session->options.code,
                              session->options.portableKernels);
  if (!library.ok())
    return library.status();
  session->kernels = std::move(library).value();

  if (const char *cap = std::getenv("LLAMAC_CUDA_PERSISTENT_BLOCKS");
      cap && *cap) {
    char *end = nullptr;
    const long blocks = std::strtol(cap, &end, 10);
    if (*end != '\0' || blocks < 1 || blocks > (1L << 30))
      return Status::error(std::string("LLAMAC_CUDA_PERSISTENT_BLOCKS=") + cap +
                           ": expected a positive number of blocks");
    session->persistentBlockCap = int(blocks);
  }
  const CudaDriver &driver = session->device->driver();
  session->programmatic =
      session->options.programmaticLaunch && session->device->sm().major >= 9 &&
      driver.hasLaunchEx() && session->kernels->waitsForPreviousKernel();
  session->clusters = session->options.clusters &&
                      session->device->sm().major >= 9 && driver.hasLaunchEx();
  session->clustersResident.assign(session->artifact.kernels.size(), 0);
  // A blocking stream: the synchronous copies and memsets of creation and
  // resetCaches run on the legacy default stream, which orders them before
  // this stream's later work.
  LLAMAC_RETURN_IF_ERROR(session->check(
      driver.cuStreamCreate(&session->stream, 0), "cuStreamCreate"));
  LLAMAC_RETURN_IF_ERROR(session->allocate());
  LLAMAC_RETURN_IF_ERROR(session->bindWeights(weights));
  LLAMAC_RETURN_IF_ERROR(session->prepareEntries());

  LLAMAC_RETURN_IF_ERROR(session->runLoad(weights));
  return session;
}

CudaSession::~CudaSession() {
  if (!device)
    return;
  const CudaDriver &driver = device->driver();
  (void)device->makeCurrent();
  if (stream)
    (void)driver.cuStreamSynchronize(stream);
  for (cu::Event event : events)
    (void)driver.cuEventDestroy(event);
  for (Entry &entry : entries)
    if (entry.graph)
      (void)driver.cuGraphExecDestroy(entry.graph);
  for (cu::DevicePtr pointer : allocations)
    (void)driver.cuMemFree(pointer);
  if (stream)
    (void)driver.cuStreamDestroy(stream);
}

std::string CudaSession::describe() const {
  std::string graphs = !options.graphs ? "launched one by one (graphs off)"
                       : device->driver().hasGraphs()
                           ? "repeated calls replayed as CUDA graphs"
                           : "launched one by one (the driver lacks graphs)";
  std::string overlap =
      programmatic ? ", kernels launched while the previous one drains "
                     "(programmatic dependent launch)"
                   : "";
  unsigned clustered = 0;
  for (size_t k = 0; k < artifact.kernels.size(); ++k)
    clustered += clusterBlocks(uint32_t(k)) > 1;
  std::string cluster =
      clustered ? ", " + std::to_string(clustered) +
                      " kernel(s) launched in clusters that share tiles"
                : "";
  return "cuda " + device->describe() + ", " + kernels->choice() + ", " +
         graphs + overlap + cluster;
}

Status CudaSession::allocateBytes(uint64_t bytes, const std::string &what,
                                  cu::DevicePtr *pointer) {
  // cuMemAlloc aligns to at least 256 bytes, beyond the 64 kernels assume.
  const cu::Result result = device->driver().cuMemAlloc(
      pointer, size_t(std::max<uint64_t>(bytes, 1)));
  if (result != cu::kSuccess) {
    Status status =
        check(result, what + ": cuMemAlloc of " + formatBytes(bytes));
    if (result != cu::kErrorOutOfMemory || memoryNeed.empty())
      return status;
    return Status::error(status.message() + "; the session needs " +
                         memoryNeed + " of GPU memory in all");
  }
  allocations.push_back(*pointer);
  return {};
}

Status CudaSession::allocate() {
  const CudaDriver &driver = device->driver();
  const size_t numBuffers = artifact.buffers.size();
  addresses.assign(numBuffers, 0);
  capacities.assign(numBuffers, 0);
  std::vector<BufferUse> uses = bufferUses(artifact);
  loadOnly = loadOnlyWeights(artifact);
  const MemoryPlan plan = memoryPlan(artifact, uses);
  memoryNeed = plan.describe();
  // Refuse up front what cannot fit, rather than after gigabytes of
  // allocations, with the whole need instead of the one buffer that failed.
  size_t freeBytes = 0, totalBytes = 0;
  if (driver.cuMemGetInfo &&
      driver.cuMemGetInfo(&freeBytes, &totalBytes) == cu::kSuccess &&
      plan.peak() > freeBytes)
    return fail("the session needs " + memoryNeed +
                " of GPU memory, but the GPU has " + formatBytes(freeBytes) +
                " free of " + formatBytes(totalBytes) +
                "; compile a smaller model, or a shorter --max-seq or "
                "smaller --batch for smaller caches and activations");

  LLAMAC_RETURN_IF_ERROR(
      allocateBytes(sizeof(hostPosition), "the position", &livePosition));
  LLAMAC_RETURN_IF_ERROR(
      check(driver.cuMemsetD8(livePosition, 0, sizeof(hostPosition)),
            "the position: cuMemsetD8"));

  std::vector<cu::DevicePtr> arenas(artifact.entries.size(), 0);
  entries.resize(artifact.entries.size());
  for (size_t e = 0; e < artifact.entries.size(); ++e) {
    const EntrySpec &entry = artifact.entries[e];
    LLAMAC_RETURN_IF_ERROR(allocateBytes(entry.arenaBytes,
                                         "entries[" + std::to_string(e) +
                                             "] '" + entry.name + "': arena",
                                         &arenas[e]));
    entries[e].outputs.resize(entry.outputs.size());
  }

  for (size_t id = 0; id < numBuffers; ++id) {
    const BufferSpec &buffer = artifact.buffers[id];
    if (buffer.kind == BufferKind::Activation) {
      // Verified: an activation belongs to one entry and fits its arena.
      if (uses[id].owner >= 0) {
        addresses[id] = arenas[size_t(uses[id].owner)] + buffer.arenaOffset;
        capacities[id] = bufferBytes(
            buffer, entryMaxSeq(artifact.entries[size_t(uses[id].owner)]));
      }
      continue;
    }
    uint64_t bytes = bufferBytes(buffer, uses[id].longestCall);
    capacities[id] = bytes;
    if (loadOnly[id])
      continue; // allocated by runLoad
    const std::string what = bufferLabel(artifact, uint32_t(id));
    LLAMAC_RETURN_IF_ERROR(allocateBytes(bytes, what, &addresses[id]));
    // Caches start zeroed; packed buffers and inputs too, so that nothing
    // reads uninitialized memory even if an entry reads before writing.
    if (buffer.kind != BufferKind::Weight)
      LLAMAC_RETURN_IF_ERROR(
          check(driver.cuMemsetD8(addresses[id], 0, size_t(bytes)),
                what + ": cuMemsetD8"));
  }
  return {};
}

Status CudaSession::bindWeights(WeightSource &weights) {
  std::vector<uint32_t> ids;
  for (size_t id = 0; id < artifact.buffers.size(); ++id)
    if (artifact.buffers[id].kind == BufferKind::Weight && !loadOnly[id])
      ids.push_back(uint32_t(id));
  Status bound = bindWeightBuffers(weights, ids);
  staging.clear();
  staging.shrink_to_fit();
  return bound;
}

Status CudaSession::bindWeightBuffers(WeightSource &weights,
                                      const std::vector<uint32_t> &ids) {
  const CudaDriver &driver = device->driver();
  std::vector<uint32_t> generated;
  std::vector<LlamaRandomFill> fills;
  for (uint32_t id : ids) {
    const BufferSpec &buffer = artifact.buffers[id];
    if (std::optional<LlamaRandomFill> fill =
            weights.randomFill(buffer.name, buffer.shape)) {
      generated.push_back(uint32_t(id));
      fills.push_back(*fill);
      continue;
    }
    // Read from a file: converted on the host (as the cpu session does),
    // then uploaded.
    uint64_t bytes = bufferBytes(buffer, 1);
    staging.resize(size_t(bytes));
    LLAMAC_RETURN_IF_ERROR(
        bindWeight(artifact.config, buffer, weights, staging.data()));
    LLAMAC_RETURN_IF_ERROR(
        check(driver.cuMemcpyHtoD(addresses[id], staging.data(), size_t(bytes)),
              bufferLabel(artifact, id) + ": cuMemcpyHtoD"));
  }
  return fillRandomWeights(generated, fills);
}

void CudaSession::freeAllocation(cu::DevicePtr pointer) {
  auto at = std::find(allocations.begin(), allocations.end(), pointer);
  if (at == allocations.end())
    return;
  (void)device->driver().cuMemFree(pointer);
  allocations.erase(at);
}

Status CudaSession::runLoad(WeightSource &weights) {
  Status loaded =
      runLoadEntry(artifact, options.origin, [&](int entry, int64_t seq) {
        return runLoadStreamed(entry, seq, weights);
      });
  staging.clear();
  staging.shrink_to_fit();
  return loaded;
}

Status CudaSession::runLoadStreamed(int entryId, int64_t seq,
                                    WeightSource &weights) {
  if (std::none_of(loadOnly.begin(), loadOnly.end(), [](bool b) { return b; }))
    return run(entryId, {}, 0, seq);
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  Entry &entry = entries[size_t(entryId)];
  // The entry runs one launch at a time; its launches are put back once
  // done, with the freed weights' addresses cleared.
  std::vector<Launch> launches = std::move(entry.launches);
  auto acquire = [&](size_t l, const std::vector<uint32_t> &arriving) {
    for (uint32_t id : arriving)
      LLAMAC_RETURN_IF_ERROR(allocateBytes(
          capacities[id], bufferLabel(artifact, id), &addresses[id]));
    LLAMAC_RETURN_IF_ERROR(bindWeightBuffers(weights, arriving));
    const std::vector<uint32_t> &buffers = spec.launches[l].buffers;
    for (size_t k = 0; k < buffers.size(); ++k)
      if (loadOnly[buffers[k]])
        launches[l].args.buffers[k] =
            reinterpret_cast<void *>(uintptr_t(addresses[buffers[k]]));
    return Status();
  };
  auto launch = [&](size_t l) {
    entry.launches = {launches[l]};
    return run(entryId, {}, 0, seq); // waits for the launch
  };
  auto release = [&](const std::vector<uint32_t> &leaving) {
    for (uint32_t id : leaving) {
      freeAllocation(addresses[id]);
      addresses[id] = 0;
    }
  };
  Status status = runLoadLaunches(artifact, loadOnly, acquire, launch, release);
  for (size_t l = 0; l < launches.size(); ++l)
    for (size_t k = 0; k < spec.launches[l].buffers.size(); ++k)
      if (loadOnly[spec.launches[l].buffers[k]])
        launches[l].args.buffers[k] = nullptr; // freed
  entry.launches = std::move(launches);
  return status;
}

Status
CudaSession::fillRandomWeights(const std::vector<uint32_t> &ids,
                               const std::vector<LlamaRandomFill> &fills) {
  if (ids.empty())
    return {};
  const CudaDriver &driver = device->driver();
  // One upload of every tensor's rule; each launch reads its own.
  cu::DevicePtr rules = 0;
  size_t rulesBytes = fills.size() * sizeof(LlamaRandomFill);
  LLAMAC_RETURN_IF_ERROR(
      allocateBytes(rulesBytes, "random weight rules", &rules));
  LLAMAC_RETURN_IF_ERROR(
      check(driver.cuMemcpyHtoD(rules, fills.data(), rulesBytes),
            "random weight rules: cuMemcpyHtoD"));
  constexpr unsigned kThreads = 256, kMaxBlocks = 1024;
  for (size_t i = 0; i < ids.size(); ++i) {
    const BufferSpec &buffer = artifact.buffers[ids[i]];
    std::string what =
        bufferLabel(artifact, ids[i]) + " (" + toString(buffer.type) + ")";
    if (buffer.type == ElementType::I32)
      return fail(what + ": random weights must be floating point");
    StatusOr<cu::Function> fill = kernels->exported(
        std::string("llama_fill_random_") + toString(buffer.type));
    if (!fill.ok())
      return fill.status();
    LlamaGpuArgs args{};
    args.buffers[0] = reinterpret_cast<void *>(addresses[ids[i]]);
    args.buffers[1] =
        reinterpret_cast<void *>(rules + i * sizeof(LlamaRandomFill));
    void *params[] = {&args};
    uint64_t blocks = (uint64_t(fills[i].count) + kThreads - 1) / kThreads;
    unsigned grid = unsigned(std::clamp<uint64_t>(blocks, 1, kMaxBlocks));
    LLAMAC_RETURN_IF_ERROR(
        check(driver.cuLaunchKernel(*fill, grid, 1, 1, kThreads, 1, 1, 0,
                                    stream, params, nullptr),
              what + ": filling random weights: cuLaunchKernel"));
  }
  LLAMAC_RETURN_IF_ERROR(check(driver.cuStreamSynchronize(stream),
                               "filling random weights: cuStreamSynchronize"));
  freeAllocation(rules);
  return {};
}

Status CudaSession::encodeTensorMap(const TensorMapSpec &map, uint32_t id,
                                    const std::string &what,
                                    LlamaGpuTensorMap *out) {
  const BufferSpec &buffer = artifact.buffers[id];
  int dataType = 0;
  switch (buffer.type) {
  case ElementType::F32:
    dataType = cu::kTensorMapDataTypeF32;
    break;
  case ElementType::F16:
    dataType = cu::kTensorMapDataTypeF16;
    break;
  case ElementType::BF16:
    dataType = cu::kTensorMapDataTypeBf16;
    break;
  case ElementType::I32: // refused by the verifier
    return fail(what + ": " + bufferLabel(artifact, id) +
                " is i32, which no tensor map reads");
  }
  // Verified: a static last dimension of whole 16-byte rows.
  const uint64_t inner = uint64_t(buffer.shape.back());
  const uint64_t rowBytes = inner * elementBytes(buffer.type);
  const unsigned long long dims[2] = {inner, capacities[id] / rowBytes};
  const unsigned long long strides[1] = {rowBytes};
  const unsigned box[2] = {map.boxInner, map.boxRows};
  const unsigned elementStrides[2] = {1, 1};
  cu::TensorMap encoded;
  cu::Result result = device->driver().cuTensorMapEncodeTiled(
      &encoded, dataType, 2, reinterpret_cast<void *>(uintptr_t(addresses[id])),
      dims, strides, box, elementStrides, cu::kTensorMapInterleaveNone,
      map.swizzleBytes == 128 ? cu::kTensorMapSwizzle128B
                              : cu::kTensorMapSwizzleNone,
      cu::kTensorMapL2Promotion256B, cu::kTensorMapOobFillZeros);
  if (result != cu::kSuccess)
    return fail(
        what + " over " + bufferLabel(artifact, id) + " (" +
        std::to_string(dims[1]) + " rows of " + std::to_string(inner) + " " +
        toString(buffer.type) + ", boxes of " + std::to_string(map.boxRows) +
        " x " + std::to_string(map.boxInner) +
        "): cuTensorMapEncodeTiled: " + device->driver().describe(result));
  static_assert(sizeof(encoded) == sizeof(*out), "CUtensorMap is 128 bytes");
  std::memcpy(out, &encoded, sizeof(encoded));
  return {};
}

Status CudaSession::prepareEntries() {
  const CudaDriver &driver = device->driver();
  std::vector<void *> table;
  for (size_t e = 0; e < artifact.entries.size(); ++e) {
    const EntrySpec &entry = artifact.entries[e];
    for (size_t l = 0; l < entry.launches.size(); ++l) {
      const LaunchSpec &spec = entry.launches[l];
      Launch launch{kernels->kernel(spec.kernel), spec.kernel, {}};
      launch.args.livePosition =
          reinterpret_cast<const int32_t *>(uintptr_t(livePosition));
      table.clear();
      for (uint32_t id : spec.buffers)
        table.push_back(reinterpret_cast<void *>(uintptr_t(addresses[id])));
      if (table.size() <= LLAMA_MAX_KERNEL_BUFFERS) {
        std::copy(table.begin(), table.end(), launch.args.buffers);
      } else {
        // Addresses never change after allocate(), so the table is written
        // once, before any launch or graph capture (KernelAbi.h). The
        // synchronous copy runs on the legacy default stream, which orders
        // it before the session's blocking stream.
        const std::string what =
            "entries[" + std::to_string(e) + "] '" + entry.name +
            "': launches[" + std::to_string(l) + "] (kernel '" +
            artifact.kernels[spec.kernel].symbol + "'): table of " +
            std::to_string(table.size()) + " buffer addresses";
        const size_t bytes = table.size() * sizeof(void *);
        cu::DevicePtr pointer = 0;
        LLAMAC_RETURN_IF_ERROR(allocateBytes(bytes, what, &pointer));
        LLAMAC_RETURN_IF_ERROR(
            check(driver.cuMemcpyHtoD(pointer, table.data(), bytes),
                  what + ": cuMemcpyHtoD"));
        launch.args.buffers[0] = reinterpret_cast<void *>(uintptr_t(pointer));
      }
      const KernelSpec &kernel = artifact.kernels[spec.kernel];
      for (size_t i = 0; i < kernel.tensorMaps.size(); ++i)
        LLAMAC_RETURN_IF_ERROR(encodeTensorMap(
            kernel.tensorMaps[i], spec.buffers[kernel.tensorMaps[i].operand],
            "entries[" + std::to_string(e) + "] '" + entry.name +
                "': launches[" + std::to_string(l) + "] (kernel '" +
                kernel.symbol + "'): tensor_maps[" + std::to_string(i) + "]",
            &launch.args.tensorMaps[i]));
      entries[e].launches.push_back(launch);
    }
  }
  return {};
}

unsigned CudaSession::clusterBlocks(uint32_t index) const {
  const unsigned blocks = kernels->geometry(index).clusterBlocks;
  return clusters && blocks > 1 ? blocks : 1;
}

StatusOr<unsigned> CudaSession::residentClusters(const Launch &launch,
                                                 unsigned cluster) {
  unsigned &resident = clustersResident[launch.kernelIndex];
  if (resident != 0)
    return resident;
  const LaunchGeometry &g = kernels->geometry(launch.kernelIndex);
  const uint64_t blocks = uint64_t(g.persistentBlocksPerSm) *
                          uint64_t(device->multiprocessorCount());
  resident = unsigned(std::max<uint64_t>(1, blocks / cluster));
  const CudaDriver &driver = device->driver();
  if (!driver.cuOccupancyMaxActiveClusters)
    return resident;
  // A cluster's blocks share one GPU processing cluster, whose SM count
  // need not be a multiple of the cluster's: the driver knows how many fit.
  cu::LaunchAttribute shape{};
  shape.id = cu::kLaunchAttributeClusterDimension;
  shape.value.clusterDim = {cluster, 1, 1};
  cu::LaunchConfig config{};
  config.gridDimX = cluster;
  config.gridDimY = config.gridDimZ = 1;
  config.blockDimX = g.block[0];
  config.blockDimY = g.block[1];
  config.blockDimZ = g.block[2];
  config.sharedMemBytes = g.sharedBytes;
  config.hStream = stream;
  config.attrs = &shape;
  config.numAttrs = 1;
  int count = 0;
  LLAMAC_RETURN_IF_ERROR(check(
      driver.cuOccupancyMaxActiveClusters(&count, launch.function, &config),
      "kernel '" + artifact.kernels[launch.kernelIndex].symbol +
          "': cuOccupancyMaxActiveClusters (clusters of " +
          std::to_string(cluster) +
          " blocks; llama-run --no-clusters launches without them)"));
  if (count < 1)
    return fail("kernel '" + artifact.kernels[launch.kernelIndex].symbol +
                "': no cluster of " + std::to_string(cluster) + " blocks of " +
                std::to_string(g.sharedBytes) +
                " bytes of shared memory fits this GPU (llama-run "
                "--no-clusters launches without them)");
  resident = unsigned(count);
  return resident;
}

cu::Result CudaSession::launchKernel(cu::Function function,
                                     const unsigned grid[3],
                                     const LaunchGeometry &g, unsigned cluster,
                                     void **params) {
  const CudaDriver &driver = device->driver();
  if (!programmatic && cluster <= 1)
    return driver.cuLaunchKernel(function, grid[0], grid[1], grid[2],
                                 g.block[0], g.block[1], g.block[2],
                                 g.sharedBytes, stream, params, nullptr);
  cu::LaunchAttribute attributes[2]{};
  unsigned count = 0;
  if (programmatic) {
    attributes[count].id = cu::kLaunchAttributeProgrammaticStreamSerialization;
    attributes[count++].value.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster > 1) {
    attributes[count].id = cu::kLaunchAttributeClusterDimension;
    attributes[count++].value.clusterDim = {cluster, 1, 1};
  }
  cu::LaunchConfig config{};
  config.gridDimX = grid[0];
  config.gridDimY = grid[1];
  config.gridDimZ = grid[2];
  config.blockDimX = g.block[0];
  config.blockDimY = g.block[1];
  config.blockDimZ = g.block[2];
  config.sharedMemBytes = g.sharedBytes;
  config.hStream = stream;
  config.attrs = attributes;
  config.numAttrs = count;
  return driver.cuLaunchKernelEx(&config, function, params, nullptr);
}

Status CudaSession::launchAll(Entry &entry, const EntrySpec &spec,
                              int64_t seq) {
  const CudaDriver &driver = device->driver();
  // context.position is for the record only: kernels read livePosition.
  const LlamaKernelContext context{spec.batch, seq, hostPosition, 1};
  const int64_t rows = spec.batch * seq;
  if (profiling && events.size() < 2 * entry.launches.size()) {
    while (events.size() < 2 * entry.launches.size()) {
      cu::Event event = nullptr;
      LLAMAC_RETURN_IF_ERROR(check(
          driver.cuEventCreate(&event, cu::kEventDefault), "cuEventCreate"));
      events.push_back(event);
    }
  }
  for (size_t l = 0; l < entry.launches.size(); ++l) {
    Launch &launch = entry.launches[l];
    launch.args.context = context;
    const LaunchGeometry &g = kernels->geometry(launch.kernelIndex);
    const unsigned cluster = clusterBlocks(launch.kernelIndex);
    unsigned resident = 0;
    if (cluster > 1 && g.persistentBlocksPerSm > 0) {
      StatusOr<unsigned> clusters = residentClusters(launch, cluster);
      if (!clusters.ok())
        return clusters.status();
      resident = *clusters;
    }
    unsigned grid[3];
    gridFor(g, rows, device->multiprocessorCount(), persistentBlockCap, cluster,
            resident, grid);
    void *params[] = {&launch.args};
    if (profiling)
      LLAMAC_RETURN_IF_ERROR(
          check(driver.cuEventRecord(events[2 * l], stream), "cuEventRecord"));
    cu::Result result = launchKernel(launch.function, grid, g, cluster, params);
    if (result != cu::kSuccess)
      return fail("entry '" + spec.name + "': launches[" + std::to_string(l) +
                  "] kernel '" + artifact.kernels[launch.kernelIndex].symbol +
                  "' (grid " + std::to_string(grid[0]) + "x" +
                  std::to_string(grid[1]) + "x" + std::to_string(grid[2]) +
                  ", block " + std::to_string(g.block[0]) + "x" +
                  std::to_string(g.block[1]) + "x" +
                  std::to_string(g.block[2]) +
                  (cluster > 1 ? ", clusters of " + std::to_string(cluster)
                               : std::string()) +
                  "): " + launchMethod(programmatic, cluster) + ": " +
                  driver.describe(result));
    if (profiling)
      LLAMAC_RETURN_IF_ERROR(check(
          driver.cuEventRecord(events[2 * l + 1], stream), "cuEventRecord"));
  }
  return {};
}

Status CudaSession::captureGraph(Entry &entry, const EntrySpec &spec,
                                 int64_t seq) {
  const CudaDriver &driver = device->driver();
  const std::string what = "entry '" + spec.name + "': ";
  const std::string hint =
      " (llama-run --no-cuda-graphs launches the kernels directly)";
  LLAMAC_RETURN_IF_ERROR(check(
      driver.cuStreamBeginCapture(stream, cu::kStreamCaptureModeThreadLocal),
      what + "cuStreamBeginCapture" + hint));
  Status launched = launchAll(entry, spec, seq);
  cu::Graph graph = nullptr;
  // Capture must end even after a failed launch, or the stream stays in
  // capture mode.
  Status ended = check(driver.cuStreamEndCapture(stream, &graph),
                       what + "cuStreamEndCapture" + hint);
  if (!launched.ok() || !ended.ok()) {
    if (graph)
      (void)driver.cuGraphDestroy(graph);
    return launched.ok() ? ended : launched;
  }
  cu::GraphExec exec = nullptr;
  Status instantiated =
      check(driver.cuGraphInstantiateWithFlags(&exec, graph, 0),
            what + "cuGraphInstantiateWithFlags" + hint);
  (void)driver.cuGraphDestroy(graph);
  LLAMAC_RETURN_IF_ERROR(instantiated);
  if (entry.graph)
    (void)driver.cuGraphExecDestroy(entry.graph);
  entry.graph = exec;
  entry.graphSeq = seq;
  ++captures;
  return {};
}

Status CudaSession::launchCall(Entry &entry, const EntrySpec &spec,
                               int64_t seq) {
  const CudaDriver &driver = device->driver();
  const int64_t previous = entry.previousSeq;
  entry.previousSeq = seq;
  // The load entry runs once; profiling needs an event around each launch.
  bool graphs = options.graphs && !profiling && driver.hasGraphs() &&
                spec.name != "load";
  if (!graphs)
    return launchAll(entry, spec, seq);
  if (!entry.graph || entry.graphSeq != seq) {
    // A new shape: launch directly unless it repeats the last call's.
    if (seq != previous)
      return launchAll(entry, spec, seq);
    LLAMAC_RETURN_IF_ERROR(captureGraph(entry, spec, seq));
  }
  ++replays;
  return check(driver.cuGraphLaunch(entry.graph, stream),
               "entry '" + spec.name + "': cuGraphLaunch");
}

Status CudaSession::run(int entryId, const std::vector<InputData> &inputs,
                        int32_t position, int64_t seq) {
  LLAMAC_RETURN_IF_ERROR(
      checkCall(artifact, options.origin, entryId, inputs, position, seq));
  const CudaDriver &driver = device->driver();
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  Entry &entry = entries[size_t(entryId)];
  LLAMAC_RETURN_IF_ERROR(device->makeCurrent());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].bytes)
      LLAMAC_RETURN_IF_ERROR(check(
          driver.cuMemcpyHtoDAsync(addresses[spec.inputs[i]], inputs[i].data,
                                   inputs[i].bytes, stream),
          "entry '" + spec.name + "': input " + std::to_string(i) +
              ": cuMemcpyHtoDAsync"));
  hostPosition = position;
  LLAMAC_RETURN_IF_ERROR(check(
      driver.cuMemcpyHtoDAsync(livePosition, &hostPosition,
                               sizeof(hostPosition), stream),
      "entry '" + spec.name + "': the position: cuMemcpyHtoDAsync"));
  // The outputs of the previous call are stale whatever happens next.
  entry.lastSeq = 0;
  Status launched = launchCall(entry, spec, seq);
  // Wait even after a failed launch, so that no kernel still runs when the
  // caller reuses the inputs or frees the session.
  Status finished = check(driver.cuStreamSynchronize(stream),
                          "entry '" + spec.name + "': cuStreamSynchronize");
  LLAMAC_RETURN_IF_ERROR(launched);
  LLAMAC_RETURN_IF_ERROR(finished);
  entry.lastSeq = seq;

  if (profiling) {
    for (size_t l = 0; l < entry.launches.size(); ++l) {
      float milliseconds = 0;
      LLAMAC_RETURN_IF_ERROR(
          check(driver.cuEventElapsedTime(&milliseconds, events[2 * l],
                                          events[2 * l + 1]),
                "cuEventElapsedTime"));
      KernelTime &time = kernelTimes[entry.launches[l].kernelIndex];
      ++time.calls;
      time.nanoseconds += uint64_t(double(milliseconds) * 1e6);
    }
  }
  return {};
}

std::vector<int64_t> CudaSession::outputShape(int entryId, size_t index) const {
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  return resolveShape(artifact.buffers[spec.outputs[index]],
                      std::max<int64_t>(entries[size_t(entryId)].lastSeq, 1));
}

StatusOr<const float *> CudaSession::copyOutput(int entryId, size_t index,
                                                int64_t firstRow,
                                                int64_t rows) {
  const EntrySpec &spec = artifact.entries[size_t(entryId)];
  if (entries[size_t(entryId)].lastSeq == 0)
    return fail("entry '" + spec.name +
                "': outputs read before a successful run");
  const BufferSpec &buffer = artifact.buffers[spec.outputs[index]];
  std::vector<int64_t> shape = outputShape(entryId, index);
  int64_t width = shape.empty() ? 1 : shape.back();
  size_t elementSize = elementBytes(buffer.type);
  size_t count = size_t(rows * width);
  staging.resize(count * elementSize);
  cu::DevicePtr source =
      addresses[spec.outputs[index]] + uint64_t(firstRow * width) * elementSize;
  LLAMAC_RETURN_IF_ERROR(device->makeCurrent());
  LLAMAC_RETURN_IF_ERROR(check(
      device->driver().cuMemcpyDtoH(staging.data(), source, staging.size()),
      "entry '" + spec.name + "': output " + std::to_string(index) +
          ": cuMemcpyDtoH"));
  std::vector<float> &copy = entries[size_t(entryId)].outputs[index];
  copy.resize(count);
  toF32(buffer.type, staging.data(), int64_t(count), copy.data());
  return static_cast<const float *>(copy.data());
}

StatusOr<const float *> CudaSession::outputF32(int entryId, size_t index) {
  std::vector<int64_t> shape = outputShape(entryId, index);
  int64_t width = shape.empty() ? 1 : shape.back();
  return copyOutput(entryId, index, 0, numElements(shape) / width);
}

StatusOr<const float *> CudaSession::lastTokenLogits(int entryId) {
  std::vector<int64_t> shape = outputShape(entryId, 0);
  int64_t width = shape.empty() ? 1 : shape.back();
  return copyOutput(entryId, 0, numElements(shape) / width - 1, 1);
}

Status CudaSession::resetCaches() {
  const CudaDriver &driver = device->driver();
  LLAMAC_RETURN_IF_ERROR(device->makeCurrent());
  std::vector<BufferUse> uses = bufferUses(artifact);
  for (size_t id = 0; id < artifact.buffers.size(); ++id) {
    const BufferSpec &buffer = artifact.buffers[id];
    if (buffer.kind == BufferKind::Cache)
      LLAMAC_RETURN_IF_ERROR(check(
          driver.cuMemsetD8(addresses[id], 0,
                            size_t(bufferBytes(buffer, uses[id].longestCall))),
          bufferLabel(artifact, id) + ": cuMemsetD8"));
  }
  return {};
}

Status CudaSession::copyPersistentOut(uint32_t id, void *host, size_t bytes) {
  LLAMAC_RETURN_IF_ERROR(
      checkPersistentCopy(artifact, options.origin, loadOnly, id, bytes));
  LLAMAC_RETURN_IF_ERROR(device->makeCurrent());
  // Synchronous on the legacy default stream: it waits for the session's
  // blocking stream, so it sees every finished call's updates.
  return check(device->driver().cuMemcpyDtoH(host, addresses[id], bytes),
               bufferLabel(artifact, id) + ": cuMemcpyDtoH");
}

Status CudaSession::copyPersistentIn(uint32_t id, const void *host,
                                     size_t bytes) {
  LLAMAC_RETURN_IF_ERROR(
      checkPersistentCopy(artifact, options.origin, loadOnly, id, bytes));
  LLAMAC_RETURN_IF_ERROR(device->makeCurrent());
  // The address is unchanged, so captured graphs stay valid.
  return check(device->driver().cuMemcpyHtoD(addresses[id], host, bytes),
               bufferLabel(artifact, id) + ": cuMemcpyHtoD");
}

void CudaSession::clearProfile() {
  kernelTimes.assign(artifact.kernels.size(), {});
}
