//===- CudaKernels.cpp - The cuda binary of an artifact, loaded -----------===//

#include "runtime/CudaKernels.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/CpuKernels.h"
#include "runtime/CudaJit.h"
#include "runtime/KernelAbi.h"

#include <algorithm>
#include <optional>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

/// Loads PTX with the JIT's error log, which names the failing line.
Status loadPtx(const CudaDriver &driver, const BinarySpec &binary,
               cu::Module *module, const std::string &where) {
  // The driver reads PTX as a NUL-terminated string.
  std::string text(binary.data.begin(), binary.data.end());
  char log[4096] = {0};
  cu::JitOption options[] = {cu::kJitErrorLogBuffer,
                             cu::kJitErrorLogBufferSizeBytes};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1)};
  cu::Result result =
      driver.cuModuleLoadDataEx(module, text.c_str(), 2, options, values);
  if (result == cu::kSuccess)
    return {};
  std::string detail = log[0] ? std::string("; JIT log: ") + log : "";
  return Status::error(where + ": cuModuleLoadDataEx (PTX JIT): " +
                       driver.describe(result) + detail);
}

/// A kernel that launches with more than the default 48 KiB of shared
/// memory (the sm_80+ GEMM's pipeline) must say so to the driver first,
/// and the device must have that much.
Status optInToSharedMemory(const CudaDevice &device, cu::Function function,
                           uint32_t bytes, const std::string &label) {
  if (bytes <= cu::kDefaultSharedPerBlock)
    return {};
  const CudaDriver &driver = device.driver();
  const int limit = device.maxSharedPerBlockOptIn();
  if (bytes > uint32_t(limit))
    return Status::error(label + " needs " + std::to_string(bytes) +
                         " bytes of shared memory per block, but this " +
                         device.sm().smName() + " GPU allows " +
                         std::to_string(limit) +
                         "; recompile the model for this GPU's arch");
  return driver.check(
      driver.cuFuncSetAttribute(function, cu::kFuncAttributeMaxDynamicShared,
                                int(bytes)),
      label + ": cuFuncSetAttribute(max dynamic shared memory " +
          std::to_string(bytes) + ")");
}

/// A block larger than the driver allows the function (its launch bounds,
/// or registers per thread times threads beyond the SM's register file:
/// code JIT-compiled for a newer GPU may take more registers) fails every
/// launch with "too many resources requested"; refuse it at load instead,
/// naming the kernel.
Status checkBlockSize(const CudaDriver &driver, cu::Function function,
                      const LaunchGeometry &geometry,
                      const std::string &label) {
  int limit = 0;
  LLAMAC_RETURN_IF_ERROR(
      driver.check(driver.cuFuncGetAttribute(
                       &limit, cu::kFuncAttributeMaxThreadsPerBlock, function),
                   label + ": cuFuncGetAttribute(max threads per block)"));
  const uint64_t threads =
      uint64_t(geometry.block[0]) * geometry.block[1] * geometry.block[2];
  if (threads <= uint64_t(limit))
    return {};
  return Status::error(
      label + " launches blocks of " + std::to_string(threads) +
      " threads, but the driver runs it with at most " + std::to_string(limit) +
      " on this GPU (its launch bounds or registers per thread); the "
      "artifact does not fit this GPU's code: recompile it with llamac for "
      "this GPU's arch");
}

/// The int `module` exports as `symbol`, or none when it has no such int;
/// errors start with `where`.
StatusOr<std::optional<int>> exportedInt(const CudaDriver &driver,
                                         cu::Module module, const char *symbol,
                                         const std::string &where) {
  cu::DevicePtr address = 0;
  size_t bytes = 0;
  if (driver.cuModuleGetGlobal(&address, &bytes, module, symbol) !=
          cu::kSuccess ||
      bytes != sizeof(int))
    return std::optional<int>();
  int value = 0;
  LLAMAC_RETURN_IF_ERROR(
      driver.check(driver.cuMemcpyDtoH(&value, address, sizeof(value)),
                   where + ": reading " + symbol));
  return std::optional<int>(value);
}

/// Whether `module` exports `symbol` as 1 (a flag; absent means 0).
StatusOr<bool> exportsFlag(const CudaDriver &driver, cu::Module module,
                           const char *symbol, const std::string &where) {
  StatusOr<std::optional<int>> value =
      exportedInt(driver, module, symbol, where);
  if (!value.ok())
    return value.status();
  return *value == 1;
}

