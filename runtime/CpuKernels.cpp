//===- CpuKernels.cpp - The cpu binary of an artifact, loaded -------------===//

#include "runtime/CpuKernels.h"

#include "runtime/CpuArch.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

bool writeAll(int fd, const uint8_t *data, size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += written;
    size -= size_t(written);
  }
  return true;
}

/// "cuda (sm_80, sm_90, ptx)": what the artifact was built for instead.
std::string describeTargets(const ArtifactSpec &spec) {
  if (spec.binaries.empty())
    return "no target (the artifact holds no binaries)";
  std::string text;
  std::string lastTarget;
  for (const BinarySpec &binary : spec.binaries) {
    std::string arch = binary.format == "ptx" ? "ptx" : binary.arch;
    if (binary.target != lastTarget) {
      if (!text.empty())
        text += "), ";
      text += binary.target + " (" + arch;
      lastTarget = binary.target;
    } else {
      text += ", " + arch;
    }
  }
  return text + ")";
}

/// Kernels with parallel loops link libgomp, whose worker threads outlive
/// the call: unloading the library under them crashes the process at exit.
/// RTLD_NODELETE keeps it mapped until the process ends.
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;

/// Loaded bytes and where dlopen found them.
struct Opened {
  void *handle = nullptr;
  std::string path;
  int memfd = -1;
};

/// dlopen of an anonymous in-memory file. The fd stays open while the
/// library is loaded: glibc recognizes an already loaded library by its path
/// string, so "/proc/self/fd/N" must not name another library meanwhile.
StatusOr<Opened> openFromMemfd(const BinarySpec &binary,
                               const std::string &origin) {
  int fd = ::memfd_create("llamac-kernels", MFD_CLOEXEC);
  if (fd < 0)
    return Status::error(
        origin + ": cpu binary: memfd_create failed: " + std::strerror(errno));
  if (!writeAll(fd, binary.data.data(), binary.data.size())) {
    std::string reason = std::strerror(errno);
    ::close(fd);
    return Status::error(origin +
                         ": cpu binary: cannot write to memfd: " + reason);
  }
  Opened opened;
  opened.path = "/proc/self/fd/" + std::to_string(fd);
  opened.memfd = fd;
  opened.handle = ::dlopen(opened.path.c_str(), kDlopenFlags);
  if (!opened.handle) {
    const char *error = ::dlerror();
    ::close(fd);
    return Status::error(origin + ": cpu binary: dlopen failed: " +
                         (error ? error : "unknown error"));
  }
  return opened;
}

/// The fallback where /proc or memfd is missing: a private temporary file,
/// unlinked as soon as it is mapped.
StatusOr<Opened> openFromTempFile(const BinarySpec &binary,
                                  const std::string &origin) {
  const char *tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/llamac-kernels-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0)
    return Status::error(origin + ": cpu binary: cannot create " + pattern +
                         ": " + std::strerror(errno));
  bool written = writeAll(fd, binary.data.data(), binary.data.size());
  int savedErrno = errno;
  ::close(fd);
  Opened opened;
  opened.path = name.data();
  if (!written) {
    ::unlink(opened.path.c_str());
    return Status::error(origin + ": cpu binary: cannot write " + opened.path +
                         ": " + std::strerror(savedErrno));
  }
  opened.handle = ::dlopen(opened.path.c_str(), kDlopenFlags);
  ::unlink(opened.path.c_str());
  if (!opened.handle) {
    const char *error = ::dlerror();
    return Status::error(origin + ": cpu binary: dlopen failed: " +
                         (error ? error : "unknown error"));
  }
  return opened;
}

