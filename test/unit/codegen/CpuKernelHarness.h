//===- CpuKernelHarness.h - Compile and run emitted CPU kernels -*- C++ -*-===//
//
// The CPU emitter is tested by running what it writes: a test parses MLIR
// functions that each hold one llama op, emits one kernel per function
// (named after it), compiles them all into one shared object with the
// driver's flags, and calls the kernels on host buffers. Compiling costs
// seconds, so a library is built once per source text and cached on disk
// across the test processes that ctest starts.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TEST_UNIT_CODEGEN_CPUKERNELHARNESS_H
#define LLAMAC_TEST_UNIT_CODEGEN_CPUKERNELHARNESS_H

#include "runtime/KernelAbi.h"

#include "llvm/ADT/StringRef.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <string>
#include <vector>

namespace llamac::test {

/// How a buffer stores its elements.
enum class Dtype { F32, F16, BF16, I32 };

/// A kernel buffer: its values as f32 (exactly representable in `dtype`)
/// and their bytes in the kernel's layout.
class Buffer {
public:
  Buffer(Dtype dtype, std::vector<float> values);
  /// `count` uniform values in [lo, hi), rounded to `dtype`.
  static Buffer random(Dtype dtype, size_t count, uint32_t seed,
                       float lo = -1.0f, float hi = 1.0f);
  static Buffer zeros(Dtype dtype, size_t count);
  static Buffer tokens(std::vector<int32_t> ids);

  /// The values, read back from the bytes (after a kernel wrote them).
  std::vector<float> values() const;
  void *data() { return bytes.data(); }
  size_t size() const { return count; }

private:
  Dtype dtype;
  size_t count;
  std::vector<uint8_t> bytes;
};

/// `value` rounded to `dtype`, as f32.
float roundTo(Dtype dtype, float value);

/// Emits the prelude, then one kernel per llama op of each function of
/// `mlirSource`, named after the function; a second op of a function is
/// `<function>_1`, and so on. Returns the diagnostics, or "" on success.
std::string emitFunctions(llvm::StringRef mlirSource, std::string &cpp);

/// A translation unit of kernels, compiled and loaded.
class KernelLibrary {
public:
  /// Compiles `cpp` with the driver's compiler and flags, reusing an object
  /// a previous process built from the same text.
  explicit KernelLibrary(std::string cpp);
  /// Emits `mlirSource` with emitFunctions, then compiles it.
  static KernelLibrary fromMlir(llvm::StringRef mlirSource);
  KernelLibrary(KernelLibrary &&other);
  ~KernelLibrary();

  /// Empty when the library built; else what went wrong.
  const std::string &error() const { return errorText; }
  /// The kernel `name`, or null.
  LlamaCpuKernel kernel(llvm::StringRef name) const;
  /// Runs kernel `name` on `buffers` (operands, then results).
  void run(llvm::StringRef name, const std::vector<Buffer *> &buffers,
           LlamaKernelContext context) const;

private:
  KernelLibrary() = default;
  std::string errorText;
  void *handle = nullptr;
};

/// The context of a call with `seq` tokens at `position`.
LlamaKernelContext makeContext(int64_t batch, int64_t seq, int32_t position,
                               int32_t threads = 1);

/// Expects |actual - expected| <= atol + rtol * |expected| elementwise.
void expectClose(const std::vector<float> &actual,
                 const std::vector<double> &expected, double atol, double rtol,
                 llvm::StringRef what);

/// Tolerances of a kernel storing `dtype`, against a double reference.
double toleranceOf(Dtype dtype);

} // namespace llamac::test

#endif // LLAMAC_TEST_UNIT_CODEGEN_CPUKERNELHARNESS_H
