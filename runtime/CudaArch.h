//===- CudaArch.h - Which cuda binary of an artifact a GPU runs -*- C++ -*-===//
//
// A cuda artifact carries cubins for some SM versions and PTX for a virtual
// arch. A cubin runs on its own SM version and on later minor versions of
// the same major (sm_80 code on an sm_86 GPU), never across majors; an
// arch-specific cubin (sm_90a) runs on exactly its SM. PTX is JIT-compiled
// by the driver for any GPU at least as new as its virtual arch, at a cost
// of seconds at load time and usually some speed. The choice is a pure
// function of the device's SM and the binaries, so it is tested without a
// GPU.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDAARCH_H
#define LLAMAC_RUNTIME_CUDAARCH_H

#include "runtime/ArtifactSpec.h"
#include "runtime/Status.h"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace llamac::runtime {

/// A compute capability: sm_86 is {8, 6}.
struct SmVersion {
  int major = 0;
  int minor = 0;
  /// "sm_90a": code that runs on exactly this SM.
  bool archSpecific = false;

  friend bool operator==(SmVersion a, SmVersion b) {
    return a.major == b.major && a.minor == b.minor;
  }
  friend bool operator<(SmVersion a, SmVersion b) {
    return a.major != b.major ? a.major < b.major : a.minor < b.minor;
  }
  friend bool operator<=(SmVersion a, SmVersion b) { return !(b < a); }
  /// "sm_86".
  std::string smName() const;
  /// "compute_86".
  std::string computeName() const;
};

/// Parses "sm_86", "sm_90a", "sm_100", "compute_80"; nullopt otherwise.
std::optional<SmVersion> parseCudaArch(const std::string &arch);

/// Which of an artifact's codes a CUDA session loads.
enum class CudaCode {
  /// The binary selectCudaBinary picks: the device's cubin, else PTX.
  Binary,
  /// The artifact's PTX, JIT-compiled even where a cubin matches: its
  /// portable kernels (compute_80: mma.sync, no wgmma) on any newer GPU, as
  /// a baseline for the arch-specific cubin or a way around one.
  Ptx,
  /// The embedded source, compiled for the device by NVRTC (CudaJit.h).
  Source,
};

struct CudaBinaryChoice {
  /// Index into the binaries it was chosen from.
  size_t index = 0;
  /// The PTX must be JIT-compiled.
  bool jit = false;
  /// For reports: "cubin sm_86 (exact match)", "cubin sm_80 (binary
  /// compatible with sm_86)", "PTX compute_80 (JIT-compiled for sm_90)".
  std::string description;
};

/// Picks the binary `device` runs: the cubin for exactly its SM, else the
/// cubin of the same major with the highest minor not above the device's,
/// else the PTX of the highest virtual arch not above the device. Only
/// binaries with target "cuda" count. Fails with "no matching arch: the
/// device is sm_75; the artifact has cubins for sm_80, sm_86 and PTX for
/// compute_80, which needs sm_80 or newer". With `ptxOnly` the cubins are
/// passed over ("no PTX for sm_90: the artifact has ...").
StatusOr<CudaBinaryChoice>
selectCudaBinary(const std::vector<artifact::BinarySpec> &binaries,
                 SmVersion device, bool ptxOnly = false);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDAARCH_H
