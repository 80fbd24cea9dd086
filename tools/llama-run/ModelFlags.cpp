//===- ModelFlags.cpp - Opening the model llama-run is told to run --------===//

#include "Commands.h"

#include "runtime/ArtifactIO.h"
#include "runtime/WeightSource.h"

#include <cstdio>
#include <thread>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

void ModelFlags::addTo(FlagSet &flags, const std::string &seedFlag) {
  flags.addString("artifact", &artifact, "FILE",
                  "compiled model (.art) from llamac (required)");
  flags.addString("weights", &weights, "PATH",
                  "llama2.c checkpoint (.bin), .safetensors or torch.save "
                  "archive (.pth, pytorch_model.bin; Meta or Hugging Face "
                  "names), a sharded checkpoint's index, or a model "
                  "directory (Hugging Face's, or Meta's consolidated.NN.pth "
                  "ranks); required unless --random-weights");
  flags.addBool("random-weights", &randomWeights,
                "bind deterministic random weights instead of a file");
  flags.addInt(seedFlag, &weightsSeed, "seed of --random-weights");
  run.addTo(flags);
}

void DeviceFlags::addTo(FlagSet &flags) {
  flags.addInt("threads", &threads,
               "threads each cpu kernel may use; 0 means one per CPU core");
  flags.addString("device", &device, "DEVICE",
                  "cpu, cuda, or auto: cuda when the artifact has only cuda "
                  "binaries (or both and a GPU is usable), else cpu");
  flags.addBool("no-cuda-graphs", &noCudaGraphs,
                "on cuda, launch every kernel of every call instead of "
                "replaying repeated calls (decode, training steps) from a "
                "captured CUDA graph");
  flags.addBool("no-pdl", &noProgrammaticLaunch,
                "on cuda, launch each kernel only once the previous one has "
                "finished, instead of while it drains (programmatic "
                "dependent launch, used on sm_90 and later GPUs)");
  flags.addBool("no-clusters", &noClusters,
                "on cuda, launch the kernels that share tiles between the "
                "blocks of a cluster (sm_90a's GEMMs) without clusters: "
                "each block then loads its own tiles whole");
  flags.addBool("jit", &jit,
                "on cuda, compile the artifact's embedded CUDA source for "
                "this GPU with NVRTC instead of loading a prebuilt cubin, "
                "cached in $LLAMAC_CACHE_DIR/cubin (default "
                "~/.cache/llamac/cubin)");
  flags.addBool("ptx", &ptx,
                "on cuda, JIT-compile the artifact's PTX (compute_80: the "
                "portable mma.sync kernels) even where a cubin matches the "
                "GPU: the baseline for sm_90a's wgmma kernels on a Hopper "
                "GPU, or a way around a cubin that fails");
  flags.addString("portable-kernels", &portableKernels, "WORD[,WORD...]",
                  "on cuda, run the kernels whose name contains one of the "
                  "words (e.g. matmul_grad,attention) from the artifact's "
                  "PTX while the rest run sm_90a's cubin: on a Hopper GPU, "
                  "finds which kernels' wgmma code goes wrong");
}

StatusOr<ExecutorOptions> DeviceFlags::options(const std::string &artifact,
                                               bool profile) const {
  if (threads < 0)
    return Status::error("--threads: must not be negative, got " +
                         std::to_string(threads));
  if (jit && ptx)
    return Status::error("--jit and --ptx exclude each other: --jit compiles "
                         "the embedded source, --ptx loads the artifact's "
                         "PTX");
  std::vector<std::string> portable;
  if (!portableKernels.empty()) {
    if (jit || ptx)
      return Status::error("--portable-kernels mixes the artifact's PTX with "
                           "its sm_90a cubin; it excludes --jit and --ptx");
    StatusOr<std::vector<std::string>> words =
        parseWordList("--portable-kernels", portableKernels);
    if (!words.ok())
      return words.status();
    portable = std::move(words).value();
  }
  StatusOr<Device> target = parseDevice(device);
  if (!target.ok())
    return target.status();
  ExecutorOptions options;
  options.origin = artifact;
  options.device = *target;
  options.numThreads =
      threads > 0 ? int(threads)
                  : int(std::max(1u, std::thread::hardware_concurrency()));
  options.profile = profile;
  options.cudaGraphs = !noCudaGraphs;
  options.cudaProgrammaticLaunch = !noProgrammaticLaunch;
  options.cudaClusters = !noClusters;
  options.cudaCode = jit   ? CudaCode::Source
                     : ptx ? CudaCode::Ptx
                           : CudaCode::Binary;
  options.cudaPortableKernels = std::move(portable);
  return options;
}

StatusOr<Device> llamac::run::parseDevice(const std::string &text) {
  if (text == "auto")
    return Device::Auto;
  if (text == "cpu")
    return Device::Cpu;
  if (text == "cuda")
    return Device::Cuda;
  return Status::error("--device: '" + text + "' is not cpu, cuda or auto");
}

bool llamac::run::handleHelp(const FlagSet &flags) {
  if (!flags.helpRequested())
    return false;
  std::fputs(flags.usage().c_str(), stdout);
  return true;
}

StatusOr<std::unique_ptr<Executor>> ModelFlags::open(bool profile) const {
  if (artifact.empty())
    return Status::error("--artifact: required");
  if (randomWeights && !weights.empty())
    return Status::error("--weights and --random-weights exclude each other");
  if (!randomWeights && weights.empty())
    return Status::error("--weights: required (or --random-weights)");
  StatusOr<ExecutorOptions> options = run.options(artifact, profile);
  if (!options.ok())
    return options.status();

  StatusOr<artifact::ArtifactSpec> spec = readArtifact(artifact);
  if (!spec.ok())
    return spec.status();

  std::unique_ptr<WeightSource> source;
  if (randomWeights) {
    source = createRandomWeights(uint64_t(weightsSeed));
  } else {
    StatusOr<std::unique_ptr<WeightSource>> opened = openWeightFile(weights);
    if (!opened.ok())
      return opened.status();
    source = std::move(opened).value();
  }

  return createExecutor(std::move(spec).value(), *source, *options);
}
