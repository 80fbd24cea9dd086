//===- ArtifactSpec.h - What a compiled artifact contains --------*- C++ -*-===//
//
// The in-memory form of an artifact, shared by the compiler (which fills it
// and writes it) and the runtime (which reads, verifies and executes it). The
// file form is the FlatBuffers schema Artifact.fbs. Plain C++: a deployment
// links no MLIR or LLVM.
//
// An artifact is a set of buffers, kernels and entry points. An entry point
// is a launch sequence: each launch calls one kernel with the buffers it
// names. The runtime knows nothing about what the kernels compute.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_ARTIFACTSPEC_H
#define LLAMAC_RUNTIME_ARTIFACTSPEC_H

#include "frontend/ModelConfig.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llamac::artifact {

/// Bumped whenever the meaning of a field changes, or a field appears that
/// a runtime must not ignore. 2: kernels may list tensor maps, which a GPU
/// kernel cannot run without, so a runtime that reads only version 1
/// refuses these files. 3: kernels may have a second geometry for the
/// binaries that run their wgmma variants, with larger tiles than the
/// other archs; a version 2 runtime would launch those with the wrong grid.
/// 4: the file ends with a checksum of everything before it
/// (ArtifactIO.h), which a runtime must check: a flipped bit in a binary or
/// a config field passes every structural check and then crashes or
/// computes the wrong thing.
inline constexpr uint32_t kSchemaVersion = 4;
/// The first version whose files end with the checksum.
inline constexpr uint32_t kFirstChecksummedSchemaVersion = 4;
/// The oldest version this runtime still reads: version 1 files are
/// version 3 files without tensor maps and wgmma geometries, version 2
/// files those without wgmma geometries; files of version 3 and older
/// carry no checksum.
inline constexpr uint32_t kOldestSchemaVersion = 1;

enum class ElementType : uint8_t { F32, F16, BF16, I32 };

enum class BufferKind : uint8_t {
  /// Given by the caller on every call of an entry: tokens, targets, loss
  /// weights.
  Input,
  /// Bound from a checkpoint by `name` (Meta's names) once, at load time.
  Weight,
  /// Computed from weights by the "load" entry (packing, gain folding) once,
  /// and kept for the lifetime of the session.
  Packed,
  /// A KV cache: persistent across calls, zero-initialized, updated in place.
  Cache,
  /// Lives in the arena of the one entry that uses it, at `arenaOffset`.
  Activation,
  /// Optimizer state (AdamW moments, named "adamw.m.<weight>"): persistent
  /// across calls, zero-initialized, updated in place by train_step, and
  /// saved and restored with training checkpoints.
  State,
};

struct BufferSpec {
  /// Weight: the checkpoint tensor it binds. Others: a readable name
  /// ("tokens", "k_cache.3", "logits", "layers.3.attention#0").
  std::string name;
  BufferKind kind = BufferKind::Activation;
  ElementType type = ElementType::F32;
  /// Row-major. -1 marks the dynamic sequence dimension, replaced at run
  /// time by the call's sequence length.
  std::vector<int64_t> shape;
  /// Activation: byte offset in its entry's arena, planned for the entry's
  /// `maxSeq`. Always a multiple of 64.
  uint64_t arenaOffset = 0;
};

/// One launch of a kernel, with the buffers it reads and writes, in the
/// kernel's parameter order (the op's tensor operands, then its results).
struct LaunchSpec {
  uint32_t kernel = 0;
  std::vector<uint32_t> buffers;
};

struct EntrySpec {
  /// "load" (weight packing; runs once after binding), "prefill", "decode",
  /// "forward_loss", "loss_and_grads", "train_step". train_step writes
  /// its weight and State buffers in place.
  std::string name;
  int64_t batch = 1;
  /// Tokens per call; -1 when dynamic (any length from 1 to maxSeq).
  int64_t seq = -1;
  /// The longest call the arena was planned for.
  int64_t maxSeq = 1;
  uint64_t arenaBytes = 0;
  std::vector<LaunchSpec> launches;
  /// Buffer ids the caller fills, in argument order (tokens first).
  std::vector<uint32_t> inputs;
  /// Buffer ids the caller reads afterwards (logits, or the loss). Caches
  /// are updated in place and not listed.
  std::vector<uint32_t> outputs;
};

