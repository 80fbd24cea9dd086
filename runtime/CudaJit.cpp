//===- CudaJit.cpp - llama-run --jit: the embedded source, compiled here --===//

#include "runtime/CudaJit.h"

#include "runtime/AtomicFile.h"
#include "runtime/Fnv1a.h"
#include "runtime/MappedFile.h"
#include "runtime/ModelDirectory.h"
#include "runtime/NvrtcOptions.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <memory>
#include <sys/stat.h>
#include <type_traits>

using namespace llamac;
using namespace llamac::runtime;

namespace {

/// The part of NVRTC's C API that --jit calls, declared here so that the
/// runtime builds without the toolkit's headers (as CudaApi.h does for the
/// driver). Every function returns an nvrtcResult, 0 on success.
struct Nvrtc {
  using Program = struct NvrtcProgramOpaque *;
  int (*version)(int *, int *) = nullptr;
  int (*createProgram)(Program *, const char *, const char *, int,
                       const char *const *, const char *const *) = nullptr;
  int (*compileProgram)(Program, int, const char *const *) = nullptr;
  int (*destroyProgram)(Program *) = nullptr;
  int (*getProgramLogSize)(Program, size_t *) = nullptr;
  int (*getProgramLog)(Program, char *) = nullptr;
  int (*getCubinSize)(Program, size_t *) = nullptr;
  int (*getCubin)(Program, char *) = nullptr;
  const char *(*errorString)(int) = nullptr;
  /// Where the library was found, and its "13.0".
  std::string path;
  std::string versionText;

  std::string describe(int result) const {
    const char *text = errorString ? errorString(result) : nullptr;
    return text ? text : "NVRTC error " + std::to_string(result);
  }
};

/// dlopen's answer for the first of `names` that loads, or its error.
void *openFirst(const std::vector<std::string> &names, std::string &error) {
  for (const std::string &name : names) {
    if (void *handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL))
      return handle;
    if (error.empty()) {
      const char *text = ::dlerror();
      error = text ? text : name + ": cannot be loaded";
    }
  }
  return nullptr;
}

/// Loads NVRTC, once per library name: it stays loaded. Failures are not
/// remembered, so that a later call may find it (LLAMAC_LIBNVRTC changed).
StatusOr<const Nvrtc *> loadNvrtc() {
  static std::map<std::string, std::unique_ptr<Nvrtc>> loaded;
  std::vector<std::string> names;
  const char *overridden = std::getenv("LLAMAC_LIBNVRTC");
  if (overridden && *overridden) {
    names.push_back(overridden);
  } else {
    names = {"libnvrtc.so.13", "libnvrtc.so"};
    std::vector<std::string> roots;
    if (const char *home = std::getenv("CUDA_HOME"); home && *home)
      roots.push_back(home);
    roots.push_back("/usr/local/cuda");
    for (const std::string &root : roots)
      for (const char *name : {"/lib64/libnvrtc.so.13", "/lib64/libnvrtc.so"})
        names.push_back(root + name);
  }
  std::unique_ptr<Nvrtc> &cached = loaded[names.front()];
  if (cached)
    return cached.get();
  std::string error;
  void *handle = openFirst(names, error);
  if (!handle)
    return Status::error("--jit: cannot load NVRTC: " + error +
                         "; install the CUDA toolkit's NVRTC, or set "
                         "LLAMAC_LIBNVRTC to its libnvrtc.so");
  auto nvrtcOwner = std::make_unique<Nvrtc>();
  Nvrtc &nvrtc = *nvrtcOwner;

  std::string missing;
  auto resolve = [&](auto &member, const char *symbol) {
    member = reinterpret_cast<std::remove_reference_t<decltype(member)>>(
        ::dlsym(handle, symbol));
    if (!member && missing.empty())
      missing = symbol;
  };
  resolve(nvrtc.version, "nvrtcVersion");
  resolve(nvrtc.createProgram, "nvrtcCreateProgram");
  resolve(nvrtc.compileProgram, "nvrtcCompileProgram");
  resolve(nvrtc.destroyProgram, "nvrtcDestroyProgram");
  resolve(nvrtc.getProgramLogSize, "nvrtcGetProgramLogSize");
  resolve(nvrtc.getProgramLog, "nvrtcGetProgramLog");
  resolve(nvrtc.getCubinSize, "nvrtcGetCUBINSize");
  resolve(nvrtc.getCubin, "nvrtcGetCUBIN");
  resolve(nvrtc.errorString, "nvrtcGetErrorString");
  Dl_info info{};
  nvrtc.path =
      nvrtc.version &&
              ::dladdr(reinterpret_cast<void *>(nvrtc.version), &info) &&
              info.dli_fname
          ? info.dli_fname
          : names.front();
  if (!missing.empty()) {
    ::dlclose(handle);
    return Status::error("--jit: " + nvrtc.path + " lacks " + missing +
                         " (NVRTC too old? --jit needs NVRTC 11.1 or newer)");
  }
  int major = 0, minor = 0;
  nvrtc.version(&major, &minor);
  nvrtc.versionText = std::to_string(major) + "." + std::to_string(minor);
  cached = std::move(nvrtcOwner);
  return cached.get();
}

