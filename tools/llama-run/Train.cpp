//===- Train.cpp - llama-run train: train or fine-tune on a text file -----===//
//
// Feeds random windows of a tokenized text file to the artifact's
// train_step, prints a progress line per --log-every steps, evaluates on
// fixed windows at the start and the end, and saves checkpoints (weights and
// AdamW state, atomically). --resume continues from the checkpoint at --save:
// batches depend only on the seed and the step, and the step itself is
// deterministic, so the losses are those an uninterrupted run prints.
// It runs on the executor --device picks, as generate does: the weights and
// optimizer state stay on the device, and only checkpoints copy them out.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "runtime/ArtifactIO.h"
#include "runtime/AtomicFile.h"
#include "runtime/CpuExecutor.h"
#include "runtime/Safetensors.h"
#include "runtime/Trainer.h"
#include "runtime/WeightSource.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sys/stat.h>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

struct TrainFlags {
  std::string artifact, weights, data, tokenizer, save, lossLog;
  std::string lossOn = "all-turns";
  bool randomWeights = false, resume = false, profile = false;
  DeviceFlags run;
  int64_t weightsSeed = 1, seed = 1;
  int64_t batch = 0, seq = 0, steps = 0, warmup = -1;
  int64_t saveEvery = 0, logEvery = 10, evalBatches = 8, stopAfter = 0;
  double lr = 3e-4;
};

/// What a checkpoint records of the run, so that --resume can refuse to
/// continue a different one.
std::map<std::string, std::string> runSettings(const TrainFlags &flags,
                                               const ModelConfig &config,
                                               const TokenStream &data,
                                               int64_t warmup) {
  char lr[32];
  std::snprintf(lr, sizeof(lr), "%.9g", flags.lr);
  return {
      {"model", "dim " + std::to_string(config.dim) + ", n_layers " +
                    std::to_string(config.nLayers) + ", n_heads " +
                    std::to_string(config.nHeads) + ", n_kv_heads " +
                    std::to_string(config.nKvHeads) + ", ffn_dim " +
                    std::to_string(config.ffnDim) + ", vocab_size " +
                    std::to_string(config.vocabSize)},
      {"data", data.hash},
      {"seed", std::to_string(flags.seed)},
      {"batch", std::to_string(flags.batch)},
      {"seq", std::to_string(flags.seq)},
      {"steps", std::to_string(flags.steps)},
      {"warmup", std::to_string(warmup)},
      {"lr", lr},
      {"loss_on", data.starts.empty() ? "text" : flags.lossOn},
  };
}

bool fileExists(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

Status checkFlags(const TrainFlags &f) {
  if (f.artifact.empty())
    return Status::error("--artifact: required");
  if (f.data.empty() || f.tokenizer.empty())
    return Status::error("--data and --tokenizer: required");
  if (f.steps <= 0 || f.steps > INT32_MAX)
    return Status::error("--steps: must be in [1, 2^31), got " +
                         std::to_string(f.steps));
  if (!(f.lr > 0) || f.lr > 1)
    return Status::error("--lr: must be in (0, 1], got " +
                         std::to_string(f.lr));
  if (f.warmup < -1 || f.warmup > f.steps)
    return Status::error("--warmup: must be between 0 and --steps (" +
                         std::to_string(f.steps) + "), got " +
                         std::to_string(f.warmup));
  if (f.run.threads < 0 || f.saveEvery < 0 || f.logEvery < 1 ||
      f.evalBatches < 0 || f.batch < 0 || f.seq < 0)
    return Status::error("--threads, --save-every, --eval-batches, --batch "
                         "and --seq must not be negative, --log-every must "
                         "be positive");
  if (f.lossOn != "all-turns" && f.lossOn != "last-turn")
    return Status::error("--loss-on: '" + f.lossOn +
                         "' is neither all-turns nor last-turn");
  if (f.stopAfter < 0 || f.stopAfter > f.steps)
    return Status::error("--stop-after: must be between 0 and --steps (" +
                         std::to_string(f.steps) + "), got " +
                         std::to_string(f.stopAfter));
  if (f.stopAfter > 0 && f.save.empty())
    return Status::error("--stop-after: needs --save, or the steps are lost");
  if (f.resume && f.save.empty())
    return Status::error("--resume: continues the checkpoint at --save, "
                         "which is missing");
  if (f.resume && (f.randomWeights || !f.weights.empty()))
    return Status::error("--resume: takes the weights from the checkpoint at "
                         "--save; drop --weights/--random-weights");
  if (!f.resume && f.randomWeights == !f.weights.empty())
    return Status::error("--weights or --random-weights: exactly one is "
                         "required");
  if (!f.resume && !f.save.empty() && fileExists(f.save))
    return Status::error("--save: " + f.save +
                         " exists; pass --resume to continue it, or choose "
                         "another path (nothing is overwritten)");
  return {};
}

/// Evaluates on the fixed windows; prints and returns the mean loss.
StatusOr<double> evaluate(Trainer &trainer, const BatchSampler &sampler,
                          int64_t batches, int64_t seq, int64_t step) {
  double total = 0, weight = 0;
  for (int64_t b = 0; b < batches; ++b) {
    StatusOr<std::pair<double, double>> result =
        trainer.evaluate(sampler.evalBatch(b), seq);
    if (!result.ok())
      return result.status();
    total += result->first * result->second;
    weight += result->second;
  }
  double loss = weight > 0 ? total / weight : 0;
  std::printf("eval  step %lld: loss %.6f over %.0f tokens\n", (long long)step,
              loss, weight);
  std::fflush(stdout);
  return loss;
}

} // namespace

