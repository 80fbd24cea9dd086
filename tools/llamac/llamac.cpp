//===- llamac.cpp - The llamac compiler driver ----------------------------===//
//
// Reads a model config (preset or file), applies command-line overrides,
// builds the llama IR for the requested entry points, optionally runs the
// fusion pipeline, and writes what --emit asks for.
//
//===----------------------------------------------------------------------===//

#include "codegen/CompileArtifact.h"
#include "frontend/ConfigReaders.h"
#include "frontend/ModelBuilder.h"
#include "passes/KernelReport.h"
#include "passes/Passes.h"
#include "runtime/ArtifactIO.h"
#include "runtime/ArtifactVerifier.h"
#include "tools/llamac/Convert.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Transforms/ViewOpGraph.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <set>

using namespace llvm;
using namespace llamac;

namespace {

enum class Emit { Mlir, FusedMlir, Dot, Kernels, None };
enum class TargetFlag { None, Cpu, Cuda };

cl::OptionCategory modelCat("Model", "Which model to compile");
cl::OptionCategory overrideCat("Config overrides",
                               "Change one field of the model config");
cl::OptionCategory outputCat("Output", "What to produce");

cl::opt<std::string> model("model", cl::Required, cl::cat(modelCat),
                           cl::value_desc("preset|file"),
                           cl::desc("A preset (llama2-7b, llama2-13b, "
                                    "llama2-70b, tiny), a Meta params.json, "
                                    "a Hugging Face config.json, or a "
                                    "llama2.c checkpoint"));
cl::list<std::string>
    entries("entry", cl::CommaSeparated, cl::cat(modelCat),
            cl::value_desc("prefill,decode,forward_loss,train_step"),
            cl::desc("Entry points to build (default: prefill); train_step "
                     "also builds forward_loss, for evaluation"));
cl::opt<int64_t> batch("batch", cl::init(1), cl::cat(modelCat),
                       cl::desc("Batch size (default 1)"));
cl::opt<int64_t> seqLen("seq-len", cl::init(0), cl::cat(modelCat),
                        cl::desc("Tokens per prefill or training call; 0 "
                                 "(the default) leaves it dynamic"));

cl::opt<int64_t> dim("dim", cl::cat(overrideCat), cl::desc("Model width"));
cl::opt<int64_t> nLayers("n-layers", cl::cat(overrideCat),
                         cl::desc("Decoder layers"));
cl::opt<int64_t> nHeads("n-heads", cl::cat(overrideCat),
                        cl::desc("Query heads"));
cl::opt<int64_t> nKvHeads("n-kv-heads", cl::cat(overrideCat),
                          cl::desc("Key/value heads (fewer than --n-heads "
                                   "means grouped-query attention)"));
cl::opt<int64_t> ffnDim("ffn-dim", cl::cat(overrideCat),
                        cl::desc("SwiGLU hidden width"));
cl::opt<int64_t> vocabSize("vocab-size", cl::cat(overrideCat),
                           cl::desc("Vocabulary size"));
cl::opt<int64_t> maxSeq("max-seq", cl::cat(overrideCat),
                        cl::desc("KV-cache capacity in tokens"));
cl::opt<double> ropeTheta("rope-theta", cl::cat(overrideCat),
                          cl::desc("RoPE base"));
cl::opt<double> normEps("norm-eps", cl::cat(overrideCat),
                        cl::desc("RMSNorm epsilon"));
cl::opt<std::string> ropeStyle("rope-style", cl::cat(overrideCat),
                               cl::value_desc("adjacent|half"),
                               cl::desc("RoPE pairs: adjacent (Meta, "
                                        "llama2.c) or half (Hugging Face)"));
cl::opt<std::string> dtype("dtype", cl::cat(overrideCat),
                           cl::value_desc("f32|f16|bf16"),
                           cl::desc("Element type of weights and "
                                    "activations; with --entry=train_step, "
                                    "bf16 is mixed precision (f32 master "
                                    "weights)"));

cl::opt<Emit> emit(
    "emit", cl::init(Emit::None), cl::cat(outputCat),
    cl::desc("What to write to -o"),
    cl::values(clEnumValN(Emit::Mlir, "mlir", "The llama IR before fusion"),
               clEnumValN(Emit::FusedMlir, "fused-mlir",
                          "The llama IR after the fusion pipeline"),
               clEnumValN(Emit::Dot, "dot",
                          "The fused graph in Graphviz dot (render with "
                          "`dot -Tsvg`)"),
               clEnumValN(Emit::Kernels, "kernels",
                          "The generated kernel source of --target (default "
                          "cpu), with no compilation")));
cl::opt<std::string> output("o", cl::init("-"), cl::cat(outputCat),
                            cl::value_desc("file"),
                            cl::desc("Output file (default: stdout); written "
                                     "to a temporary file, then renamed"));
cl::OptionCategory targetCat("Target", "Compile an artifact for a target");
cl::opt<TargetFlag> target(
    "target", cl::init(TargetFlag::None), cl::cat(targetCat),
    cl::desc("Compile the model into an artifact for this target (needs -o)"),
    cl::values(clEnumValN(TargetFlag::Cpu, "cpu",
                          "The host CPU: C++ kernels built into a shared "
                          "object with OpenMP"),
               clEnumValN(TargetFlag::Cuda, "cuda",
                          "NVIDIA GPUs: CUDA C++ compiled by NVRTC into "
                          "cubins per --cuda-arch, plus PTX")));
cl::list<std::string> cudaArchs(
    "cuda-arch", cl::CommaSeparated, cl::cat(targetCat),
    cl::value_desc("sm_80,sm_86,sm_89,sm_90a"),
    cl::desc("GPU archs to build cubins for (default: these four); PTX for "
             "the lowest is always added for newer GPUs to JIT. sm_90a is "
             "Hopper with wgmma; sm_90 builds its portable mma.sync kernels"));
cl::opt<std::string> cpuArch("cpu-arch", cl::init("x86-64-v3"),
                             cl::cat(targetCat), cl::value_desc("march"),
                             cl::desc("CPU the kernels are built for: "
                                      "x86-64-v2, x86-64-v3 (default: AVX2 "
                                      "and FMA) or x86-64-v4; the runtime "
                                      "refuses a CPU that lacks it"));
cl::opt<int64_t> prefillMax("prefill-max", cl::init(0), cl::cat(targetCat),
                            cl::desc("Longest call of a dynamic-length "
                                     "prefill; its activation arena is "
                                     "planned for it (default: --max-seq)"));
cl::opt<bool> noFusion("no-fusion", cl::cat(targetCat),
                       cl::desc("Compile the unfused graph (one kernel per "
                                "op), to compare against fusion"));

cl::opt<bool> autodiff("autodiff", cl::cat(targetCat),
                       cl::desc("With --entry=forward_loss: also build "
                                "@loss_and_grads (llama-autodiff), before "
                                "fusion"));

cl::OptionCategory trainCat("Training",
                            "The optimizer of --entry=train_step (defaults: "
                            "the Llama 2 paper's)");
cl::opt<double> beta1("beta1", cl::init(0.9), cl::cat(trainCat),
                      cl::desc("AdamW first-moment decay (default 0.9)"));
cl::opt<double> beta2("beta2", cl::init(0.95), cl::cat(trainCat),
                      cl::desc("AdamW second-moment decay (default 0.95)"));
cl::opt<double> adamEpsilon("adam-epsilon", cl::init(1e-5), cl::cat(trainCat),
                            cl::desc("AdamW epsilon (default 1e-5)"));
cl::opt<double> weightDecay("weight-decay", cl::init(0.1), cl::cat(trainCat),
                            cl::desc("Decoupled weight decay of the matrices; "
                                     "norm gains never decay (default 0.1)"));
cl::opt<double> maxGradNorm("max-grad-norm", cl::init(1.0), cl::cat(trainCat),
                            cl::desc("Clip gradients to this global norm; 0 "
                                     "disables clipping (default 1.0)"));
cl::opt<double> finalLrRatio("final-lr-ratio", cl::init(0.1),
                             cl::cat(trainCat),
                             cl::desc("Where the cosine schedule ends, as a "
                                      "fraction of the peak rate (default "
                                      "0.1)"));

cl::opt<bool> report("report", cl::cat(outputCat),
                     cl::desc("Print the per-kernel FLOPs, bytes and "
                              "arithmetic intensity, before and after "
                              "fusion (needs a static --seq-len for "
                              "prefill)"));
cl::opt<int64_t> cachedTokens("context", cl::init(0), cl::cat(outputCat),
                         cl::desc("For --report: tokens already in the KV "
                                  "cache, which attention reads (default "
                                  "0)"));
cl::opt<bool> printAfterAll("print-ir-after-all", cl::cat(outputCat),
                            cl::desc("Print the IR to stderr after every "
                                     "pass"));
cl::list<std::string> printAfter("print-ir-after", cl::CommaSeparated,
                                 cl::cat(outputCat), cl::value_desc("pass"),
                                 cl::desc("Print the IR to stderr after the "
                                          "named passes (e.g. "
                                          "llama-fuse-swiglu)"));

int fail(const Twine &message) {
  WithColor::error(errs(), "llamac") << message << "\n";
  return 1;
}

std::string formatNumber(double value) {
  std::string text;
  raw_string_ostream(text) << value;
  return text;
}

template <class T, class U>
void setIf(cl::opt<T> &flag, std::optional<U> &field) {
  if (flag.getNumOccurrences())
    field = flag.getValue();
}

Expected<ModelConfig> loadConfig() {
  Expected<ModelConfig> config = loadModelConfig(model);
  if (!config)
    return config.takeError();
  ConfigOverrides o;
  setIf(dim, o.dim);
  setIf(nLayers, o.nLayers);
  setIf(nHeads, o.nHeads);
  setIf(nKvHeads, o.nKvHeads);
  setIf(ffnDim, o.ffnDim);
  setIf(vocabSize, o.vocabSize);
  setIf(maxSeq, o.maxSeqLen);
  setIf(ropeTheta, o.ropeTheta);
  setIf(normEps, o.normEps);
  if (ropeStyle.getNumOccurrences()) {
    o.ropeStyle = parseRopeStyle(ropeStyle);
    if (!o.ropeStyle)
      return createStringError(inconvertibleErrorCode(),
                               "--rope-style: expected 'adjacent' or 'half', "
                               "got '" + ropeStyle + "'");
  }
  if (dtype.getNumOccurrences()) {
    o.dtype = parseDType(dtype);
    if (!o.dtype)
      return createStringError(inconvertibleErrorCode(),
                               "--dtype: expected f32, f16 or bf16, got '" +
                                   dtype + "'");
  }
  if (Error err = applyOverrides(*config, o))
    return std::move(err);
  return config;
}

Expected<BuildOptions> buildOptions() {
  BuildOptions options;
  if (!entries.empty()) {
    options.entries.clear();
    for (const std::string &name : entries) {
      if (name == "train_step") {
        if (!llvm::is_contained(options.entries, EntryKind::ForwardLoss))
          options.entries.push_back(EntryKind::ForwardLoss);
        continue;
      }
      std::optional<EntryKind> kind = parseEntryKind(name);
      if (!kind)
        return createStringError(inconvertibleErrorCode(),
                                 "--entry: unknown entry point '" + name +
                                     "' (expected prefill, decode, "
                                     "forward_loss or train_step)");
      if (!llvm::is_contained(options.entries, *kind))
        options.entries.push_back(*kind);
    }
  }
  if (batch <= 0)
    return createStringError(inconvertibleErrorCode(),
                             "--batch: must be positive, got " +
                                 std::to_string(batch));
  options.batch = batch;
  if (seqLen < 0)
    return createStringError(inconvertibleErrorCode(),
                             "--seq-len: must be positive (or 0 for dynamic), got " +
                                 std::to_string(seqLen));
  if (seqLen > 0)
    options.seqLen = seqLen;
  return options;
}

/// Runs the fusion pipeline, printing IR between passes when asked.
mlir::LogicalResult fuse(mlir::MLIRContext &context, mlir::ModuleOp module) {
  mlir::PassManager pm(&context);
  bool training = llvm::any_of(module.getOps<mlir::func::FuncOp>(),
                               [](mlir::func::FuncOp f) {
                                 return f.getName() == "forward_loss";
                               });
  FusionPipelineOptions options;
  options.training = training;
  // The fused norm backward sums the gain gradient over every row after a
  // matmul over every row: two grid-wide dependencies that one CUDA launch
  // cannot order, so the CUDA target keeps the norm and matmul backwards
  // apart (three kernel kinds, each a single grid).
  options.fuseNormGrads = target != TargetFlag::Cuda;
  buildFusionPipeline(pm, options);
  if (printAfterAll || !printAfter.empty()) {
    context.disableMultithreading();
    std::set<std::string> wanted(printAfter.begin(), printAfter.end());
    pm.enableIRPrinting(
        /*shouldPrintBeforePass=*/nullptr,
        [&](mlir::Pass *pass, mlir::Operation *) {
          return printAfterAll || wanted.count(pass->getArgument().str());
        },
        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false);
  }
  return pm.run(module);
}

/// Compiles the (fused) module for --target and writes the artifact.
int writeArtifact(mlir::ModuleOp module, int argc, char **argv) {
  if (target == TargetFlag::Cpu && cpuArch != "x86-64-v2" &&
      cpuArch != "x86-64-v3" && cpuArch != "x86-64-v4")
    return fail("--cpu-arch: expected x86-64-v2, x86-64-v3 or x86-64-v4, got '" +
                cpuArch + "'");
  codegen::CompileOptions options;
  options.target =
      target == TargetFlag::Cuda ? codegen::Target::Cuda : codegen::Target::Cpu;
  options.cpuArch = cpuArch;
  static const std::set<std::string> knownArchs = {"sm_80", "sm_86", "sm_89",
                                                   "sm_90", "sm_90a"};
  if (!cudaArchs.empty()) {
    options.cudaArchs.clear();
    for (const std::string &arch : cudaArchs) {
      if (!knownArchs.count(arch))
        return fail("--cuda-arch: unknown arch '" + arch +
                    "' (expected sm_80, sm_86, sm_89, sm_90 or sm_90a)");
      options.cudaArchs.push_back(arch);
    }
  }
  options.lowering.maxSeq = prefillMax;
  for (int i = 0; i < argc; ++i)
    options.commandLine += (i ? " " : "") + std::string(argv[i]);
  Expected<artifact::ArtifactSpec> spec =
      codegen::compileArtifact(module, options);
  if (!spec)
    return fail(toString(spec.takeError()));
  // What the runtime would refuse must not be written in the first place.
  runtime::Status status = runtime::verifyArtifact(*spec, output);
  if (!status.ok())
    return fail("internal error: the compiled artifact does not verify: " +
                status.message());
  status = runtime::writeArtifact(*spec, output);
  if (!status.ok())
    return fail(status.message());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(
      {&modelCat, &overrideCat, &outputCat, &targetCat, &trainCat});
  cl::ParseCommandLineOptions(
      argc, argv,
      "llamac: compiles Llama 2 models\n\n"
      "  llamac --model llama2-70b --emit=mlir\n"
      "  llamac --model llama2-7b --entry=decode --emit=fused-mlir\n"
      "  llamac --model llama2-7b --entry=decode --report\n"
      "  llamac --model stories260K.bin --entry=prefill,decode --target=cpu "
      "-o m.art\n");

  if (convertCommand)
    return runConvert();

  Expected<ModelConfig> config = loadConfig();
  if (!config)
    return fail(toString(config.takeError()));
  Expected<BuildOptions> options = buildOptions();
  if (!options)
    return fail(toString(options.takeError()));
  if (emit == Emit::None && !report && target == TargetFlag::None)
    return fail("nothing to do: pass --emit=mlir|fused-mlir|dot, --report "
                "or --target");
  if (target != TargetFlag::None && emit != Emit::Kernels &&
      (output == "-" || emit != Emit::None))
    return fail("--target writes an artifact: give it -o FILE (or "
                "--emit=kernels to print the kernel source)");
  if (prefillMax < 0 || prefillMax > config->maxSeqLen)
    return fail("--prefill-max: must be between 1 and max_seq_len (" +
                std::to_string(config->maxSeqLen) + "), got " +
                std::to_string(prefillMax));

  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildModel(context, *config, *options);
  bool trainStep = llvm::is_contained(entries, "train_step");
  if (autodiff || trainStep) {
    if (!llvm::is_contained(options->entries, EntryKind::ForwardLoss))
      return fail("--autodiff: needs --entry=forward_loss");
    mlir::PassManager pm(&context);
    pm.addPass(createAutodiffPass());
    if (trainStep) {
      for (auto [flag, value, low, high, openHigh] :
           {std::tuple<const char *, double, double, double, bool>{
                "--beta1", beta1, 0, 1, true},
            {"--beta2", beta2, 0, 1, true},
            {"--weight-decay", weightDecay, 0, 1, false},
            {"--final-lr-ratio", finalLrRatio, 0, 1, false}})
        if (!(value >= low && (openHigh ? value < high : value <= high)))
          return fail(Twine(flag) + ": must be in [0, 1" +
                      (openHigh ? ")" : "]") + ", got " + formatNumber(value));
      if (!(adamEpsilon > 0))
        return fail("--adam-epsilon: must be positive, got " +
                    formatNumber(adamEpsilon));
      if (!(maxGradNorm >= 0))
        return fail("--max-grad-norm: must not be negative (0 disables "
                    "clipping), got " +
                    formatNumber(maxGradNorm));
      // 16-bit training is mixed precision: the optimizer updates f32
      // master weights, rounded to the compute type at each call. f16's
      // narrow range would flush small gradients to zero without loss
      // scaling, which llamac does not do.
      if (config->dtype == DType::F16)
        return fail("--dtype f16 with --entry=train_step: f16 gradients "
                    "underflow without loss scaling, which llamac does not "
                    "implement; train in bf16 (mixed precision) or f32");
      BuildTrainStepPassOptions optimizer;
      optimizer.beta1 = beta1;
      optimizer.beta2 = beta2;
      optimizer.epsilon = adamEpsilon;
      optimizer.weightDecay = weightDecay;
      optimizer.maxGradNorm = maxGradNorm;
      optimizer.finalLrRatio = finalLrRatio;
      buildTrainStepPipeline(pm, config->dtype == DType::BF16, optimizer);
    }
    if (mlir::failed(pm.run(*module)))
      return fail(trainStep ? "building the training step failed"
                            : "llama-autodiff failed");
  }

  if (cachedTokens < 0)
    return fail("--context: must not be negative, got " +
                std::to_string(cachedTokens));
  CostAssumptions assumptions{cachedTokens};
  std::vector<EntryCosts> unfused;
  if (report) {
    auto costs = computeKernelCosts(*module, assumptions);
    if (!costs)
      return fail(toString(costs.takeError()));
    unfused = std::move(*costs);
  }
  bool needFusion = ((emit == Emit::FusedMlir || emit == Emit::Dot ||
                      emit == Emit::Kernels) &&
                     !noFusion) ||
                    report ||
                    printAfterAll || !printAfter.empty() ||
                    (target != TargetFlag::None && !noFusion);
  if (needFusion && mlir::failed(fuse(context, *module)))
    return fail("the fusion pipeline failed");

  if (report) {
    auto fused = computeKernelCosts(*module, assumptions);
    if (!fused)
      return fail(toString(fused.takeError()));
    printKernelReport(unfused, *fused, assumptions, outs());
  }
  if (target != TargetFlag::None && emit == Emit::None)
    return writeArtifact(*module, argc, argv);
  if (emit == Emit::None)
    return 0;
  Error err = writeToOutput(output, [&](raw_ostream &os) -> Error {
    if (emit == Emit::Kernels) {
      auto emitter = codegen::createEmitter(target == TargetFlag::Cuda
                                                ? codegen::Target::Cuda
                                                : codegen::Target::Cpu);
      if (!emitter)
        return emitter.takeError();
      codegen::LoweringOptions lowering;
      lowering.maxSeq = prefillMax;
      auto spec = codegen::lowerToKernels(*module, **emitter, lowering);
      if (!spec)
        return spec.takeError();
      os << spec->kernelSource;
    } else if (emit == Emit::Dot) {
      mlir::PassManager pm(&context);
      pm.addPass(mlir::createPrintOpGraphPass(os));
      if (mlir::failed(pm.run(*module)))
        return createStringError(inconvertibleErrorCode(),
                                 "could not render the graph");
    } else {
      module->print(os);
      os << "\n";
    }
    return Error::success();
  });
  if (err)
    return fail(output + ": " + toString(std::move(err)));
  return 0;
}