bool isFile(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

/// The directory holding cuda_fp16.h for NVRTC's includes.
StatusOr<std::string> cudaIncludeDir(const Nvrtc &nvrtc) {
  if (const char *dir = std::getenv("LLAMAC_CUDA_INCLUDE"); dir && *dir) {
    if (!isFile(std::string(dir) + "/cuda_fp16.h"))
      return Status::error("--jit: LLAMAC_CUDA_INCLUDE=" + std::string(dir) +
                           " has no cuda_fp16.h");
    return std::string(dir);
  }
  // The toolkit NVRTC came from: ROOT/lib64/libnvrtc.so (or ROOT/lib, or
  // ROOT/targets/x86_64-linux/lib) beside ROOT/include.
  std::vector<std::string> candidates = {
      parentDirectory(parentDirectory(nvrtc.path)) + "/include"};
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    candidates.push_back(std::string(home) + "/include");
  candidates.push_back("/usr/local/cuda/include");
  for (const std::string &dir : candidates)
    if (isFile(dir + "/cuda_fp16.h"))
      return dir;
  return Status::error("--jit: cuda_fp16.h not found (looked in " +
                       candidates.front() +
                       " and /usr/local/cuda/include); set "
                       "LLAMAC_CUDA_INCLUDE to the CUDA toolkit's include "
                       "directory");
}

std::string cacheDirectory() {
  if (const char *dir = std::getenv("LLAMAC_CACHE_DIR"); dir && *dir)
    return std::string(dir) + "/cubin";
  if (const char *dir = std::getenv("XDG_CACHE_HOME"); dir && *dir)
    return std::string(dir) + "/llamac/cubin";
  const char *home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/llamac/cubin";
}

/// mkdir -p; the error names the directory that could not be made.
Status makeDirectories(const std::string &path) {
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/')
      continue;
    std::string prefix = path.substr(0, at);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::error(prefix + ": " + std::strerror(errno));
  }
  return {};
}

/// The hash of everything that decides the cubin but the arch and NVRTC's
/// version, which the file name spells out.
std::string codeHash(const std::string &source,
                     const std::vector<std::string> &options) {
  // A byte no text holds ends each piece, so that pieces cannot trade
  // characters.
  uint64_t hash = fnv1a64("\xff", fnv1a64(source));
  for (const std::string &option : options)
    hash = fnv1a64("\xff", fnv1a64(option, hash));
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", (unsigned long long)hash);
  return text;
}

/// An ELF file for NVIDIA's machine (EM_CUDA, 190): what NVRTC writes.
bool looksLikeCubin(const std::vector<uint8_t> &bytes) {
  return bytes.size() >= 64 &&
         std::memcmp(bytes.data(),
                     "\x7f"
                     "ELF",
                     4) == 0 &&
         (bytes[18] | bytes[19] << 8) == 190;
}

