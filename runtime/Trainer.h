//===- Trainer.h - Runs an artifact's train_step entry ----------*- C++ -*-===//
//
// Training on any executor (the cpu session, or a GPU's): one train_step
// call computes the loss, the gradients, their norm, the step's rate and
// the AdamW update, all inside the artifact's kernels, writing the weights
// and moments in place, so they stay on the device between steps. The
// trainer only feeds batches and the schedule, reads the three scalars
// back, and copies the weights and optimizer state out to save a
// checkpoint or in to resume one.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_TRAINER_H
#define LLAMAC_RUNTIME_TRAINER_H

#include "runtime/Executor.h"
#include "runtime/Safetensors.h"
#include "runtime/Status.h"
#include "runtime/TrainingData.h"

#include <map>
#include <memory>
#include <string>

namespace llamac::runtime {

/// The learning-rate schedule's run-time half (its shape is compiled in).
struct Schedule {
  float peakLr = 3e-4f;
  int32_t warmupSteps = 2000;
  int32_t totalSteps = 0;
};

struct StepResult {
  float loss = 0;
  float lr = 0;
  /// Before clipping.
  float gradNorm = 0;
};

class Trainer {
public:
  /// Fails unless `executor` has a train_step entry with the inputs tokens,
  /// targets, loss_weights, schedule and peak_lr.
  static StatusOr<std::unique_ptr<Trainer>>
  create(std::unique_ptr<Executor> executor, const std::string &origin);

  Executor &executor() { return *device; }
  /// The batch size train_step was compiled for.
  int64_t batch() const;
  /// Its tokens per row: fixed, or -1 for any length up to maxSeq().
  int64_t fixedSeq() const;
  int64_t maxSeq() const;
  /// Whether the artifact has forward_loss, which evaluation needs.
  bool canEvaluate() const { return lossEntry >= 0; }

  /// Runs step `step` (counted from 1) of the schedule on `batch`.
  StatusOr<StepResult> step(int64_t step, const Schedule &schedule,
                            const Batch &batch, int64_t seq);
  /// forward_loss on `batch`: the weighted mean loss, and the sum of its
  /// loss weights (to average over batches).
  StatusOr<std::pair<double, double>> evaluate(const Batch &batch, int64_t seq);

  /// Writes every weight (Meta names and row order, f32) and every
  /// optimizer-state tensor to a .safetensors file, atomically, with
  /// `metadata`. The file loads as weights anywhere a checkpoint does.
  Status saveCheckpoint(const std::string &path,
                        std::map<std::string, std::string> metadata);
  /// Copies the optimizer state of `checkpoint` (read from `path`, saved by
  /// saveCheckpoint) into the executor, and returns its metadata. The
  /// weights are bound when the executor is created from the same file.
  StatusOr<std::map<std::string, std::string>>
  restoreState(const SafetensorsFile &checkpoint, const std::string &path);

private:
  Trainer() = default;

  std::unique_ptr<Executor> device;
  std::string origin;
  int trainEntry = -1;
  int lossEntry = -1;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_TRAINER_H
