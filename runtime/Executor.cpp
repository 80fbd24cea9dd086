//===- Executor.cpp - Runs an artifact's entries on some device -----------===//

#include "runtime/Executor.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/CallCheck.h"
#include "runtime/CpuExecutor.h"
#include "runtime/CudaSession.h"

#include <cstring>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

Executor::~Executor() = default;

int Executor::entryIndex(const std::string &name) const {
  const auto &entries = spec().entries;
  for (size_t e = 0; e < entries.size(); ++e)
    if (entries[e].name == name)
      return int(e);
  return -1;
}

std::string CpuExecutor::describe() const {
  return "cpu " + session->kernelArch() + ", " +
         std::to_string(session->threads()) +
         (session->threads() == 1 ? " thread" : " threads");
}

Status CpuExecutor::copyPersistentOut(uint32_t id, void *host, size_t bytes) {
  LLAMAC_RETURN_IF_ERROR(checkPersistentCopy(spec(), session->origin(),
                                             session->loadOnly(), id, bytes));
  std::memcpy(host, session->persistentData(id), bytes);
  return {};
}

Status CpuExecutor::copyPersistentIn(uint32_t id, const void *host,
                                     size_t bytes) {
  LLAMAC_RETURN_IF_ERROR(checkPersistentCopy(spec(), session->origin(),
                                             session->loadOnly(), id, bytes));
  std::memcpy(session->persistentData(id), host, bytes);
  return {};
}

namespace {

StatusOr<std::unique_ptr<Executor>> createCpu(ArtifactSpec spec,
                                              WeightSource &weights,
                                              const ExecutorOptions &options) {
  SessionOptions cpu;
  cpu.origin = options.origin;
  cpu.numThreads = options.numThreads;
  cpu.profile = options.profile;
  StatusOr<std::unique_ptr<Session>> session =
      Session::create(std::move(spec), weights, cpu);
  if (!session.ok())
    return session.status();
  return std::unique_ptr<Executor>(new CpuExecutor(std::move(session).value()));
}

StatusOr<std::unique_ptr<Executor>> createCuda(ArtifactSpec spec,
                                               WeightSource &weights,
                                               const ExecutorOptions &options) {
  CudaSessionOptions cuda;
  cuda.origin = options.origin;
  cuda.profile = options.profile;
  cuda.graphs = options.cudaGraphs;
  cuda.programmaticLaunch = options.cudaProgrammaticLaunch;
  cuda.clusters = options.cudaClusters;
  cuda.code = options.cudaCode;
  cuda.portableKernels = options.cudaPortableKernels;
  StatusOr<std::unique_ptr<CudaSession>> session =
      CudaSession::create(std::move(spec), weights, cuda);
  if (!session.ok())
    return session.status();
  return std::unique_ptr<Executor>(std::move(session).value());
}

} // namespace

StatusOr<std::unique_ptr<Executor>>
llamac::runtime::createExecutor(ArtifactSpec spec, WeightSource &weights,
                                ExecutorOptions options) {
  Device device = options.device;
  if (device == Device::Auto) {
    bool cpu = findBinary(spec, "cpu") != nullptr;
    bool cuda = findBinary(spec, "cuda") != nullptr;
    if (cuda && !cpu)
      device = Device::Cuda;
    else if (cuda && cpu)
      device = CudaDevice::open().ok() ? Device::Cuda : Device::Cpu;
    else
      device = Device::Cpu; // Whose error names what the artifact lacks.
  }
  if (device == Device::Cuda)
    return createCuda(std::move(spec), weights, options);
  if (!options.cudaPortableKernels.empty())
    return Status::error(options.origin +
                         ": --portable-kernels picks CUDA kernels, but this "
                         "artifact runs on the cpu here (--device cpu, or no "
                         "usable GPU)");
  if (options.cudaCode != CudaCode::Binary)
    return Status::error(
        options.origin + ": " +
        (options.cudaCode == CudaCode::Source ? "--jit compiles"
                                              : "--ptx loads") +
        " CUDA kernels, but this artifact runs on the cpu here (--device "
        "cpu, or no usable GPU)");
  return createCpu(std::move(spec), weights, options);
}
