//===- CpuKernelHarness.cpp - Compile and run emitted CPU kernels ---------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include "codegen/cpu/CpuEmitter.h"
#include "ir/LlamaDialect.h"
#include "ir/LlamaOps.h"
#include "runtime/HalfFloat.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <random>

using namespace mlir;
using namespace llamac::runtime;

namespace llamac::test {

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

static size_t bytesOf(Dtype dtype) {
  return dtype == Dtype::F16 || dtype == Dtype::BF16 ? 2 : 4;
}

float roundTo(Dtype dtype, float value) {
  switch (dtype) {
  case Dtype::F16:
    return f16ToF32(f32ToF16(value));
  case Dtype::BF16:
    return bf16ToF32(f32ToBf16(value));
  default:
    return value;
  }
}

Buffer::Buffer(Dtype dtype, std::vector<float> values)
    : dtype(dtype), count(values.size()),
      bytes(values.size() * bytesOf(dtype)) {
  for (size_t i = 0; i < count; ++i) {
    uint8_t *at = bytes.data() + i * bytesOf(dtype);
    if (dtype == Dtype::F32) {
      std::memcpy(at, &values[i], 4);
    } else if (dtype == Dtype::I32) {
      int32_t v = static_cast<int32_t>(values[i]);
      std::memcpy(at, &v, 4);
    } else {
      uint16_t bits =
          dtype == Dtype::F16 ? f32ToF16(values[i]) : f32ToBf16(values[i]);
      std::memcpy(at, &bits, 2);
    }
  }
}

Buffer Buffer::random(Dtype dtype, size_t count, uint32_t seed, float lo,
                      float hi) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(count);
  for (float &v : values)
    v = roundTo(dtype, dist(engine));
  return Buffer(dtype, std::move(values));
}

Buffer Buffer::zeros(Dtype dtype, size_t count) {
  return Buffer(dtype, std::vector<float>(count, 0.0f));
}

Buffer Buffer::tokens(std::vector<int32_t> ids) {
  return Buffer(Dtype::I32, std::vector<float>(ids.begin(), ids.end()));
}

std::vector<float> Buffer::values() const {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t *at = bytes.data() + i * bytesOf(dtype);
    if (dtype == Dtype::F32) {
      std::memcpy(&values[i], at, 4);
    } else if (dtype == Dtype::I32) {
      int32_t v;
      std::memcpy(&v, at, 4);
      values[i] = static_cast<float>(v);
    } else {
      uint16_t bits;
      std::memcpy(&bits, at, 2);
      values[i] = dtype == Dtype::F16 ? f16ToF32(bits) : bf16ToF32(bits);
    }
  }
  return values;
}

//===----------------------------------------------------------------------===//
// Emission and compilation
//===----------------------------------------------------------------------===//

std::string emitFunctions(llvm::StringRef mlirSource, std::string &cpp) {
  DialectRegistry registry;
  registry
      .insert<llama::LlamaDialect, func::FuncDialect, arith::ArithDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(mlirSource, &context);
  if (!module)
    return "cannot parse the test IR:\n" + diagnostics;

  std::unique_ptr<codegen::KernelEmitter> emitter = codegen::createCpuEmitter();
  llvm::raw_string_ostream os(cpp);
  emitter->emitPrelude(os);
  for (auto func : module->getOps<func::FuncOp>()) {
    int index = 0;
    for (Operation &op : func.getBody().front()) {
      if (!emitter->canEmit(&op))
        continue;
      std::string symbol = func.getSymName().str();
      if (index++)
        symbol += "_" + std::to_string(index - 1);
      if (failed(emitter->emitKernel(&op, 0, symbol, os)))
        return "cannot emit @" + symbol + ":\n" + diagnostics;
    }
  }
  return "";
}

/// Where compiled libraries are kept between test processes.
static std::string cacheDirectory() {
  if (std::optional<std::string> dir =
          llvm::sys::Process::GetEnv("LLAMAC_KERNEL_CACHE"))
    return *dir;
  return LLAMAC_CODEGEN_TEST_CACHE;
}

