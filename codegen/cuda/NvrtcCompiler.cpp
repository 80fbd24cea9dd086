//===- NvrtcCompiler.cpp - CUDA kernels to cubins and PTX with NVRTC ------===//

#include "codegen/cuda/NvrtcCompiler.h"

#include "runtime/NvrtcOptions.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"

#include <nvrtc.h>

#include <algorithm>
#include <cstdlib>

namespace llamac::codegen {
namespace {

llvm::Error failure(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Owns one nvrtcProgram.
class Program {
public:
  explicit Program(nvrtcProgram program) : program(program) {}
  ~Program() { nvrtcDestroyProgram(&program); }
  Program(const Program &) = delete;
  Program &operator=(const Program &) = delete;
  nvrtcProgram get() const { return program; }

private:
  nvrtcProgram program;
};

std::string cudaIncludeDir() {
  if (const char *dir = std::getenv("LLAMAC_CUDA_INCLUDE"); dir && *dir)
    return dir;
  return LLAMAC_CUDA_INCLUDE_DIR;
}

/// The requested archs, plus PTX for the lowest real one unless a virtual
/// arch was asked for explicitly.
std::vector<std::string> withPtxFallback(std::vector<std::string> archs) {
  if (archs.empty())
    return defaultCudaArchs();
  int lowest = 0;
  for (const std::string &arch : archs) {
    llvm::StringRef name(arch);
    if (name.starts_with("compute_"))
      return archs;
    // sm_90a's arch-specific code runs on sm_90 alone; the fallback is
    // compute_90's portable PTX.
    int number = 0;
    if (!name.consume_front("sm_"))
      continue;
    name.consume_back("a");
    if (!name.getAsInteger(10, number) && (lowest == 0 || number < lowest))
      lowest = number;
  }
  if (lowest)
    archs.push_back("compute_" + std::to_string(lowest));
  return archs;
}

class NvrtcCompiler : public KernelCompiler {
public:
  NvrtcCompiler(std::vector<std::string> archs, std::string *ptxasReport)
      : archs(withPtxFallback(std::move(archs))), ptxasReport(ptxasReport) {}

  /// Compiles each arch on a thread of its own (NVRTC's programs are
  /// independent), as many at once as the machine has cores or
  /// $LLAMAC_NVRTC_THREADS says: an artifact's four cubins and PTX take the
  /// time of the slowest rather than of all. The binaries, errors and
  /// reports keep the archs' order.
  llvm::Expected<std::vector<artifact::BinarySpec>>
  compile(const std::string &source) override {
    std::vector<std::string> jobs;
    for (const std::string &arch : archs) {
      llvm::StringRef name(arch);
      if (name.starts_with("compute_")) {
        // The PTX of sm_XY is compute_XY's: reuse a compilation if any.
        std::string real = "sm_" + name.drop_front(8).str();
        if (std::find(archs.begin(), archs.end(), real) != archs.end())
          continue;
      }
      jobs.push_back(arch);
    }
    struct Result {
      std::vector<artifact::BinarySpec> binaries;
      std::string error, report;
    };
    llvm::Expected<unsigned> threads = threadCount();
    if (!threads)
      return threads.takeError();
    std::vector<Result> results(jobs.size());
    {
      llvm::DefaultThreadPool pool(llvm::hardware_concurrency(*threads));
      for (size_t i = 0; i < jobs.size(); ++i)
        pool.async([&, i] {
          Result &result = results[i];
          if (llvm::Error err =
                  compileFor(source, jobs[i], result.binaries, result.report))
            result.error = llvm::toString(std::move(err));
        });
      pool.wait();
    }
    std::vector<artifact::BinarySpec> binaries;
    for (Result &result : results) {
      if (!result.error.empty())
        return failure(result.error);
      if (ptxasReport)
        *ptxasReport += result.report;
      for (artifact::BinarySpec &binary : result.binaries)
        binaries.push_back(std::move(binary));
    }
    std::stable_partition(binaries.begin(), binaries.end(),
                          [](const artifact::BinarySpec &binary) {
                            return binary.format == "cubin";
                          });
    return binaries;
  }

  std::string version() override {
    int major = 0, minor = 0;
    nvrtcVersion(&major, &minor);
    return "NVRTC " + std::to_string(major) + "." + std::to_string(minor);
  }

private:
  /// $LLAMAC_NVRTC_THREADS, or 0 (the machine's cores) where it is unset.
  static llvm::Expected<unsigned> threadCount() {
    const char *text = std::getenv("LLAMAC_NVRTC_THREADS");
    if (!text || !*text)
      return 0u;
    unsigned count = 0;
    if (llvm::StringRef(text).getAsInteger(10, count) || count == 0)
      return failure(llvm::Twine("LLAMAC_NVRTC_THREADS='") + text +
                     "': expected a positive number of threads");
    return count;
  }

  /// Compiles for `arch` and appends its binary; for sm_XY also compute_XY's
  /// PTX (the same compilation's) when compute_XY was asked for.
  /// With a ptxas report asked for, a cubin's goes to `report`.
  llvm::Error compileFor(const std::string &source, const std::string &arch,
                         std::vector<artifact::BinarySpec> &binaries,
                         std::string &report) const {
    bool real = llvm::StringRef(arch).starts_with("sm_");
    if (!real && !llvm::StringRef(arch).starts_with("compute_"))
      return failure("unknown CUDA architecture '" + arch +
                     "' (expected sm_XY or compute_XY)");
    nvrtcProgram raw = nullptr;
    if (nvrtcResult r = nvrtcCreateProgram(
            &raw, source.c_str(), kNvrtcSourceName, 0, nullptr, nullptr);
        r != NVRTC_SUCCESS)
      return failure(llvm::Twine("nvrtcCreateProgram: ") +
                     nvrtcGetErrorString(r));
    Program program(raw);

    std::vector<std::string> flags = nvrtcCodeOptions(arch);
    flags.push_back("-I" + cudaIncludeDir());
    if (ptxasReport && real)
      flags.push_back("--ptxas-options=--verbose");
    std::vector<const char *> options;
    for (const std::string &flag : flags)
      options.push_back(flag.c_str());
    nvrtcResult compiled =
        nvrtcCompileProgram(program.get(), int(options.size()), options.data());
    if (compiled != NVRTC_SUCCESS)
      return failure("NVRTC failed for " + arch + ": " +
                     nvrtcGetErrorString(compiled) + "\n" +
                     programLog(program.get()));
    if (ptxasReport && real)
      report = programLog(program.get()) + "\n";

    std::string virtualArch = "compute_" + arch.substr(arch.find('_') + 1);
    if (real) {
      auto cubin = fetch(program.get(), /*ptx=*/false, arch);
      if (!cubin)
        return cubin.takeError();
      binaries.push_back(std::move(*cubin));
    }
    if (!real ||
        std::find(archs.begin(), archs.end(), virtualArch) != archs.end()) {
      auto ptx = fetch(program.get(), /*ptx=*/true, virtualArch);
      if (!ptx)
        return ptx.takeError();
      binaries.push_back(std::move(*ptx));
    }
    return llvm::Error::success();
  }

  /// NVRTC's log of a compilation (its diagnostics, and ptxas's report when
  /// asked for), without trailing NULs and newlines.
  static std::string programLog(nvrtcProgram program) {
    size_t size = 0;
    nvrtcGetProgramLogSize(program, &size);
    std::string log(size, '\0');
    if (size)
      nvrtcGetProgramLog(program, log.data());
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
      log.pop_back();
    return log;
  }

  /// The cubin, or the PTX (which keeps NVRTC's terminating NUL, since
  /// cuModuleLoadData reads PTX as a C string), of a compiled program.
  static llvm::Expected<artifact::BinarySpec>
  fetch(nvrtcProgram program, bool ptx, const std::string &arch) {
    artifact::BinarySpec binary;
    binary.target = "cuda";
    binary.arch = arch;
    binary.format = ptx ? "ptx" : "cubin";
    size_t size = 0;
    nvrtcResult got = ptx ? nvrtcGetPTXSize(program, &size)
                          : nvrtcGetCUBINSize(program, &size);
    if (got != NVRTC_SUCCESS || size == 0)
      return failure("NVRTC produced no " + binary.format + " for " + arch);
    binary.data.resize(size);
    char *data = reinterpret_cast<char *>(binary.data.data());
    got = ptx ? nvrtcGetPTX(program, data) : nvrtcGetCUBIN(program, data);
    if (got != NVRTC_SUCCESS)
      return failure(llvm::Twine("NVRTC: ") + nvrtcGetErrorString(got));
    return binary;
  }

  std::vector<std::string> archs;
  std::string *ptxasReport;
};

} // namespace

std::vector<std::string> defaultCudaArchs() {
  return {"sm_80", "sm_86", "sm_89", nvrtcArchFor(9, 0), "compute_80"};
}

std::unique_ptr<KernelCompiler>
createNvrtcCompiler(std::vector<std::string> archs, std::string *ptxasReport) {
  return std::make_unique<NvrtcCompiler>(std::move(archs), ptxasReport);
}

} // namespace llamac::codegen
