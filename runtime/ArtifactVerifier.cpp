//===- ArtifactVerifier.cpp - Semantic checks of an artifact --------------===//

#include "runtime/ArtifactVerifier.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/KernelAbi.h"
#include "runtime/Tensor.h"

#include <map>
#include <set>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

/// Activations must start on a cache line; kernels vectorize on that.
constexpr uint64_t kArenaAlignment = 64;

/// Launch limits every CUDA GPU since sm_30 accepts, checked here so that a
/// bad geometry is a message at load time, not CUDA_ERROR_INVALID_VALUE in
/// the middle of a call. Past 48 KiB of shared memory a kernel must opt in,
/// which the runtime does at load time against the device's own limit
/// (CudaKernels.cpp); 227 KiB is the most any GPU allows.
constexpr uint64_t kMaxThreadsPerBlock = 1024;
constexpr uint32_t kMaxBlockDims[3] = {1024, 1024, 64};
constexpr uint64_t kMaxGridDims[3] = {(uint64_t(1) << 31) - 1, 65535, 65535};
constexpr uint32_t kMaxSharedBytes = 227 * 1024;
/// The most blocks an SM of any sm_80+ GPU holds at once.
constexpr uint32_t kMaxBlocksPerSm = 32;
/// The most blocks a cluster may have on every GPU that has clusters.
constexpr uint32_t kMaxClusterBlocks = 8;

bool hasCudaBinary(const ArtifactSpec &spec) {
  for (const BinarySpec &binary : spec.binaries)
    if (binary.target == "cuda")
      return true;
  return false;
}

std::string dims(const uint32_t (&values)[3]) {
  return "(" + std::to_string(values[0]) + ", " + std::to_string(values[1]) +
         ", " + std::to_string(values[2]) + ")";
}

std::string entryLabel(const ArtifactSpec &spec, size_t index) {
  return "entries[" + std::to_string(index) + "] '" + spec.entries[index].name +
         "'";
}

/// Bytes of `buffer` at `seq`, or 0 when they exceed kMaxBufferBytes (no
/// valid buffer is empty, so 0 cannot be mistaken for a size).
uint64_t checkedBytes(const BufferSpec &buffer, int64_t seq) {
  uint64_t bytes = elementBytes(buffer.type);
  for (int64_t dim : buffer.shape) {
    uint64_t extent = uint64_t(dim == -1 ? seq : dim);
    if (extent != 0 && bytes > kMaxBufferBytes / extent)
      return 0;
    bytes *= extent;
  }
  return bytes > kMaxBufferBytes ? 0 : bytes;
}

class Verifier {
public:
  Verifier(const ArtifactSpec &spec, const std::string &origin)
      : spec(spec), origin(origin), cuda(hasCudaBinary(spec)) {}

  Status run() {
    LLAMAC_RETURN_IF_ERROR(verifyConfig());
    for (uint32_t id = 0; id < spec.buffers.size(); ++id)
      LLAMAC_RETURN_IF_ERROR(verifyBuffer(id));
    for (size_t index = 0; index < spec.kernels.size(); ++index)
      LLAMAC_RETURN_IF_ERROR(verifyKernel(index));
    for (size_t index = 0; index < spec.entries.size(); ++index)
      LLAMAC_RETURN_IF_ERROR(verifyEntry(index));
    for (size_t index = 0; index < spec.binaries.size(); ++index)
      LLAMAC_RETURN_IF_ERROR(verifyBinary(index));
    return {};
  }

private:
  Status fail(const std::string &where, const std::string &reason) const {
    return Status::error(origin + ": " + where + ": " + reason);
  }

  Status verifyConfig() {
    std::string problem = validate(spec.config);
    if (!problem.empty())
      return fail("config", problem);
    return {};
  }