/// How a GPU target launches a kernel. The runtime knows nothing about ops,
/// so the grid is a rule of the call's token count, decided by the emitter:
/// grid[i] = gridBase[i] + ceil(batch * seq / rowsPerBlock[i]) when
/// rowsPerBlock[i] > 0, else gridBase[i].
struct LaunchGeometry {
  uint32_t gridBase[3] = {1, 1, 1};
  uint32_t rowsPerBlock[3] = {0, 0, 0};
  uint32_t block[3] = {1, 1, 1};
  /// Dynamic shared memory per block, in bytes.
  uint32_t sharedBytes = 0;
  /// When nonzero the kernel is persistent: its blocks walk the tiles of
  /// the grid above (x × y × z of them) with a stride of the grid it was
  /// launched with, so the runtime launches only as many blocks as run at
  /// once, `persistentBlocksPerSm` on each of the device's SMs, in x (and
  /// none beyond the tiles). A block then loads its next tile while it
  /// finishes the last. A runtime that ignores it launches one block a
  /// tile, which the kernels also handle.
  uint32_t persistentBlocksPerSm = 0;
  /// When above 1, a persistent kernel's blocks run in clusters of this
  /// many along x (compute capability 9.0 and later), which share tiles
  /// through each other's shared memory: the runtime launches a multiple
  /// of it. The kernels ask the hardware for their cluster, so a runtime
  /// that launches without clusters still runs them correctly.
  uint32_t clusterBlocks = 0;
};

/// A tensor map the runtime encodes (cuTensorMapEncodeTiled) for each
/// launch of a kernel, so that the kernel can load tiles of one of the
/// launch's buffers with the Tensor Memory Accelerator (sm_90a). The
/// buffer is read as a row-major matrix: rows of its last dimension, as
/// many as its allocation holds (for a dynamic buffer, the entry's longest
/// call). Box elements past the rows or the row's end read as zeros.
struct TensorMapSpec {
  /// Which of the launch's buffers: an index into LaunchSpec::buffers.
  uint32_t operand = 0;
  /// The box one load copies: `boxInner` consecutive elements of each of
  /// `boxRows` consecutive rows (each at most 256).
  uint32_t boxInner = 0;
  uint32_t boxRows = 0;
  /// The shared-memory layout: 0 (rows of boxInner elements, unswizzled)
  /// or 128 (128-byte rows whose 16-byte chunks are XOR-ed with address
  /// bits 7-9, the layout wgmma's descriptors name; the box's rows must
  /// then be 128 bytes).
  uint32_t swizzleBytes = 0;
};

struct KernelSpec {
  /// The symbol in every binary of the artifact.
  std::string symbol;
  /// The op it implements ("fused_matmul", ...), for reports and profiles.
  std::string op;
  /// Where in the model it comes from ("layers.3.attention"), if anywhere.
  std::string origin;
  /// GPU targets only.
  LaunchGeometry geometry;
  /// GPU targets only: at most LLAMA_MAX_TENSOR_MAPS (KernelAbi.h), passed
  /// in LlamaGpuArgs::tensorMaps in this order.
  std::vector<TensorMapSpec> tensorMaps;
  /// GPU targets only: the geometry where the loaded binary runs the
  /// kernels' wgmma variants (it exports llama_wgmma_kernels = 1: sm_90a
  /// code), when that differs from `geometry` (the sm_90a GEMM's tiles are
  /// twice as wide as the mma.sync one's).
  std::optional<LaunchGeometry> wgmmaGeometry;
};

/// Compiled kernels for one target.
struct BinarySpec {
  /// "cpu" or "cuda".
  std::string target;
  /// "x86-64-v3", "native", "sm_90", "compute_90" (PTX), ...
  std::string arch;
  /// "elf-shared-object", "cubin" or "ptx".
  std::string format;
  std::vector<uint8_t> data;
};

struct Provenance {
  std::string compilerVersion;
  /// FNV-1a 64 of the kernel source, in hex.
  std::string sourceHash;
  /// The llamac command line.
  std::string flags;
  /// The host compiler or NVRTC version that built the binaries.
  std::string toolVersion;
};

struct ArtifactSpec {
  uint32_t schemaVersion = kSchemaVersion;
  ModelConfig config;
  std::vector<BufferSpec> buffers;
  std::vector<KernelSpec> kernels;
  std::vector<EntrySpec> entries;
  std::vector<BinarySpec> binaries;
  /// The generated source of every kernel, for --jit and for inspection.
  std::string kernelSource;
  Provenance provenance;
};

} // namespace llamac::artifact

#endif // LLAMAC_RUNTIME_ARTIFACTSPEC_H
