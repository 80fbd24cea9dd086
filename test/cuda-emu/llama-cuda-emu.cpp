//===- llama-cuda-emu.cpp - A cuda artifact whose kernels run on the CPU --===//
//
//   llama-cuda-emu IN.art -o OUT.art [--arch sm_80] [--asan]
//   llama-cuda-emu --source KERNELS.cu -o KERNELS.so [--arch sm_90a] [--asan]
//
// Compiles IN's embedded CUDA source for the host with CudaEmulation.h and
// the fiber scheduler, and writes OUT: IN with its cuda binaries replaced by
// that shared object, labelled as a cubin for --arch (default sm_80). With
// --arch sm_90a the source sees __CUDA_ARCH_FEAT_SM90_ALL, as NVRTC's
// compilation for that arch does, so its kernels take their wgmma paths;
// run OUT with LLAMAC_FAKE_CUDA_SM=90 then. Run OUT with the fake
// driver (LLAMAC_LIBCUDA=libFakeCudaDriver.so llama-run ... --device cuda):
// the runtime's cuda path runs unchanged, and each launch runs the kernel's
// whole grid through the emulator. It checks what the kernels compute
// (indexing, tiling, fragment layouts, epilogues, barriers), not their
// speed or the hardware's memory model; test/gpu/check.sh does that.
//
// --source compiles a CUDA file the same way into a shared object that
// exports its kernels and llamaEmuLaunch (CudaEmulationTest uses it).
//
// --asan instruments the kernels' heap and global accesses with
// AddressSanitizer (not their stacks, which are fibers' stacks), so that a
// kernel reading or writing past a buffer fails with the access; run
// llama-run with LD_PRELOAD naming the compiler's ASan runtime
// (`clang++ -print-file-name=libclang_rt.asan-x86_64.so`).
//
//===----------------------------------------------------------------------===//

#include "runtime/ArtifactIO.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

using namespace llamac;
using namespace llamac::runtime;

namespace {

int usage(const char *message) {
  std::fprintf(stderr,
               "llama-cuda-emu: %s\nusage: llama-cuda-emu IN.art -o OUT.art "
               "[--arch sm_80] [--asan]\n       llama-cuda-emu --source "
               "KERNELS.cu -o KERNELS.so [--arch sm_90a] [--asan]\n",
               message);
  return 2;
}

/// Runs argv, returning its exit status (127 when it cannot start).
int runProgram(const std::vector<std::string> &args) {
  std::vector<char *> argv;
  for (const std::string &arg : args)
    argv.push_back(const_cast<char *>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
    return 127;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
    return 128;
  return WEXITSTATUS(status);
}

/// Compiles CUDA source for the host with the emulator; prints why not.
bool compileForHost(const std::string &source, const std::string &object,
                    const std::string &origin, const std::string &arch,
                    bool asan) {
  // The unrolled loops are as NVRTC sees them.
  std::vector<std::string> command = {
      LLAMAC_EMU_CXX,   "-std=c++17", "-O2", "-fPIC", "-shared",
      "-fno-strict-aliasing", "-w", "-DLLAMAC_CUDA_EMULATION", "-I",
      LLAMAC_EMU_SOURCE_ROOT, "-include", LLAMAC_EMU_HEADER};
  if (arch == "sm_90a")
    command.push_back("-D__CUDA_ARCH_FEAT_SM90_ALL");
  if (asan)
    command.insert(command.end(), {LLAMAC_EMU_ASAN_FLAGS});
  command.insert(command.end(), {"-x", "c++", source, "-x", "none",
                                 LLAMAC_EMU_LIBRARY, "-o", object});
  int status = runProgram(command);
  if (status == 0)
    return true;
  std::fprintf(stderr,
               "llama-cuda-emu: %s: compiling the kernel source for the CPU "
               "failed (exit %d)\n",
               origin.c_str(), status);
  return false;
}

struct TempDir {
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    path = std::string(base && *base ? base : "/tmp") + "/llama-cuda-emu.XXXXXX";
    if (!mkdtemp(path.data()))
      path.clear();
  }
  ~TempDir() {
    if (!path.empty())
      runProgram({"rm", "-rf", path});
  }
  std::string path;
};

} // namespace

int main(int argc, char **argv) {
  std::string input, output, arch = "sm_80", cudaSource;
  bool asan = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-o" && i + 1 < argc)
      output = argv[++i];
    else if (arg == "--arch" && i + 1 < argc)
      arch = argv[++i];
    else if (arg == "--source" && i + 1 < argc)
      cudaSource = argv[++i];
    else if (arg == "--asan")
      asan = true;
    else if (!arg.empty() && arg[0] != '-' && input.empty())
      input = arg;
    else
      return usage(("unexpected argument '" + arg + "'").c_str());
  }
  if (!cudaSource.empty()) {
    if (!input.empty() || output.empty())
      return usage("--source takes one .cu file and -o");
    return compileForHost(cudaSource, output, cudaSource, arch, asan) ? 0 : 1;
  }
  if (input.empty() || output.empty())
    return usage("needs IN.art and -o OUT.art");

  StatusOr<artifact::ArtifactSpec> spec = readArtifact(input);
  if (!spec.ok()) {
    std::fprintf(stderr, "llama-cuda-emu: %s\n", spec.message().c_str());
    return 1;
  }
  bool hasCuda = false;
  for (const artifact::BinarySpec &binary : spec->binaries)
    hasCuda |= binary.target == "cuda";
  if (!hasCuda) {
    std::fprintf(stderr,
                 "llama-cuda-emu: %s: has no cuda binaries (compile it with "
                 "--target=cuda)\n",
                 input.c_str());
    return 1;
  }

  TempDir dir;
  if (dir.path.empty()) {
    std::fprintf(stderr, "llama-cuda-emu: cannot create a temporary dir\n");
    return 1;
  }
  std::string source = dir.path + "/kernels.cu", object = dir.path + "/emu.so";
  {
    std::ofstream file(source, std::ios::binary);
    file << spec->kernelSource;
    if (!file) {
      std::fprintf(stderr, "llama-cuda-emu: cannot write %s\n",
                   source.c_str());
      return 1;
    }
  }
  if (!compileForHost(source, object, input, arch, asan))
    return 1;
  std::ifstream file(object, std::ios::binary);
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());

  std::vector<artifact::BinarySpec> binaries;
  for (artifact::BinarySpec &binary : spec->binaries)
    if (binary.target != "cuda")
      binaries.push_back(std::move(binary));
  binaries.push_back({"cuda", arch, "cubin", std::move(data)});
  spec->binaries = std::move(binaries);
  spec->provenance.toolVersion = "llama-cuda-emu (" LLAMAC_EMU_CXX ")";
  Status written = writeArtifact(*spec, output);
  if (!written.ok()) {
    std::fprintf(stderr, "llama-cuda-emu: %s\n", written.message().c_str());
    return 1;
  }
  return 0;
}