Status llamac::run::trainCommand(const std::vector<std::string> &args) {
  TrainFlags f;
  FlagSet flags(
      "train",
      "Trains the artifact's train_step (llamac --entry=train_step) on a text "
      "file: documents separated by blank lines, each encoded with BOS. Each "
      "step takes --batch random windows of --seq + 1 tokens. A .jsonl file "
      "holds dialogues for supervised fine-tuning instead: one row per "
      "dialogue, the loss on the assistant's tokens only. Runs on the cpu, "
      "or on a GPU for an artifact compiled with --target=cuda (--device).");
  flags.addString("artifact", &f.artifact, "FILE",
                  "artifact compiled with --entry=train_step (required)");
  flags.addString("weights", &f.weights, "PATH",
                  "initial weights: llama2.c .bin, .safetensors, a "
                  "torch.save archive, an index or a model directory");
  flags.addBool("random-weights", &f.randomWeights,
                "start from random weights (uniform +-1/sqrt(fan-in), gains "
                "1) instead");
  flags.addInt("weights-seed", &f.weightsSeed, "seed of --random-weights");
  flags.addString("data", &f.data, "FILE",
                  "training text, or .jsonl dialogues {\"system\": ..., "
                  "\"turns\": [{\"user\": ..., \"assistant\": ...}]} "
                  "(required)");
  flags.addString("loss-on", &f.lossOn, "TURNS",
                  "dialogues: all-turns, or last-turn (Ghost Attention's "
                  "recipe: earlier turns weigh 0)");
  flags.addString("tokenizer", &f.tokenizer, "PATH",
                  "tokenizer.bin, SentencePiece .model, or a model directory "
                  "holding either (required)");
  flags.addInt("batch", &f.batch,
               "rows per step; 0 takes the artifact's (it must match)");
  flags.addInt("seq", &f.seq,
               "tokens per row; 0 takes the artifact's, if it fixed one");
  flags.addInt("steps", &f.steps, "total optimizer steps (required)");
  flags.addFloat("lr", &f.lr, "peak learning rate");
  flags.addInt("warmup", &f.warmup,
               "linear warmup steps before the cosine decay; -1 means the "
               "paper's 2000, or a tenth of --steps when that is fewer");
  flags.addInt("seed", &f.seed, "seed of the batch order");
  flags.addString("save", &f.save, "FILE",
                  "checkpoint .safetensors (weights and optimizer state), "
                  "written atomically at the end and every --save-every "
                  "steps");
  flags.addInt("save-every", &f.saveEvery,
               "also save every N steps; 0 saves only at the end");
  flags.addInt("stop-after", &f.stopAfter,
               "stop after this step, saving a checkpoint that --resume "
               "continues (for jobs with a time limit); 0 runs to --steps");
  flags.addBool("resume", &f.resume,
                "continue the run whose checkpoint is at --save, with the "
                "same flags");
  flags.addInt("log-every", &f.logEvery, "print a progress line every N steps");
  flags.addInt("eval-batches", &f.evalBatches,
               "batches of fixed windows to evaluate on at the start and the "
               "end; 0 skips evaluation");
  flags.addString("loss-log", &f.lossLog, "FILE",
                  "write step,loss,lr,grad_norm of every step (CSV)");
  flags.addBool("profile", &f.profile,
                "time every kernel and print a breakdown at the end");
  f.run.addTo(flags);
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  LLAMAC_RETURN_IF_ERROR(checkFlags(f));
  StatusOr<ExecutorOptions> options = f.run.options(f.artifact, f.profile);
  if (!options.ok())
    return options.status();

  StatusOr<artifact::ArtifactSpec> spec = readArtifact(f.artifact);
  if (!spec.ok())
    return spec.status();
  ModelConfig config = spec->config;
  std::unique_ptr<WeightSource> weights;
  // A checkpoint is always safetensors: read it as one, so that a damaged
  // file is reported as such rather than tried as a llama2.c checkpoint.
  SafetensorsFile checkpoint;
  if (f.resume) {
    StatusOr<SafetensorsFile> read = readSafetensors(f.save);
    if (!read.ok())
      return read.status();
    checkpoint = std::move(read).value();
  }
  if (f.randomWeights) {
    weights = createRandomWeights(uint64_t(f.weightsSeed));
  } else {
    StatusOr<std::unique_ptr<WeightSource>> opened =
        openWeightFile(f.resume ? f.save : f.weights);
    if (!opened.ok())
      return opened.status();
    weights = std::move(opened).value();
  }
  StatusOr<std::unique_ptr<Executor>> executor =
      createExecutor(std::move(spec).value(), *weights, *options);
  if (!executor.ok())
    return executor.status();
  StatusOr<std::unique_ptr<Trainer>> created =
      Trainer::create(std::move(executor).value(), f.artifact);
  if (!created.ok())
    return created.status();
  Trainer &trainer = **created;

  if (f.batch == 0)
    f.batch = trainer.batch();
  if (f.batch != trainer.batch())
    return Status::error("--batch " + std::to_string(f.batch) + ": " +
                         f.artifact + " was compiled for batch " +
                         std::to_string(trainer.batch()) +
                         " (llamac --batch)");
  if (f.seq == 0)
    f.seq = trainer.fixedSeq();
  if (f.seq <= 0)
    return Status::error("--seq: required, the artifact takes any length up "
                         "to " +
                         std::to_string(trainer.maxSeq()));
  if ((trainer.fixedSeq() > 0 && f.seq != trainer.fixedSeq()) ||
      f.seq > trainer.maxSeq())
    return Status::error("--seq " + std::to_string(f.seq) + ": " + f.artifact +
                         (trainer.fixedSeq() > 0
                              ? " was compiled for " +
                                    std::to_string(trainer.fixedSeq())
                              : " takes at most " +
                                    std::to_string(trainer.maxSeq())) +
                         " tokens per row");
  int64_t warmup = f.warmup >= 0 ? f.warmup
                                 : std::min<int64_t>(2000, f.steps / 10);

  StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      loadTokenizer(f.tokenizer, int(config.vocabSize));
  if (!tokenizer.ok())
    return tokenizer.status();
  bool dialogues = f.data.size() > 6 &&
                   f.data.compare(f.data.size() - 6, 6, ".jsonl") == 0;
  StatusOr<TokenStream> data =
      dialogues ? tokenizeDialogues(f.data, **tokenizer,
                                    f.lossOn == "last-turn" ? LossTurns::Last
                                                            : LossTurns::All)
                : tokenizeCorpus(f.data, **tokenizer);
  if (!data.ok())
    return data.status();
  StatusOr<BatchSampler> sampler =
      BatchSampler::create(*data, f.batch, f.seq, uint64_t(f.seed), f.data);
  if (!sampler.ok())
    return sampler.status();

  std::map<std::string, std::string> settings =
      runSettings(f, config, *data, warmup);
  int64_t first = 1;
  if (f.resume) {
    StatusOr<std::map<std::string, std::string>> saved =
        trainer.restoreState(checkpoint, f.save);
    if (!saved.ok())
      return saved.status();
    for (const auto &[key, value] : settings) {
      auto it = saved->find(key);
      std::string was = it == saved->end() ? "(none)" : it->second;
      if (was != value)
        return Status::error(f.save + ": was trained with " + key + " " + was +
                             ", this run has " + value +
                             "; --resume continues the same run");
    }
    char *end = nullptr;
    std::string stepText = (*saved)["step"];
    long long done = std::strtoll(stepText.c_str(), &end, 10);
    if (stepText.empty() || *end || done < 0)
      return Status::error(f.save + ": metadata step '" + stepText +
                           "' is not a step count");
    if (done >= f.steps)
      return Status::error(f.save + ": already at step " + stepText + " of " +
                           std::to_string(f.steps) + "; nothing to resume");
    first = done + 1;
  }

  // The cpu keeps its "N threads"; another backend names itself.
  auto *cpu = dynamic_cast<CpuExecutor *>(&trainer.executor());
  std::string backend =
      cpu ? std::to_string(cpu->cpuSession().threads()) + " threads"
          : trainer.executor().describe();
  std::printf(
      "train %s: %zu %s, %zu tokens; batch %lld x seq %lld, "
      "steps %lld, lr %g, warmup %lld, %s%s\n",
      f.data.c_str(), data->documents, dialogues ? "dialogues" : "documents",
      data->tokens.size(), (long long)f.batch, (long long)f.seq,
      (long long)f.steps, f.lr, (long long)warmup, backend.c_str(),
      f.resume ? (", resuming after step " + std::to_string(first - 1)).c_str()
               : "");
  std::fflush(stdout);

  int64_t evalBatches =
      trainer.canEvaluate() ? sampler->evalBatches(f.evalBatches) : 0;
  if (evalBatches > 0) {
    StatusOr<double> loss =
        evaluate(trainer, *sampler, evalBatches, f.seq, first - 1);
    if (!loss.ok())
      return loss.status();
  }

  Schedule schedule;
  schedule.peakLr = float(f.lr);
  schedule.warmupSteps = int32_t(warmup);
  schedule.totalSteps = int32_t(f.steps);
  auto saveAt = [&](int64_t step) -> Status {
    std::map<std::string, std::string> metadata = settings;
    metadata["step"] = std::to_string(step);
    return trainer.saveCheckpoint(f.save, metadata);
  };

  int64_t last = f.stopAfter > 0 ? f.stopAfter : f.steps;
  if (last < first)
    return Status::error("--stop-after " + std::to_string(f.stopAfter) +
                         ": the checkpoint is already past it");
  using Clock = std::chrono::steady_clock;
  std::string log = "step,loss,lr,grad_norm\n";
  Clock::time_point intervalStart = Clock::now();
  int64_t intervalSteps = 0;
  for (int64_t step = first; step <= last; ++step) {
    StatusOr<StepResult> result =
        trainer.step(step, schedule, sampler->trainBatch(step), f.seq);
    if (!result.ok())
      return result.status();
    ++intervalSteps;
    if (!std::isfinite(result->loss))
      return Status::error("step " + std::to_string(step) + ": the loss is " +
                           std::to_string(result->loss) +
                           "; lower --lr (the last checkpoint is unchanged)");
    char line[128];
    std::snprintf(line, sizeof(line), "%lld,%.9g,%.9g,%.9g\n",
                  (long long)step, double(result->loss), double(result->lr),
                  double(result->gradNorm));
    log += line;
    if (step % f.logEvery == 0 || step == first || step == last) {
      double seconds =
          std::chrono::duration<double>(Clock::now() - intervalStart).count();
      double tokens = double(intervalSteps * f.batch * f.seq);
      std::printf("step %5lld/%lld | loss %.6f | lr %.3e | grad norm %7.4f | "
                  "%.0f tok/s\n",
                  (long long)step, (long long)f.steps, double(result->loss),
                  double(result->lr), double(result->gradNorm),
                  seconds > 0 ? tokens / seconds : 0.0);
      std::fflush(stdout);
      intervalStart = Clock::now();
      intervalSteps = 0;
    }
    if (!f.save.empty() && f.saveEvery > 0 && step % f.saveEvery == 0 &&
        step != last)
      LLAMAC_RETURN_IF_ERROR(saveAt(step));
  }

  if (evalBatches > 0) {
    StatusOr<double> loss = evaluate(trainer, *sampler, evalBatches, f.seq, last);
    if (!loss.ok())
      return loss.status();
  }
  if (!f.save.empty()) {
    LLAMAC_RETURN_IF_ERROR(saveAt(last));
    std::printf("saved %s (step %lld of %lld)\n", f.save.c_str(),
                (long long)last, (long long)f.steps);
  }
  if (f.profile)
    printBreakdown("training (every entry)", trainer.executor().spec(),
                   trainer.executor().profile());
  if (!f.lossLog.empty())
    LLAMAC_RETURN_IF_ERROR(writeFileAtomically(
        f.lossLog, [&](FileSink &sink) -> Status {
          sink.write(log.data(), log.size());
          return {};
        }));
  return {};
}
