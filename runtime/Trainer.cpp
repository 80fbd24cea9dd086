//===- Trainer.cpp - Runs an artifact's train_step entry ------------------===//

#include "runtime/Trainer.h"

#include "runtime/ArtifactLayout.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/LossEntry.h"
#include "runtime/Safetensors.h"
#include "runtime/Tensor.h"

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

constexpr char kTrainStep[] = "train_step";
constexpr char kForwardLoss[] = "forward_loss";

} // namespace

StatusOr<std::unique_ptr<Trainer>>
Trainer::create(std::unique_ptr<Executor> executor, const std::string &origin) {
  std::unique_ptr<Trainer> trainer(new Trainer());
  trainer->origin = origin;
  trainer->trainEntry = executor->entryIndex(kTrainStep);
  trainer->lossEntry = executor->entryIndex(kForwardLoss);
  if (trainer->trainEntry < 0)
    return Status::error(origin + ": has no '" + kTrainStep +
                         "' entry (compile with llamac --entry=train_step)");
  const ArtifactSpec &spec = executor->spec();
  for (int entry : {trainer->trainEntry, trainer->lossEntry}) {
    if (entry < 0)
      continue;
    std::vector<const char *> names = {"tokens", "targets", "loss_weights"};
    if (entry == trainer->trainEntry) {
      names.push_back("schedule");
      names.push_back("peak_lr");
    }
    const EntrySpec &e = spec.entries[size_t(entry)];
    for (const char *name : names)
      if (artifact::inputIndex(spec, entry, name) < 0)
        return Status::error(origin + ": entry '" + e.name +
                             "' has no input '" + name + "'");
    if (e.inputs.size() != names.size())
      return Status::error(origin + ": entry '" + e.name + "' takes " +
                           std::to_string(e.inputs.size()) +
                           " inputs; expected " +
                           std::to_string(names.size()));
    size_t outputs = entry == trainer->trainEntry ? 3 : 1;
    if (e.outputs.size() < outputs)
      return Status::error(origin + ": entry '" + e.name + "' has " +
                           std::to_string(e.outputs.size()) +
                           " outputs; expected " + std::to_string(outputs));
  }
  if (trainer->lossEntry >= 0 &&
      spec.entries[size_t(trainer->lossEntry)].batch !=
          spec.entries[size_t(trainer->trainEntry)].batch)
    trainer->lossEntry = -1;
  trainer->device = std::move(executor);
  return trainer;
}

int64_t Trainer::batch() const {
  return device->spec().entries[size_t(trainEntry)].batch;
}
int64_t Trainer::fixedSeq() const {
  return device->spec().entries[size_t(trainEntry)].seq;
}
int64_t Trainer::maxSeq() const {
  return device->spec().entries[size_t(trainEntry)].maxSeq;
}

StatusOr<StepResult> Trainer::step(int64_t step, const Schedule &schedule,
                                   const Batch &batch, int64_t seq) {
  if (step < 1 || step > INT32_MAX)
    return Status::error("step " + std::to_string(step) +
                         " is outside [1, 2^31)");
  const int32_t steps[3] = {int32_t(step), schedule.warmupSteps,
                            schedule.totalSteps};
  const float peak = schedule.peakLr;
  const ArtifactSpec &spec = device->spec();
  StatusOr<std::vector<InputData>> inputs =
      lossEntryInputs(spec, trainEntry, origin, batch);
  if (!inputs.ok())
    return inputs.status();
  // create() checked that train_step has both.
  (*inputs)[size_t(inputIndex(spec, trainEntry, "schedule"))] = {steps,
                                                                 sizeof(steps)};
  (*inputs)[size_t(inputIndex(spec, trainEntry, "peak_lr"))] = {&peak,
                                                                sizeof(peak)};
  LLAMAC_RETURN_IF_ERROR(device->run(trainEntry, *inputs, 0, seq));
  StepResult result;
  float *scalars[] = {&result.loss, &result.lr, &result.gradNorm};
  for (size_t i = 0; i < 3; ++i) {
    StatusOr<const float *> value = device->outputF32(trainEntry, i);
    if (!value.ok())
      return value.status();
    *scalars[i] = (*value)[0];
  }
  return result;
}

