//===- LossInputs.cpp - The inputs of a loss entry, from one batch --------===//

#include "Commands.h"

#include "runtime/ArtifactLayout.h"

#include <tuple>

using namespace llamac;
using namespace llamac::run;
using namespace llamac::runtime;

StatusOr<std::vector<InputData>>
llamac::run::lossEntryInputs(const Executor &session, int entry,
                             const std::string &origin, const Batch &batch) {
  const artifact::ArtifactSpec &spec = session.spec();
  const artifact::EntrySpec &e = spec.entries[size_t(entry)];
  std::vector<InputData> inputs(e.inputs.size());
  for (auto [name, data, bytes] :
       {std::tuple<const char *, const void *, size_t>{
            "tokens", batch.tokens.data(), batch.tokens.size() * 4},
        {"targets", batch.targets.data(), batch.targets.size() * 4},
        {"loss_weights", batch.lossWeights.data(),
         batch.lossWeights.size() * 4}}) {
    int index = artifact::inputIndex(spec, entry, name);
    if (index < 0)
      return Status::error(origin + ": entry '" + e.name + "' has no input '" +
                           name + "'");
    inputs[size_t(index)] = {data, bytes};
  }
  return inputs;
}