/// Compiles `cpp` into a shared object under the cache directory (unless a
/// previous run already did); returns its path or an error in `error`.
static std::string compile(const std::string &cpp, std::string &error) {
  std::vector<std::string> flags = codegen::cpuCompileFlags();
  std::string key = cpp + codegen::cpuCompiler();
  for (const std::string &flag : flags)
    key += " " + flag;
  std::string dir = cacheDirectory();
  if (std::error_code ec = llvm::sys::fs::create_directories(dir)) {
    error = dir + ": " + ec.message();
    return "";
  }
  char name[64];
  std::snprintf(name, sizeof(name), "kernels-%016llx",
                static_cast<unsigned long long>(llvm::xxh3_64bits(key)));
  llvm::SmallString<256> soPath(dir);
  llvm::sys::path::append(soPath, std::string(name) + ".so");
  if (llvm::sys::fs::exists(soPath))
    return std::string(soPath);

  // Build under a name unique to this process, then rename: concurrent
  // test processes never see a half-written object.
  std::string stem = std::string(soPath.str().drop_back(3)) + "-" +
                     std::to_string(llvm::sys::Process::getProcessId());
  std::string cppPath = stem + ".cpp", tmpPath = stem + ".so",
              logPath = stem + ".log";
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(cppPath, ec);
    if (ec) {
      error = cppPath + ": " + ec.message();
      return "";
    }
    os << cpp;
  }
  llvm::ErrorOr<std::string> compiler =
      llvm::sys::findProgramByName(codegen::cpuCompiler());
  if (!compiler) {
    error = std::string("no ") + codegen::cpuCompiler() + " on PATH";
    return "";
  }
  std::vector<llvm::StringRef> args = {*compiler};
  for (const std::string &flag : flags)
    args.push_back(flag);
  args.insert(args.end(), {"-o", tmpPath, cppPath});
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath, logPath};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*compiler, args, std::nullopt, redirects,
                                     0, 0, &message);
  if (rc != 0) {
    auto log = llvm::MemoryBuffer::getFile(logPath);
    error = "compiling " + cppPath + " failed (" + std::to_string(rc) +
            "): " + message + "\n" +
            (log ? (*log)->getBuffer().take_front(8000).str() : "");
    return "";
  }
  llvm::sys::fs::remove(logPath);
  llvm::sys::fs::remove(cppPath);
  if (std::error_code ec = llvm::sys::fs::rename(tmpPath, soPath)) {
    error = "rename: " + ec.message();
    return "";
  }
  return std::string(soPath);
}

KernelLibrary::KernelLibrary(std::string cpp) {
  std::string path = compile(cpp, errorText);
  if (!errorText.empty())
    return;
  // Never unloaded: the object links libgomp, whose worker threads outlive
  // any kernel call and crash if the library goes away under them.
  handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!handle)
    errorText = std::string("dlopen: ") + dlerror();
}

KernelLibrary KernelLibrary::fromMlir(llvm::StringRef mlirSource) {
  std::string cpp;
  std::string error = emitFunctions(mlirSource, cpp);
  if (!error.empty()) {
    KernelLibrary library;
    library.errorText = error;
    return library;
  }
  return KernelLibrary(std::move(cpp));
}

KernelLibrary::KernelLibrary(KernelLibrary &&other)
    : errorText(std::move(other.errorText)), handle(other.handle) {
  other.handle = nullptr;
}

KernelLibrary::~KernelLibrary() {
  if (handle)
    dlclose(handle);
}

LlamaCpuKernel KernelLibrary::kernel(llvm::StringRef name) const {
  if (!handle)
    return nullptr;
  return reinterpret_cast<LlamaCpuKernel>(dlsym(handle, name.str().c_str()));
}

void KernelLibrary::run(llvm::StringRef name,
                        const std::vector<Buffer *> &buffers,
                        LlamaKernelContext context) const {
  ASSERT_EQ(errorText, "");
  LlamaCpuKernel fn = kernel(name);
  ASSERT_NE(fn, nullptr) << "no kernel " << name.str();
  std::vector<void *> pointers;
  for (Buffer *buffer : buffers)
    pointers.push_back(buffer->data());
  fn(pointers.data(), &context);
}

LlamaKernelContext makeContext(int64_t batch, int64_t seq, int32_t position,
                               int32_t threads) {
  LlamaKernelContext context;
  context.batch = batch;
  context.seq = seq;
  context.position = position;
  context.numThreads = threads;
  return context;
}

void expectClose(const std::vector<float> &actual,
                 const std::vector<double> &expected, double atol, double rtol,
                 llvm::StringRef what) {
  ASSERT_EQ(actual.size(), expected.size()) << what.str();
  int reported = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    double diff = std::fabs(actual[i] - expected[i]);
    if (diff <= atol + rtol * std::fabs(expected[i]))
      continue;
    ADD_FAILURE() << what.str() << "[" << i << "] = " << actual[i]
                  << ", expected " << expected[i];
    if (++reported == 5)
      return;
  }
}

double toleranceOf(Dtype dtype) {
  switch (dtype) {
  case Dtype::F32:
    return 1e-5;
  case Dtype::F16:
    return 4e-3;
  default:
    return 2e-2;
  }
}

} // namespace llamac::test