StatusOr<std::pair<double, double>> Trainer::evaluate(const Batch &batch,
                                                      int64_t seq) {
  if (lossEntry < 0)
    return Status::error(origin + ": has no '" + kForwardLoss +
                         "' entry of the training batch size to evaluate "
                         "with");
  return evaluateLoss(*device, lossEntry, origin, batch, seq);
}

Status Trainer::saveCheckpoint(const std::string &path,
                               std::map<std::string, std::string> metadata) {
  const ArtifactSpec &spec = device->spec();
  std::vector<Tensor> owned;
  owned.reserve(spec.buffers.size());
  for (size_t id = 0; id < spec.buffers.size(); ++id) {
    const BufferSpec &buffer = spec.buffers[id];
    if (buffer.kind != BufferKind::Weight && buffer.kind != BufferKind::State)
      continue;
    if (buffer.type != artifact::ElementType::F32)
      return Status::error(origin + ": " + buffer.name +
                           ": training checkpoints hold f32 weights; this "
                           "artifact stores it in another type");
    std::vector<float> data(size_t(numElements(buffer.shape)));
    LLAMAC_RETURN_IF_ERROR(device->copyPersistentOut(
        uint32_t(id), data.data(), data.size() * sizeof(float)));
    Tensor tensor{buffer.name, buffer.shape, {}};
    int64_t heads =
        ropeHeads(buffer.name, spec.config.nHeads, spec.config.nKvHeads);
    // Weights are saved in Meta's row order, as every Meta-named file is;
    // optimizer state stays in the artifact's (restoreState reads it back
    // into the same layout).
    if (buffer.kind == BufferKind::Weight && heads &&
        spec.config.ropeStyle == RopeStyle::HalfSplit)
      tensor.data = unpermuteFromHalfSplitRope(
          data.data(), heads, buffer.shape[0], buffer.shape[1]);
    else
      tensor.data = std::move(data);
    owned.push_back(std::move(tensor));
  }
  metadata["format"] = "llamac-training-checkpoint";
  metadata["state_rope_layout"] =
      spec.config.ropeStyle == RopeStyle::HalfSplit ? "half" : "adjacent";
  return writeSafetensors(path, f32Views(owned), metadata);
}

StatusOr<std::map<std::string, std::string>>
Trainer::restoreState(const SafetensorsFile &checkpoint,
                      const std::string &path) {
  const ArtifactSpec &spec = device->spec();
  auto format = checkpoint.metadata.find("format");
  if (format == checkpoint.metadata.end() ||
      format->second != "llamac-training-checkpoint")
    return Status::error(path + ": not a training checkpoint of llama-run "
                                "train (its metadata has no format "
                                "\"llamac-training-checkpoint\")");
  auto found = checkpoint.metadata.find("state_rope_layout");
  std::string stateLayout =
      found == checkpoint.metadata.end() ? "(none)" : found->second;
  std::string layout =
      spec.config.ropeStyle == RopeStyle::HalfSplit ? "half" : "adjacent";
  if (stateLayout != layout)
    return Status::error(path + ": its optimizer state is in " +
                         stateLayout +
                         " RoPE row order, the artifact's in " + layout);
  for (size_t id = 0; id < spec.buffers.size(); ++id) {
    const BufferSpec &buffer = spec.buffers[id];
    if (buffer.kind != BufferKind::State)
      continue;
    const SafetensorsTensor *tensor = checkpoint.find(buffer.name);
    if (!tensor)
      return Status::error(path + ": " + buffer.name +
                           ": not found (resuming needs the optimizer state "
                           "that llama-run train saves)");
    if (tensor->shape != buffer.shape ||
        tensor->type != runtime::ElementType::F32)
      return Status::error(path + ": " + buffer.name + ": " +
                           toSafetensorsName(tensor->type) + " " +
                           shapeToString(tensor->shape) +
                           ", but the artifact needs F32 " +
                           shapeToString(buffer.shape));
    LLAMAC_RETURN_IF_ERROR(
        device->copyPersistentIn(uint32_t(id), tensor->data, tensor->byteSize));
  }
  return checkpoint.metadata;
}
