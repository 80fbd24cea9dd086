//===- CudaJit.h - llama-run --jit: the embedded source, compiled here -*- C++
//-*-===//
//
// Every cuda artifact embeds the CUDA source its cubins were built from.
// `llama-run --jit` compiles that source with this machine's NVRTC for this
// GPU's exact arch instead of loading a prebuilt cubin: for a GPU newer than
// every cubin (rather than the driver's JIT of the artifact's PTX), or to
// pick up a newer NVRTC. NVRTC is dlopen'ed, so the runtime still needs no
// toolkit unless --jit is used. Cubins are cached on disk by (source and
// options hash, arch, NVRTC version), written whole or not at all, so a
// second run loads in milliseconds.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CUDAJIT_H
#define LLAMAC_RUNTIME_CUDAJIT_H

#include "runtime/CudaArch.h"
#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llamac::runtime {

struct JitCubin {
  std::vector<uint8_t> cubin;
  /// For reports: "JIT cubin sm_90 (NVRTC 13.0, compiled in 3.2 s, cached
  /// as DIR/FILE)" or "JIT cubin sm_90 (NVRTC 13.0, cached as DIR/FILE)".
  std::string description;
  /// Whether this call ran NVRTC (false: a cache hit).
  bool compiled = false;
};

/// The cubin of `source` for `sm`, from the cache or compiled and then
/// cached. The cache directory is $LLAMAC_CACHE_DIR, else
/// $XDG_CACHE_HOME/llamac, else ~/.cache/llamac, each with "/cubin"
/// appended. NVRTC is $LLAMAC_LIBNVRTC, else libnvrtc.so.13 (or .so) from
/// the loader's path, $CUDA_HOME/lib64 or /usr/local/cuda/lib64; the CUDA
/// headers NVRTC needs are $LLAMAC_CUDA_INCLUDE, else the include directory
/// of the toolkit NVRTC came from. A cache entry that is not a cubin is
/// compiled again and replaced; a cache that cannot be written is reported
/// in the description, not as an error. Errors start with "--jit: ".
StatusOr<JitCubin> jitCompileCubin(const std::string &source, SmVersion sm);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CUDAJIT_H