/// Fails unless `module` exports the kernel ABI version this runtime calls.
Status checkKernelAbi(const CudaDriver &driver, cu::Module module,
                      const std::string &where) {
  StatusOr<std::optional<int>> abi =
      exportedInt(driver, module, kKernelAbiVersionSymbol, where);
  if (!abi.ok())
    return abi.status();
  if (!*abi)
    return Status::error(where + ": symbol " + kKernelAbiVersionSymbol +
                         " not found; it was not built by llamac's cuda "
                         "target");
  if (**abi != LLAMA_KERNEL_ABI_VERSION)
    return Status::error(where + ": kernel ABI version " +
                         std::to_string(**abi) + ", but this runtime calls " +
                         std::to_string(LLAMA_KERNEL_ABI_VERSION) +
                         "; recompile the model with a matching llamac");
  return {};
}

/// Whether `symbol` contains one of `words`, counting the matches of each.
bool namedBy(const std::string &symbol, const std::vector<std::string> &words,
             std::vector<int> &matches) {
  bool named = false;
  for (size_t i = 0; i < words.size(); ++i)
    if (symbol.find(words[i]) != std::string::npos) {
      ++matches[i];
      named = true;
    }
  return named;
}

/// The artifact's distinct kernel names without their "kN_" prefix, in
/// order: "embedding, fused_matmul, ...".
std::string kernelNames(const ArtifactSpec &spec) {
  std::vector<std::string> names;
  for (const KernelSpec &kernel : spec.kernels) {
    std::string name = kernel.symbol;
    size_t digits = name.find_first_not_of("0123456789", 1);
    if (name.size() > 2 && name[0] == 'k' && digits != 1 &&
        digits != std::string::npos && name[digits] == '_')
      name = name.substr(digits + 1);
    if (std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  }
  std::string text;
  for (const std::string &name : names)
    text += (text.empty() ? "" : ", ") + name;
  return text;
}

} // namespace

StatusOr<bool> CudaKernelLibrary::loadPortable(const ArtifactSpec &spec,
                                               const std::string &origin) {
  const CudaDriver &driver = device.driver();
  StatusOr<CudaBinaryChoice> choice =
      selectCudaBinary(spec.binaries, device.sm(), /*ptxOnly=*/true);
  if (!choice.ok())
    return Status::error(origin + ": --portable-kernels: " + choice.message());
  const std::string ptxWhere =
      origin + ": cuda binary (" + choice->description + ")";
  LLAMAC_RETURN_IF_ERROR(
      loadPtx(driver, spec.binaries[choice->index], &portableModule, ptxWhere));
  LLAMAC_RETURN_IF_ERROR(checkKernelAbi(driver, portableModule, ptxWhere));
  chosen += ", and from " + choice->description;
  return exportsFlag(driver, portableModule, kGridDependencyWaitSymbol,
                     ptxWhere);
}

/// The oldest GPU llamac's CUDA kernels run on: they use cp.async, ldmatrix
/// and bf16 mma.sync, which sm_80 (Ampere) introduced, and llamac compiles
/// for nothing older. What to do instead on an older one.
constexpr SmVersion kOldestSm{8, 0};
std::string olderThanOldestSm(const CudaDevice &device,
                              const ArtifactSpec &spec) {
  return "the device is " + device.sm().smName() +
         ", and llamac's CUDA kernels need sm_80 or newer (cp.async and "
         "bf16 tensor cores); " +
         (findBinary(spec, "cpu")
              ? std::string("run it with --device cpu")
              : std::string("compile the model with --target=cpu to run it "
                            "on this machine's CPU"));
}