/// The best binary for this CPU, or an error saying why there is none.
StatusOr<const BinarySpec *> selectBinary(const ArtifactSpec &spec,
                                          const std::string &origin) {
  const BinarySpec *best = nullptr;
  int bestRank = -1;
  std::string rejected;
  bool anyCpu = false;
  for (const BinarySpec &binary : spec.binaries) {
    if (binary.target != "cpu")
      continue;
    anyCpu = true;
    CpuArchSupport support = checkCpuArch(binary.arch);
    if (!support.supported) {
      if (rejected.empty())
        rejected = "the cpu binary for " + binary.arch + " " + support.reason;
      continue;
    }
    if (support.rank > bestRank) {
      best = &binary;
      bestRank = support.rank;
    }
  }
  if (!anyCpu)
    return Status::error(origin + ": compiled for " + describeTargets(spec) +
                         ", not for the cpu target; recompile with "
                         "--target=cpu");
  if (!best)
    return Status::error(origin + ": " + rejected +
                         "; recompile with --cpu-arch for this machine (e.g. "
                         "x86-64-v3 or native)");
  if (best->format != "elf-shared-object")
    return Status::error(origin + ": cpu binary: format '" + best->format +
                         "' is not 'elf-shared-object'");
  static const uint8_t elfMagic[4] = {0x7f, 'E', 'L', 'F'};
  if (best->data.size() < 4 || std::memcmp(best->data.data(), elfMagic, 4))
    return Status::error(origin + ": cpu binary: data is not an ELF file");
  return best;
}

} // namespace

StatusOr<std::unique_ptr<CpuKernelLibrary>>
CpuKernelLibrary::load(const ArtifactSpec &spec, const std::string &origin) {
  StatusOr<const BinarySpec *> selected = selectBinary(spec, origin);
  if (!selected.ok())
    return selected.status();
  const BinarySpec &binary = **selected;

  StatusOr<Opened> opened = openFromMemfd(binary, origin);
  if (!opened.ok()) {
    StatusOr<Opened> fallback = openFromTempFile(binary, origin);
    // A dlopen failure (missing libgomp, bad ELF) is the same either way;
    // report the first attempt's, which names the real cause.
    if (!fallback.ok())
      return opened.status();
    opened = std::move(fallback);
  }

  std::unique_ptr<CpuKernelLibrary> library(new CpuKernelLibrary());
  library->handle = opened->handle;
  library->loadPath = opened->path;
  library->memfd = opened->memfd;
  library->loadedArch = binary.arch;

  const void *version = ::dlsym(library->handle, kKernelAbiVersionSymbol);
  if (!version)
    return Status::error(origin + ": cpu binary: symbol " +
                         kKernelAbiVersionSymbol +
                         " not found; it was not built by llamac's cpu target");
  int abi = *static_cast<const int *>(version);
  if (abi != LLAMA_KERNEL_ABI_VERSION)
    return Status::error(origin + ": cpu binary: kernel ABI version " +
                         std::to_string(abi) + ", but this runtime calls " +
                         std::to_string(LLAMA_KERNEL_ABI_VERSION) +
                         "; recompile the model with a matching llamac");

  library->kernels.reserve(spec.kernels.size());
  for (size_t index = 0; index < spec.kernels.size(); ++index) {
    const std::string &symbol = spec.kernels[index].symbol;
    void *address = ::dlsym(library->handle, symbol.c_str());
    if (!address)
      return Status::error(origin + ": kernel " + std::to_string(index) + " '" +
                           symbol + "': symbol not found in the cpu binary");
    library->kernels.push_back(reinterpret_cast<LlamaCpuKernel>(address));
  }
  return library;
}

CpuKernelLibrary::~CpuKernelLibrary() {
  if (handle)
    ::dlclose(handle);
  if (memfd < 0)
    return;
  // dlclose keeps a library that has STB_GNU_UNIQUE symbols (common in C++)
  // loaded. Its path must then never name another file, or a later dlopen
  // would silently return these kernels; so keep the fd number taken.
  void *resident = ::dlopen(loadPath.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (resident) {
    ::dlclose(resident);
    return;
  }
  ::close(memfd);
}
