//===- Grads.cpp - llama-run grads: the loss and every weight gradient ----===//
//
// Runs an artifact's loss_and_grads entry (llamac --entry=forward_loss
// --autodiff) on given tokens and writes the loss and d(loss)/d(weight) of
// every weight to a .safetensors file, for comparisons against another
// framework's autograd. Gradients are in the artifact's row order, which for
// adjacent RoPE is Meta's.
//
//===----------------------------------------------------------------------===//

#include "Commands.h"

#include "runtime/LossEntry.h"
#include "runtime/Safetensors.h"
#include "runtime/Tensor.h"

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

namespace {

constexpr char kEntry[] = "loss_and_grads";
constexpr char kGradPrefix[] = "grad.";

} // namespace

Status llamac::run::gradsCommand(const std::vector<std::string> &args) {
  ModelFlags model;
  std::string tokenText, targetText, weightText, output;
  FlagSet flags("grads",
                "Runs the loss_and_grads entry on one batch and writes the "
                "loss (tensor \"loss\", shape [1]) and the gradient of every "
                "weight (named as the weight) to a .safetensors file.");
  model.addTo(flags, "seed");
  flags.addString("tokens", &tokenText, "IDS",
                  "batch * seq token ids, row-major (required)");
  flags.addString("targets", &targetText, "IDS",
                  "the token each position should predict, as many as "
                  "--tokens (required)");
  flags.addString("loss-weights", &weightText, "LIST",
                  "per-position loss weights (default: all 1)");
  flags.addString("o", &output, "FILE", "output .safetensors (required)");
  LLAMAC_RETURN_IF_ERROR(flags.parse(args));
  if (handleHelp(flags))
    return {};
  if (tokenText.empty() || targetText.empty())
    return Status::error("--tokens and --targets: required");
  if (output.empty())
    return Status::error("-o: required");
  StatusOr<std::vector<int64_t>> tokens = parseIntegerList(
      "--tokens", tokenText, INT32_MIN, INT32_MAX, "a token id");
  if (!tokens.ok())
    return tokens.status();
  StatusOr<std::vector<int64_t>> targets = parseIntegerList(
      "--targets", targetText, INT32_MIN, INT32_MAX, "a token id");
  if (!targets.ok())
    return targets.status();
  std::vector<float> weights(tokens->size(), 1.0f);
  if (!weightText.empty()) {
    StatusOr<std::vector<float>> parsed =
        parseNumberList("--loss-weights", weightText);
    if (!parsed.ok())
      return parsed.status();
    weights = std::move(parsed).value();
  }
  if (targets->size() != tokens->size() || weights.size() != tokens->size())
    return Status::error("--tokens has " + std::to_string(tokens->size()) +
                         " ids, --targets " + std::to_string(targets->size()) +
                         " and --loss-weights " +
                         std::to_string(weights.size()) +
                         "; they must match");

  StatusOr<std::unique_ptr<Executor>> opened = model.open();
  if (!opened.ok())
    return opened.status();
  Executor &session = **opened;
  const artifact::ArtifactSpec &spec = session.spec();
  int entry = session.entryIndex(kEntry);
  if (entry < 0)
    return Status::error(model.artifact + ": has no '" + kEntry +
                         "' entry (compile with llamac --entry=forward_loss "
                         "--autodiff)");
  const artifact::EntrySpec &e = spec.entries[size_t(entry)];
  int64_t count = int64_t(tokens->size());
  if (count % e.batch != 0)
    return Status::error("--tokens: " + std::to_string(count) +
                         " ids are not a multiple of the artifact's batch " +
                         std::to_string(e.batch));
  int64_t seq = count / e.batch;

  Batch batch{{tokens->begin(), tokens->end()},
              {targets->begin(), targets->end()},
              std::move(weights)};
  StatusOr<std::vector<InputData>> inputs =
      lossEntryInputs(spec, entry, model.artifact, batch);
  if (!inputs.ok())
    return inputs.status();
  LLAMAC_RETURN_IF_ERROR(session.run(entry, *inputs, 0, seq));

  // Copies first: each outputF32 may reuse its scratch.
  std::vector<Tensor> results;
  for (size_t i = 0; i < e.outputs.size(); ++i) {
    std::string name = spec.buffers[e.outputs[i]].name;
    if (i == 0)
      name = "loss";
    else if (name.rfind(kGradPrefix, 0) == 0)
      name = name.substr(sizeof(kGradPrefix) - 1);
    else
      continue;
    std::vector<int64_t> shape = session.outputShape(entry, i);
    StatusOr<const float *> data = session.outputF32(entry, i);
    if (!data.ok())
      return data.status();
    if (shape.empty())
      shape = {1};
    Tensor tensor;
    tensor.name = name;
    tensor.shape = shape;
    tensor.data.assign(*data, *data + numElements(shape));
    results.push_back(std::move(tensor));
  }
  return writeSafetensors(output, f32Views(results),
                          {{"format", "llamac-gradients"}});
}