StatusOr<std::vector<uint8_t>> compile(const Nvrtc &nvrtc,
                                       const std::string &source,
                                       const std::vector<std::string> &options,
                                       const std::string &arch) {
  Nvrtc::Program program = nullptr;
  if (int r = nvrtc.createProgram(&program, source.c_str(), kNvrtcSourceName, 0,
                                  nullptr, nullptr))
    return Status::error("--jit: nvrtcCreateProgram: " + nvrtc.describe(r));
  std::vector<const char *> pointers;
  for (const std::string &option : options)
    pointers.push_back(option.c_str());
  int compiled =
      nvrtc.compileProgram(program, int(pointers.size()), pointers.data());
  std::vector<uint8_t> cubin;
  std::string error;
  if (compiled) {
    size_t size = 0;
    nvrtc.getProgramLogSize(program, &size);
    std::string log(size, '\0');
    if (size)
      nvrtc.getProgramLog(program, log.data());
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
      log.pop_back();
    error = "--jit: NVRTC " + nvrtc.versionText + " failed for " + arch + ": " +
            nvrtc.describe(compiled) + "\n" + log;
  } else {
    size_t size = 0;
    int got = nvrtc.getCubinSize(program, &size);
    if (!got && size) {
      cubin.resize(size);
      got = nvrtc.getCubin(program, reinterpret_cast<char *>(cubin.data()));
    }
    if (got || !size)
      error = "--jit: NVRTC produced no cubin for " + arch +
              (got ? ": " + nvrtc.describe(got) : "");
  }
  nvrtc.destroyProgram(&program);
  if (!error.empty())
    return Status::error(error);
  return cubin;
}

} // namespace

StatusOr<JitCubin> llamac::runtime::jitCompileCubin(const std::string &source,
                                                    SmVersion sm) {
  if (source.empty())
    return Status::error("--jit: the artifact embeds no CUDA source");
  StatusOr<const Nvrtc *> loaded = loadNvrtc();
  if (!loaded.ok())
    return loaded.status();
  const Nvrtc &nvrtc = **loaded;
  // The arch llamac itself would build for this GPU (Hopper's is sm_90a).
  const std::string arch = nvrtcArchFor(sm.major, sm.minor);
  std::vector<std::string> options = nvrtcCodeOptions(arch);
  const std::string directory = cacheDirectory();
  const std::string path = directory + "/" + codeHash(source, options) + "-" +
                           arch + "-nvrtc" + nvrtc.versionText + ".cubin";
  const std::string prefix =
      "JIT cubin " + arch + " (NVRTC " + nvrtc.versionText + ", ";

  JitCubin result;
  // A missing or unreadable entry is a miss, like a corrupt one.
  StatusOr<std::shared_ptr<const MappedFile>> cached = MappedFile::open(path);
  if (cached.ok() && (*cached)->size())
    result.cubin.assign((*cached)->data(),
                        (*cached)->data() + (*cached)->size());
  if (looksLikeCubin(result.cubin)) {
    result.description = prefix + "cached as " + path + ")";
    return result;
  }

  StatusOr<std::string> include = cudaIncludeDir(nvrtc);
  if (!include.ok())
    return include.status();
  options.push_back("-I" + *include);
  auto start = std::chrono::steady_clock::now();
  StatusOr<std::vector<uint8_t>> cubin = compile(nvrtc, source, options, arch);
  if (!cubin.ok())
    return cubin.status();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  result.cubin = std::move(cubin).value();
  result.compiled = true;
  char elapsed[32];
  std::snprintf(elapsed, sizeof(elapsed), "compiled in %.1f s, ", seconds);

  Status stored = makeDirectories(directory);
  if (stored.ok())
    stored = writeFileAtomically(path, [&](FileSink &sink) {
      sink.write(result.cubin.data(), result.cubin.size());
      return Status();
    });
  result.description =
      prefix + elapsed +
      (stored.ok() ? "cached as " + path : "not cached: " + stored.message()) +
      ")";
  return result;
}
