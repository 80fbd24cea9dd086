//===- CallCheck.h - Is a call of an entry valid? ---------------*- C++ -*-===//
//
// Every executor checks a call the same way before running anything: a
// wrong length or an out-of-range token id would otherwise be an
// out-of-bounds access inside a kernel, on the CPU or on the GPU.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_CALLCHECK_H
#define LLAMAC_RUNTIME_CALLCHECK_H

#include "runtime/ArtifactSpec.h"
#include "runtime/Executor.h"
#include "runtime/Status.h"

#include <functional>
#include <string>
#include <vector>

namespace llamac::runtime {

/// Checks the entry index, `seq` against the entry's length, that
/// `position + seq` fits the KV cache, the inputs' count and byte sizes, and
/// that token ids are inside the vocabulary. Messages start with `origin`:
/// "m.art: entry 'decode': seq 2: the entry takes exactly 1 tokens per call".
Status checkCall(const artifact::ArtifactSpec &spec, const std::string &origin,
                 int entry, const std::vector<InputData> &inputs,
                 int32_t position, int64_t seq);

/// Checks that buffer `id` exists, is a weight or optimizer-state buffer,
/// takes exactly `bytes` and is not a weight the executor freed once the
/// load entry packed it (`loadOnly`), before an executor copies it whole to
/// or from the host: "m.art: buffers[3] 'norm.packed': packed, not a weight
/// or state buffer; only those are copied to or from the host".
Status checkPersistentCopy(const artifact::ArtifactSpec &spec,
                           const std::string &origin,
                           const std::vector<bool> &loadOnly, uint32_t id,
                           size_t bytes);

/// Runs the artifact's "load" entry (weight packing), if it has one, through
/// `run(entry, seq)`, once the weights are bound. Both backends do this the
/// same way; an entry that wants inputs cannot be run here and is an error.
Status runLoadEntry(const artifact::ArtifactSpec &spec,
                    const std::string &origin,
                    const std::function<Status(int entry, int64_t seq)> &run);

/// The order in which both backends run the load entry a launch at a time,
/// holding each load-only weight (`loadOnly`, loadOnlyWeights) only from
/// the first launch that reads it to the last (loadSchedule): for each
/// launch l, `acquire(l, ids)` allocates and binds the weights l is the
/// first to read (and points l at every load-only weight it reads),
/// `launch(l)` runs l alone and waits for it, and `release(ids)` frees
/// those l was the last to read. Stops at the first error.
Status runLoadLaunches(
    const artifact::ArtifactSpec &spec, const std::vector<bool> &loadOnly,
    const std::function<Status(size_t launch,
                               const std::vector<uint32_t> &arriving)> &acquire,
    const std::function<Status(size_t launch)> &launch,
    const std::function<void(const std::vector<uint32_t> &leaving)> &release);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_CALLCHECK_H
