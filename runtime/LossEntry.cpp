//===- LossEntry.cpp - Feeding one batch to a loss entry ------------------===//

#include "runtime/LossEntry.h"

#include "runtime/ArtifactLayout.h"

#include <tuple>

namespace llamac::runtime {

StatusOr<std::vector<InputData>>
lossEntryInputs(const artifact::ArtifactSpec &spec, int entry,
                const std::string &origin, const Batch &batch) {
  const artifact::EntrySpec &e = spec.entries[size_t(entry)];
  std::vector<InputData> inputs(e.inputs.size());
  for (auto [name, data, bytes] :
       {std::tuple<const char *, const void *, size_t>{
            "tokens", batch.tokens.data(),
            batch.tokens.size() * sizeof(int32_t)},
        {"targets", batch.targets.data(),
         batch.targets.size() * sizeof(int32_t)},
        {"loss_weights", batch.lossWeights.data(),
         batch.lossWeights.size() * sizeof(float)}}) {
    int index = artifact::inputIndex(spec, entry, name);
    if (index < 0)
      return Status::error(origin + ": entry '" + e.name + "' has no input '" +
                           name + "'");
    inputs[size_t(index)] = {data, bytes};
  }
  return inputs;
}

StatusOr<std::pair<double, double>> evaluateLoss(Executor &executor, int entry,
                                                 const std::string &origin,
                                                 const Batch &batch,
                                                 int64_t seq) {
  StatusOr<std::vector<InputData>> inputs =
      lossEntryInputs(executor.spec(), entry, origin, batch);
  if (!inputs.ok())
    return inputs.status();
  LLAMAC_RETURN_IF_ERROR(executor.run(entry, *inputs, 0, seq));
  StatusOr<const float *> loss = executor.outputF32(entry, 0);
  if (!loss.ok())
    return loss.status();
  double weight = 0;
  for (float w : batch.lossWeights)
    weight += w;
  return std::make_pair(double((*loss)[0]), weight);
}

} // namespace llamac::runtime
