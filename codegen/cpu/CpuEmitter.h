//===- CpuEmitter.h - How to build what the CPU emitter writes --*- C++ -*-===//
//
// The CPU target emits one C++ translation unit (the prelude, then one
// `extern "C"` function per kernel) that the driver compiles into a shared
// object. The compiler and flags live here so that the driver and the tests
// build kernels exactly alike.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_CODEGEN_CPU_CPUEMITTER_H
#define LLAMAC_CODEGEN_CPU_CPUEMITTER_H

#include "codegen/KernelEmitter.h"

#include <string>
#include <vector>

namespace llamac::codegen {

/// The host C++ compiler for emitted kernels. g++ rather than clang because
/// Debian's clang often lacks libomp, while g++ always has libgomp.
const char *cpuCompiler();

/// Flags that turn an emitted translation unit into a loadable shared
/// object: optimized for the building machine, with OpenMP for the parallel
/// loops and `omp simd` reductions. Append `-o OUT.so SOURCE.cpp`.
std::vector<std::string> cpuCompileFlags();

} // namespace llamac::codegen

#endif // LLAMAC_CODEGEN_CPU_CPUEMITTER_H
