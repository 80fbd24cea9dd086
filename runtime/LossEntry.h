//===- LossEntry.h - Feeding one batch to a loss entry ----------*- C++ -*-===//
//
// forward_loss, loss_and_grads and train_step all take a batch as three
// inputs (tokens, targets, loss_weights) and return the weighted mean loss
// first. Training, evaluation, llama-run grads and llama-run perplexity
// feed them through these.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_LOSSENTRY_H
#define LLAMAC_RUNTIME_LOSSENTRY_H

#include "runtime/Executor.h"
#include "runtime/Status.h"
#include "runtime/TrainingData.h"

#include <string>
#include <utility>
#include <vector>

namespace llamac::runtime {

/// The inputs of loss entry `entry` of `spec` for `batch`: its tokens,
/// targets and loss weights at their argument positions, any other input
/// left empty for the caller. Fails, naming `origin` (the artifact), when
/// the entry lacks one of the three.
StatusOr<std::vector<InputData>>
lossEntryInputs(const artifact::ArtifactSpec &spec, int entry,
                const std::string &origin, const Batch &batch);

/// Runs loss entry `entry` of `executor` on `batch` (rows of `seq` tokens):
/// the weighted mean loss it returns, and the sum of the batch's loss
/// weights, which weighs that mean when averaging over batches.
StatusOr<std::pair<double, double>> evaluateLoss(Executor &executor, int entry,
                                                 const std::string &origin,
                                                 const Batch &batch,
                                                 int64_t seq);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_LOSSENTRY_H