  Status verifyBuffer(uint32_t id) {
    const BufferSpec &buffer = spec.buffers[id];
    std::string label = bufferLabel(spec, id);
    if (buffer.name.empty())
      return fail("buffers[" + std::to_string(id) + "]", "name: empty");
    bool mayBeDynamic = buffer.kind == BufferKind::Input ||
                        buffer.kind == BufferKind::Activation;
    int dynamicDims = 0;
    for (int64_t dim : buffer.shape) {
      if (dim == -1) {
        ++dynamicDims;
        if (!mayBeDynamic)
          return fail(label, "shape " + shapeToString(buffer.shape) +
                                 ": the sequence dimension -1 is allowed "
                                 "only in input and activation buffers, not "
                                 "in a " +
                                 toString(buffer.kind) + " buffer");
      } else if (dim <= 0) {
        return fail(label, "shape " + shapeToString(buffer.shape) +
                               ": dimension " + std::to_string(dim) +
                               " is not positive");
      }
    }
    if (dynamicDims > 1)
      return fail(label, "shape " + shapeToString(buffer.shape) +
                             ": more than one dynamic dimension");
    if (checkedBytes(buffer, spec.config.maxSeqLen) == 0)
      return fail(label, "shape " + shapeToString(buffer.shape) +
                             ": larger than the runtime's limit of " +
                             std::to_string(kMaxBufferBytes) + " bytes");
    if (buffer.kind == BufferKind::State && buffer.type != ElementType::F32)
      return fail(label, "type: optimizer state must be f32, not " +
                             std::string(toString(buffer.type)));
    if (buffer.kind == BufferKind::Weight) {
      if (buffer.type == ElementType::I32)
        return fail(label, "type: a weight must be f32, f16 or bf16, not i32");
      if (!weightNames.insert(buffer.name).second)
        return fail(label, "name: more than one weight buffer binds it");
    }
    if (buffer.kind == BufferKind::Activation &&
        buffer.arenaOffset % kArenaAlignment != 0)
      return fail(label, "arena_offset " + std::to_string(buffer.arenaOffset) +
                             " is not a multiple of " +
                             std::to_string(kArenaAlignment));
    return {};
  }

  Status verifyKernel(size_t index) {
    const KernelSpec &kernel = spec.kernels[index];
    std::string label = "kernels[" + std::to_string(index) + "]";
    if (kernel.symbol.empty())
      return fail(label, "symbol: empty");
    if (!kernelSymbols.insert(kernel.symbol).second)
      return fail(label + " '" + kernel.symbol + "'",
                  "symbol: used by another kernel too");
    label += " '" + kernel.symbol + "'";
    if (!cuda) {
      if (!kernel.tensorMaps.empty())
        return fail(label, "tensor_maps: only a cuda artifact's kernels use "
                           "tensor maps");
      if (kernel.wgmmaGeometry)
        return fail(label, "wgmma_geometry: only a cuda artifact's kernels "
                           "have launch geometries");
      return {};
    }
    LLAMAC_RETURN_IF_ERROR(verifyGeometry(label, "geometry", kernel.geometry));
    if (kernel.wgmmaGeometry)
      LLAMAC_RETURN_IF_ERROR(
          verifyGeometry(label, "wgmma_geometry", *kernel.wgmmaGeometry));
    return verifyTensorMaps(label, kernel.tensorMaps);
  }

  /// What a map's own fields must satisfy (cuTensorMapEncodeTiled's rules
  /// and the layouts the kernels assume); the buffer it covers is checked
  /// per launch (verifyLaunchTensorMaps).
  Status verifyTensorMaps(const std::string &label,
                          const std::vector<TensorMapSpec> &maps) {
    if (maps.size() > LLAMA_MAX_TENSOR_MAPS)
      return fail(label, "tensor_maps: " + std::to_string(maps.size()) +
                             " maps, but a launch passes at most " +
                             std::to_string(LLAMA_MAX_TENSOR_MAPS) +
                             " (LLAMA_MAX_TENSOR_MAPS)");
    for (size_t i = 0; i < maps.size(); ++i) {
      const TensorMapSpec &map = maps[i];
      std::string where = label + ": tensor_maps[" + std::to_string(i) + "]";
      for (auto [name, value] : {std::make_pair("box_inner", map.boxInner),
                                 std::make_pair("box_rows", map.boxRows)})
        if (value < 1 || value > 256)
          return fail(where, std::string(name) + " " + std::to_string(value) +
                                 " is not between 1 and 256");
      if (map.swizzleBytes != 0 && map.swizzleBytes != 128)
        return fail(where, "swizzle_bytes " + std::to_string(map.swizzleBytes) +
                               " is neither 0 nor 128");
    }
    return {};
  }

