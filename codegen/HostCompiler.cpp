//===- HostCompiler.cpp - Kernels to a shared object via the host C++ ----===//
//
// The CPU target compiles at llamac time, so a deployment needs no compiler:
// the shared object travels inside the artifact.
//
//===----------------------------------------------------------------------===//

#include "codegen/KernelCompiler.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace llvm;
using namespace llamac;
using namespace llamac::codegen;

namespace {

Error failure(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

class HostCompiler : public KernelCompiler {
public:
  HostCompiler(std::string compiler, std::string cpuArch,
               std::vector<std::string> flags)
      : compilerName(std::move(compiler)), cpuArch(std::move(cpuArch)),
        flags(std::move(flags)) {}

  Expected<std::vector<artifact::BinarySpec>>
  compile(const std::string &source) override;
  std::string version() override;

private:
  Expected<std::string> findCompiler() {
    const char *fromEnv = std::getenv("LLAMAC_CXX");
    StringRef name = fromEnv && *fromEnv ? StringRef(fromEnv) : compilerName;
    ErrorOr<std::string> path = sys::findProgramByName(name);
    if (!path)
      return failure("host compiler '" + name +
                     "' not found on PATH (set LLAMAC_CXX to a C++ "
                     "compiler with OpenMP)");
    return *path;
  }

  /// Runs `program args...`, returning its combined stdout and stderr.
  Expected<std::string> run(const std::string &program,
                            const std::vector<std::string> &args,
                            int &exitCode);

  std::string compilerName;
  std::string cpuArch;
  std::vector<std::string> flags;
};

} // namespace

Expected<std::string> HostCompiler::run(const std::string &program,
                                        const std::vector<std::string> &args,
                                        int &exitCode) {
  SmallString<128> log;
  if (std::error_code ec = sys::fs::createTemporaryFile("llamac-cc", "log", log))
    return failure("cannot create a temporary file: " + ec.message());
  auto removeLog = make_scope_exit([&] { sys::fs::remove(log); });
  SmallVector<StringRef> argv = {program};
  for (const std::string &arg : args)
    argv.push_back(arg);
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string error;
  exitCode = sys::ExecuteAndWait(program, argv, std::nullopt, redirects, 0, 0,
                                 &error);
  if (exitCode < 0)
    return failure("could not run " + program + ": " + error);
  ErrorOr<std::unique_ptr<MemoryBuffer>> output = MemoryBuffer::getFile(log);
  return output ? (*output)->getBuffer().str() : std::string();
}

Expected<std::vector<artifact::BinarySpec>>
HostCompiler::compile(const std::string &source) {
  Expected<std::string> compiler = findCompiler();
  if (!compiler)
    return compiler.takeError();
  SmallString<128> dir;
  if (std::error_code ec = sys::fs::createUniqueDirectory("llamac-cpu", dir))
    return failure("cannot create a temporary directory: " + ec.message());
  auto cleanup = make_scope_exit([&] { sys::fs::remove_directories(dir); });

  SmallString<128> sourcePath(dir), objectPath(dir);
  sys::path::append(sourcePath, "kernels.cpp");
  sys::path::append(objectPath, "kernels.so");
  {
    std::error_code ec;
    raw_fd_ostream os(sourcePath, ec);
    if (ec)
      return failure(sourcePath + ": " + ec.message());
    os << source;
  }
  std::vector<std::string> args;
  for (const std::string &flag : flags)
    if (!StringRef(flag).starts_with("-march="))
      args.push_back(flag);
  args.push_back("-march=" + cpuArch);
  args.insert(args.end(), {"-shared", "-fPIC", "-o", std::string(objectPath),
                           std::string(sourcePath)});
  int exitCode = 0;
  Expected<std::string> log = run(*compiler, args, exitCode);
  if (!log)
    return log.takeError();
  if (exitCode != 0)
    return failure("the host compiler failed (exit " + Twine(exitCode) +
                   ") on the generated kernels:\n" + *log);

  ErrorOr<std::unique_ptr<MemoryBuffer>> object =
      MemoryBuffer::getFile(objectPath, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false);
  if (!object)
    return failure(objectPath + ": " + object.getError().message());
  artifact::BinarySpec binary;
  binary.target = "cpu";
  binary.arch = cpuArch;
  binary.format = "elf-shared-object";
  StringRef bytes = (*object)->getBuffer();
  binary.data.assign(bytes.begin(), bytes.end());
  return std::vector<artifact::BinarySpec>{std::move(binary)};
}

std::string HostCompiler::version() {
  Expected<std::string> compiler = findCompiler();
  if (!compiler) {
    consumeError(compiler.takeError());
    return "unknown";
  }
  int exitCode = 0;
  Expected<std::string> out = run(*compiler, {"--version"}, exitCode);
  if (!out) {
    consumeError(out.takeError());
    return "unknown";
  }
  return StringRef(*out).split('\n').first.str();
}

std::unique_ptr<KernelCompiler>
llamac::codegen::createHostCompiler(std::string compiler, std::string cpuArch,
                                    std::vector<std::string> flags) {
  return std::make_unique<HostCompiler>(std::move(compiler), std::move(cpuArch),
                                        std::move(flags));
}
