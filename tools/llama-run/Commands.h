//===- Commands.h - The subcommands of llama-run -----------------*- C++
//-*-===//
//
// Each subcommand parses its own flags and reports failure as a Status;
// main() prints "llama-run: error: MESSAGE" and exits 1.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TOOLS_LLAMA_RUN_COMMANDS_H
#define LLAMAC_TOOLS_LLAMA_RUN_COMMANDS_H

#include "Flags.h"

#include "runtime/Executor.h"
#include "runtime/Status.h"

#include <memory>
#include <string>
#include <vector>

namespace llamac::run {

runtime::Status generateCommand(const std::vector<std::string> &args);
runtime::Status chatCommand(const std::vector<std::string> &args);
runtime::Status benchCommand(const std::vector<std::string> &args);
runtime::Status logitsCommand(const std::vector<std::string> &args);
runtime::Status infoCommand(const std::vector<std::string> &args);
runtime::Status gradsCommand(const std::vector<std::string> &args);
runtime::Status perplexityCommand(const std::vector<std::string> &args);
runtime::Status trainCommand(const std::vector<std::string> &args);

/// The flags that say where an artifact runs (--threads, --device,
/// --no-cuda-graphs, --no-pdl, --no-clusters, --jit, --ptx,
/// --portable-kernels), shared by every command that runs one.
struct DeviceFlags {
  int64_t threads = 0;
  std::string device = "auto";
  bool noCudaGraphs = false;
  bool noProgrammaticLaunch = false;
  bool noClusters = false;
  bool jit = false;
  bool ptx = false;
  std::string portableKernels;

  void addTo(FlagSet &flags);
  /// The executor options these flags ask for, for `artifact`.
  runtime::StatusOr<runtime::ExecutorOptions>
  options(const std::string &artifact, bool profile) const;
};

/// The flags that say which model to run, shared by generate, bench, logits
/// and grads (train has its own, since --resume takes the weights from its
/// checkpoint).
struct ModelFlags {
  std::string artifact;
  std::string weights;
  bool randomWeights = false;
  int64_t weightsSeed = 1;
  DeviceFlags run;

  /// `seedFlag` names the flag that seeds random weights ("seed", or
  /// "weights-seed" where --seed seeds sampling).
  void addTo(FlagSet &flags, const std::string &seedFlag);
  /// Reads the artifact and weights and creates the executor for --device.
  runtime::StatusOr<std::unique_ptr<runtime::Executor>>
  open(bool profile = false) const;
};

/// Parses --device: "cpu", "cuda" or "auto".
runtime::StatusOr<runtime::Device> parseDevice(const std::string &text);

/// Prints the kernel times of `profile` (per kernel of `spec`) summed by op
/// and origin family, largest first, under "TITLE kernels:".
void printBreakdown(const char *title, const artifact::ArtifactSpec &spec,
                    const std::vector<runtime::KernelTime> &profile);

/// Prints --help when asked; returns true when the command should stop.
bool handleHelp(const FlagSet &flags);

} // namespace llamac::run

#endif // LLAMAC_TOOLS_LLAMA_RUN_COMMANDS_H