  /// A launch's tensor maps must name its buffers, in rows the Tensor
  /// Memory Accelerator can address: 16-byte aligned rows and boxes, and
  /// with the 128-byte swizzle, boxes of 128-byte rows.
  Status verifyLaunchTensorMaps(const std::string &where,
                                const KernelSpec &kernel,
                                const LaunchSpec &launch) {
    for (size_t i = 0; i < kernel.tensorMaps.size(); ++i) {
      const TensorMapSpec &map = kernel.tensorMaps[i];
      std::string label = where + ": kernel '" + kernel.symbol +
                          "': tensor_maps[" + std::to_string(i) + "]";
      if (map.operand >= launch.buffers.size())
        return fail(label, "operand " + std::to_string(map.operand) +
                               " out of range (the launch names " +
                               std::to_string(launch.buffers.size()) +
                               " buffers)");
      // The launch's buffer ids were verified before its maps.
      uint32_t id = launch.buffers[map.operand];
      const BufferSpec &buffer = spec.buffers[id];
      uint64_t bytes = elementBytes(buffer.type);
      if (buffer.shape.empty() || buffer.shape.back() < 1)
        return fail(label, bufferLabel(spec, id) + " has no static last "
                                                   "dimension to read rows of");
      if (buffer.type == ElementType::I32)
        return fail(label, bufferLabel(spec, id) +
                               " is i32; tensor maps read f32, f16 or bf16");
      uint64_t rowBytes = uint64_t(buffer.shape.back()) * bytes;
      if (rowBytes % 16 != 0)
        return fail(label, bufferLabel(spec, id) + ": rows of " +
                               std::to_string(rowBytes) +
                               " bytes, not a multiple of 16");
      uint64_t boxBytes = uint64_t(map.boxInner) * bytes;
      if (boxBytes % 16 != 0)
        return fail(label, "box_inner " + std::to_string(map.boxInner) +
                               " of " + toString(buffer.type) + " is " +
                               std::to_string(boxBytes) +
                               " bytes, not a multiple of 16");
      if (map.swizzleBytes != 0 && boxBytes != map.swizzleBytes)
        return fail(label, "box_inner " + std::to_string(map.boxInner) +
                               " of " + toString(buffer.type) + " is " +
                               std::to_string(boxBytes) +
                               " bytes, but swizzle_bytes " +
                               std::to_string(map.swizzleBytes) +
                               " needs rows of exactly that many");
    }
    return {};
  }

  /// The grid's growth with the call is checked per launch, where the
  /// longest call is known (verifyLaunchGrid).
  Status verifyGeometry(const std::string &label, const std::string &field,
                        const LaunchGeometry &g) {
    static const char *const axis[3] = {"x", "y", "z"};
    uint64_t threads = 1;
    for (int i = 0; i < 3; ++i) {
      if (g.block[i] < 1 || g.block[i] > kMaxBlockDims[i])
        return fail(label, field + ": block " + dims(g.block) + ": " + axis[i] +
                               " must be between 1 and " +
                               std::to_string(kMaxBlockDims[i]));
      threads *= g.block[i];
      if (g.gridBase[i] < 1 && g.rowsPerBlock[i] == 0)
        return fail(label, field + ": grid " + axis[i] +
                               " is always 0 (grid_base 0 and "
                               "rows_per_block 0)");
    }
    if (threads > kMaxThreadsPerBlock)
      return fail(label, field + ": block " + dims(g.block) + " has " +
                             std::to_string(threads) +
                             " threads, more than the " +
                             std::to_string(kMaxThreadsPerBlock) +
                             " a CUDA block may have");
    if (g.sharedBytes > kMaxSharedBytes)
      return fail(label, field + ": shared_bytes " +
                             std::to_string(g.sharedBytes) + " exceeds " +
                             std::to_string(kMaxSharedBytes) +
                             " (227 KiB, the most any GPU gives a block)");
    if (g.persistentBlocksPerSm > kMaxBlocksPerSm)
      return fail(label, field + ": persistent_blocks_per_sm " +
                             std::to_string(g.persistentBlocksPerSm) +
                             " exceeds " + std::to_string(kMaxBlocksPerSm) +
                             " (the most blocks an SM holds at once)");
    if (g.clusterBlocks > kMaxClusterBlocks)
      return fail(label, field + ": cluster_blocks " +
                             std::to_string(g.clusterBlocks) + " exceeds " +
                             std::to_string(kMaxClusterBlocks) +
                             " (the portable cluster size)");
    if (g.clusterBlocks > 1 && g.persistentBlocksPerSm == 0)
      return fail(label, field + ": cluster_blocks " +
                             std::to_string(g.clusterBlocks) +
                             " on a kernel that is not persistent "
                             "(persistent_blocks_per_sm 0): only a "
                             "persistent grid is sized to whole clusters");
    return {};
  }

