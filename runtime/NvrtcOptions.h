//===- NvrtcOptions.h - How every llamac kernel source is compiled -*- C++ -*-//
//
// llamac compiles an artifact's CUDA source ahead of time and `llama-run
// --jit` compiles the same source on the GPU's machine; both pass NVRTC
// these options, so that a JIT cubin is the one llamac would have built for
// that arch.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_NVRTCOPTIONS_H
#define LLAMAC_RUNTIME_NVRTCOPTIONS_H

#include <string>
#include <vector>

namespace llamac {

/// Everything but the include directory, which depends on the machine and
/// not on the code: "--gpu-architecture=ARCH", C++17, device functions by
/// default, line info for profilers. No --use_fast_math: f32 kernels are
/// validated against llama2.c, and expf, sqrtf and division are a small part
/// of any kernel's time.
inline std::vector<std::string> nvrtcCodeOptions(const std::string &arch) {
  return {"--gpu-architecture=" + arch, "--std=c++17", "-default-device",
          "-lineinfo"};
}

/// The arch llamac compiles for a GPU of compute capability major.minor:
/// "sm_XY", but "sm_90a" for Hopper (9.0), whose arch-specific features
/// (wgmma) only a cubin for exactly sm_90a may use. llamac's default archs
/// and `llama-run --jit` both take Hopper's from here.
inline std::string nvrtcArchFor(int major, int minor) {
  std::string arch = "sm_" + std::to_string(major * 10 + minor);
  return major == 9 && minor == 0 ? arch + "a" : arch;
}

/// The file name NVRTC reports in diagnostics.
inline constexpr const char *kNvrtcSourceName = "llamac_kernels.cu";

} // namespace llamac

#endif // LLAMAC_RUNTIME_NVRTCOPTIONS_H
