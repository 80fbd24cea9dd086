//===- CpuExecutor.h - The cpu Session as an Executor -----------*- C++ -*-===//
//
// An adapter rather than a base class of Session, so that the cpu session's
// own API and its decode loop stay exactly as they were: llama-run pays one
// virtual call per entry call, nothing per kernel.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CPUEXECUTOR_H
#define LLAMAC_RUNTIME_CPUEXECUTOR_H

#include "runtime/Executor.h"
#include "runtime/Session.h"

#include <memory>

namespace llamac::runtime {

class CpuExecutor final : public Executor {
public:
  explicit CpuExecutor(std::unique_ptr<Session> session)
      : session(std::move(session)) {}

  Session &cpuSession() { return *session; }

  const artifact::ArtifactSpec &spec() const override {
    return session->spec();
  }
  std::string describe() const override;
  Status run(int entry, const std::vector<InputData> &inputs, int32_t position,
             int64_t seq) override {
    return session->run(entry, inputs, position, seq);
  }
  std::vector<int64_t> outputShape(int entry, size_t index) const override {
    return session->outputShape(entry, index);
  }
  StatusOr<const float *> outputF32(int entry, size_t index) override {
    return session->outputF32(entry, index);
  }
  StatusOr<const float *> lastTokenLogits(int entry) override {
    return session->lastTokenLogits(entry);
  }
  Status resetCaches() override {
    session->resetCaches();
    return {};
  }
  Status copyPersistentOut(uint32_t id, void *host, size_t bytes) override;
  Status copyPersistentIn(uint32_t id, const void *host, size_t bytes) override;
  void setProfiling(bool enabled) override { session->setProfiling(enabled); }
  const std::vector<KernelTime> &profile() const override {
    return session->profile();
  }
  void clearProfile() override { session->clearProfile(); }

private:
  std::unique_ptr<Session> session;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CPUEXECUTOR_H