  /// A launch's grid at the entry's longest call must fit CUDA's limits,
  /// in either of the kernel's geometries.
  Status verifyLaunchGrid(const std::string &where, const KernelSpec &kernel,
                          uint64_t rows) {
    LLAMAC_RETURN_IF_ERROR(
        verifyLaunchGrid(where, kernel.symbol, "", kernel.geometry, rows));
    if (kernel.wgmmaGeometry)
      return verifyLaunchGrid(where, kernel.symbol, " (wgmma_geometry)",
                              *kernel.wgmmaGeometry, rows);
    return {};
  }
  Status verifyLaunchGrid(const std::string &where, const std::string &symbol,
                          const std::string &which, const LaunchGeometry &g,
                          uint64_t rows) {
    for (int i = 0; i < 3; ++i) {
      uint64_t grid = g.gridBase[i];
      if (g.rowsPerBlock[i] > 0)
        grid += (rows + g.rowsPerBlock[i] - 1) / g.rowsPerBlock[i];
      if (grid > kMaxGridDims[i])
        return fail(where, "kernel '" + symbol + "'" + which +
                               ": grid dimension " + std::to_string(i) +
                               " is " + std::to_string(grid) + " at " +
                               std::to_string(rows) +
                               " rows, more than CUDA's limit of " +
                               std::to_string(kMaxGridDims[i]));
    }
    return {};
  }

  Status verifyBufferId(const std::string &where, uint32_t id) const {
    if (id >= spec.buffers.size())
      return fail(where, "buffer id " + std::to_string(id) +
                             " out of range (the artifact has " +
                             std::to_string(spec.buffers.size()) + " buffers)");
    return {};
  }

