//===- CpuArch.h - Can this CPU run code built for an -march? ----*- C++
//-*-===//
//
// A CPU binary built for x86-64-v4 dies with SIGILL on a machine without
// AVX-512, at whichever kernel first uses it. Checking the recorded -march
// against the running CPU turns that into an error message before loading.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CPUARCH_H
#define LLAMAC_RUNTIME_CPUARCH_H

#include <string>

namespace llamac::runtime {

/// How well the running CPU suits a binary built with -march=`arch`.
struct CpuArchSupport {
  /// False when the arch is unknown or the CPU lacks one of its features.
  bool supported = false;
  /// Higher is faster; picks among several supported binaries.
  int rank = 0;
  /// Why not, when unsupported: "needs avx512f, which this CPU lacks".
  std::string reason;
};

/// Known arches: "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4" and
/// "native". "native" records no feature list, so it is trusted: it is meant
/// for running on the machine that compiled it.
CpuArchSupport checkCpuArch(const std::string &arch);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CPUARCH_H