StatusOr<std::unique_ptr<CudaKernelLibrary>>
CudaKernelLibrary::load(const CudaDevice &device, const ArtifactSpec &spec,
                        const std::string &origin, CudaCode code,
                        const std::vector<std::string> &portable) {
  if (!findBinary(spec, "cuda"))
    return Status::error(origin + ": has no cuda binaries; recompile with "
                                  "--target=cuda, or run it with --device cpu");
  if (device.sm() < kOldestSm)
    return Status::error(origin + ": " + olderThanOldestSm(device, spec));
  const CudaDriver &driver = device.driver();
  std::unique_ptr<CudaKernelLibrary> library(new CudaKernelLibrary(device));
  // The image to load: a cubin compiled here (--jit), or the artifact's
  // cubin or PTX for this device.
  JitCubin compiled;
  const BinarySpec *binary = nullptr;
  bool ptx = false;
  if (code == CudaCode::Source) {
    StatusOr<JitCubin> cubin = jitCompileCubin(spec.kernelSource, device.sm());
    if (!cubin.ok())
      return Status::error(origin + ": " + cubin.message());
    compiled = std::move(cubin).value();
    library->chosen = compiled.description;
    library->where = origin + ": " + compiled.description;
  } else {
    bool ptxOnly = code == CudaCode::Ptx;
    StatusOr<CudaBinaryChoice> choice =
        selectCudaBinary(spec.binaries, device.sm(), ptxOnly);
    if (!choice.ok())
      return Status::error(
          origin + ": " + choice.message() +
          (ptxOnly ? "; run without --ptx, or with --jit"
                   : "; recompile with --cuda-arch=" + device.sm().smName() +
                         ", or run with --jit"));
    binary = &spec.binaries[choice->index];
    ptx = choice->jit;
    library->chosen = choice->description;
    library->where = origin + ": cuda binary (" + choice->description + ")";
  }
  LLAMAC_RETURN_IF_ERROR(device.makeCurrent());
  if (ptx)
    LLAMAC_RETURN_IF_ERROR(
        loadPtx(driver, *binary, &library->module, library->where));
  else
    LLAMAC_RETURN_IF_ERROR(
        driver.check(driver.cuModuleLoadData(&library->module,
                                             binary ? binary->data.data()
                                                    : compiled.cubin.data()),
                     library->where + ": cuModuleLoadData"));
  const std::string &where = library->where;
  LLAMAC_RETURN_IF_ERROR(checkKernelAbi(driver, library->module, where));

  // Binaries from before programmatic dependent launch lack the symbol:
  // their kernels do not wait, so they are launched one after another.
  StatusOr<bool> waits =
      exportsFlag(driver, library->module, kGridDependencyWaitSymbol, where);
  if (!waits.ok())
    return waits.status();
  library->gridDependencyWait = *waits;
  // Binaries from before the wgmma geometries, and every non-sm_90a binary,
  // launch each kernel with its one geometry.
  StatusOr<bool> wgmma =
      exportsFlag(driver, library->module, kWgmmaKernelsSymbol, where);
  if (!wgmma.ok())
    return wgmma.status();
  const bool wgmmaKernels = *wgmma;
  bool portableWaits = false;
  if (!portable.empty()) {
    if (!wgmmaKernels)
      return Status::error(
          where + ": --portable-kernels: this binary runs no sm_90a (wgmma) "
                  "kernels, so every kernel already runs its portable code");
    StatusOr<bool> waits = library->loadPortable(spec, origin);
    if (!waits.ok())
      return waits.status();
    portableWaits = *waits;
  }

  std::vector<int> matches(portable.size(), 0);
  int fromPtx = 0;
  library->functions.reserve(spec.kernels.size());
  library->geometries.reserve(spec.kernels.size());
  for (size_t index = 0; index < spec.kernels.size(); ++index) {
    const KernelSpec &kernel = spec.kernels[index];
    const std::string &symbol = kernel.symbol;
    const bool portableCode = namedBy(symbol, portable, matches);
    fromPtx += portableCode;
    const LaunchGeometry &geometry =
        wgmmaKernels && kernel.wgmmaGeometry && !portableCode
            ? *kernel.wgmmaGeometry
            : kernel.geometry;
    const std::string label =
        origin + ": kernel " + std::to_string(index) + " '" + symbol + "'";
    cu::Function function = nullptr;
    LLAMAC_RETURN_IF_ERROR(driver.check(
        driver.cuModuleGetFunction(
            &function, portableCode ? library->portableModule : library->module,
            symbol.c_str()),
        label + ": cuModuleGetFunction"));
    LLAMAC_RETURN_IF_ERROR(checkBlockSize(driver, function, geometry, label));
    LLAMAC_RETURN_IF_ERROR(
        optInToSharedMemory(device, function, geometry.sharedBytes, label));
    library->functions.push_back(function);
    library->geometries.push_back(geometry);
  }
  for (size_t i = 0; i < portable.size(); ++i)
    if (matches[i] == 0)
      return Status::error(origin +
                           ": --portable-kernels: no kernel's name "
                           "contains '" +
                           portable[i] +
                           "' (its kernels: " + kernelNames(spec) + ")");
  if (!portable.empty()) {
    library->chosen +=
        " for " + std::to_string(fromPtx) + " kernel(s) (--portable-kernels)";
    // Kernels from the PTX that do not wait for the previous one may not
    // be launched while it drains.
    library->gridDependencyWait = library->gridDependencyWait && portableWaits;
  }
  return library;
}

StatusOr<cu::Function>
CudaKernelLibrary::exported(const std::string &symbol) const {
  cu::Function function = nullptr;
  cu::Result result =
      device.driver().cuModuleGetFunction(&function, module, symbol.c_str());
  if (result == cu::kErrorNotFound)
    return Status::error(where + " has no kernel '" + symbol +
                         "' (built by an older llamac); recompile the model");
  LLAMAC_RETURN_IF_ERROR(device.driver().check(
      result, where + ": kernel '" + symbol + "': cuModuleGetFunction"));
  return function;
}

CudaKernelLibrary::~CudaKernelLibrary() {
  if (module)
    (void)device.driver().cuModuleUnload(module);
  if (portableModule)
    (void)device.driver().cuModuleUnload(portableModule);
}