  Status verifyEntry(size_t index) {
    const EntrySpec &entry = spec.entries[index];
    std::string label = entryLabel(spec, index);
    if (entry.name.empty())
      return fail("entries[" + std::to_string(index) + "]", "name: empty");
    if (!entryNames.insert(entry.name).second)
      return fail(label, "name: another entry has the same name");
    if (entry.batch < 1)
      return fail(label,
                  "batch " + std::to_string(entry.batch) + " is not positive");
    if (entry.seq != -1 && entry.seq < 1)
      return fail(label, "seq " + std::to_string(entry.seq) +
                             " is neither positive nor -1 (dynamic)");
    if (entry.maxSeq < 1)
      return fail(label, "max_seq " + std::to_string(entry.maxSeq) +
                             " is not positive");
    int64_t maxSeq = entryMaxSeq(entry);
    if (maxSeq > spec.config.maxSeqLen)
      return fail(label, "calls of " + std::to_string(maxSeq) +
                             " tokens exceed the config's max_seq_len " +
                             std::to_string(spec.config.maxSeqLen));
    if (entry.arenaBytes > kMaxBufferBytes)
      return fail(label, "arena_bytes " + std::to_string(entry.arenaBytes) +
                             " exceeds the runtime's limit of " +
                             std::to_string(kMaxBufferBytes));

    std::set<uint32_t> used;
    for (size_t l = 0; l < entry.launches.size(); ++l) {
      const LaunchSpec &launch = entry.launches[l];
      std::string where = label + ": launches[" + std::to_string(l) + "]";
      if (launch.kernel >= spec.kernels.size())
        return fail(where, "kernel index " + std::to_string(launch.kernel) +
                               " out of range (the artifact has " +
                               std::to_string(spec.kernels.size()) +
                               " kernels)");
      if (launch.buffers.empty())
        return fail(where, "buffers: empty (a kernel needs at least its "
                           "result)");
      // More than LLAMA_MAX_KERNEL_BUFFERS go through a device table
      // (KernelAbi.h), whose size is bounded too.
      if (cuda && launch.buffers.size() > LLAMA_MAX_TABLE_BUFFERS)
        return fail(where, "buffers: " + std::to_string(launch.buffers.size()) +
                               " buffers, but a cuda launch takes at most " +
                               std::to_string(LLAMA_MAX_TABLE_BUFFERS) +
                               " (LLAMA_MAX_TABLE_BUFFERS)");
      if (cuda)
        LLAMAC_RETURN_IF_ERROR(
            verifyLaunchGrid(where, spec.kernels[launch.kernel],
                             uint64_t(entry.batch) * uint64_t(maxSeq)));
      for (uint32_t id : launch.buffers) {
        LLAMAC_RETURN_IF_ERROR(verifyBufferId(where, id));
        used.insert(id);
      }
      if (cuda)
        LLAMAC_RETURN_IF_ERROR(
            verifyLaunchTensorMaps(where, spec.kernels[launch.kernel], launch));
    }
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      uint32_t id = entry.inputs[i];
      std::string where = label + ": inputs[" + std::to_string(i) + "]";
      LLAMAC_RETURN_IF_ERROR(verifyBufferId(where, id));
      if (spec.buffers[id].kind != BufferKind::Input)
        return fail(where, bufferLabel(spec, id) + " is a " +
                               toString(spec.buffers[id].kind) +
                               " buffer, not an input");
      used.insert(id);
    }
    for (size_t i = 0; i < entry.outputs.size(); ++i) {
      uint32_t id = entry.outputs[i];
      std::string where = label + ": outputs[" + std::to_string(i) + "]";
      LLAMAC_RETURN_IF_ERROR(verifyBufferId(where, id));
      if (spec.buffers[id].kind == BufferKind::Weight)
        return fail(where, bufferLabel(spec, id) +
                               " is a weight, which no entry computes");
      used.insert(id);
    }

    for (uint32_t id : used) {
      const BufferSpec &buffer = spec.buffers[id];
      if (buffer.kind != BufferKind::Activation)
        continue;
      auto [owner, inserted] = activationOwner.emplace(id, index);
      if (!inserted && owner->second != index)
        return fail(bufferLabel(spec, id),
                    "activation used by both " +
                        entryLabel(spec, owner->second) + " and " + label +
                        "; an activation lives in one entry's arena");
      uint64_t bytes = checkedBytes(buffer, maxSeq);
      if (bytes == 0 || buffer.arenaOffset > entry.arenaBytes ||
          bytes > entry.arenaBytes - buffer.arenaOffset)
        return fail(label, bufferLabel(spec, id) + ": arena overflow: offset " +
                               std::to_string(buffer.arenaOffset) + " + " +
                               std::to_string(bytes) + " bytes (at seq " +
                               std::to_string(maxSeq) +
                               ") exceeds arena_bytes " +
                               std::to_string(entry.arenaBytes));
    }
    return {};
  }

  Status verifyBinary(size_t index) {
    const BinarySpec &binary = spec.binaries[index];
    std::string label = "binaries[" + std::to_string(index) + "]";
    if (binary.target.empty())
      return fail(label, "target: empty");
    if (binary.arch.empty())
      return fail(label + " (" + binary.target + ")", "arch: empty");
    label += " (" + binary.target + " " + binary.arch + ")";
    if (binary.format.empty())
      return fail(label, "format: empty");
    if (binary.data.empty())
      return fail(label, "data: empty");
    return {};
  }

  const ArtifactSpec &spec;
  const std::string &origin;
  /// Launch geometry and the buffer limit matter only to the cuda target.
  const bool cuda;
  std::set<std::string> weightNames;
  std::set<std::string> kernelSymbols;
  std::set<std::string> entryNames;
  /// Activation buffer id -> the entry whose arena holds it.
  std::map<uint32_t, size_t> activationOwner;
};

} // namespace

Status llamac::runtime::verifyArtifact(const ArtifactSpec &spec,
                                       const std::string &origin) {
  return Verifier(spec, origin).run();
}
