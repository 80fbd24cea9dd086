//===- HuggingFaceNames.h - HF Llama tensors <-> Meta tensors ----*- C++
//-*-===//
//
// Hugging Face stores Llama weights under its own names and, because its
// rotary embedding rotates the pairs (i, i + head_dim/2) instead of Meta's
// adjacent pairs (2i, 2i+1), with the rows of wq and wk permuted. The
// transformers converter does, per weight w of shape [dim1, dim2]:
//
//   w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2)
//    .reshape(dim1, dim2)
//
// i.e. within each head, HF row j*(head_dim/2) + i is Meta row 2*i + j. The
// rest of the runtime speaks Meta's names and layout, so HF checkpoints are
// converted on load, and Meta checkpoints can be converted back for export.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_HUGGINGFACENAMES_H
#define LLAMAC_RUNTIME_HUGGINGFACENAMES_H

#include "runtime/Status.h"
#include "runtime/Tensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llamac::runtime {

/// Whether `name` is spelled as Hugging Face spells Llama tensors
/// ("model.*" or "lm_head.weight"): one such name makes a checkpoint HF's.
bool isHuggingFaceName(const std::string &name);

/// The HF name of a Meta tensor name, or nullopt when it has none.
/// "layers.3.attention.wq.weight" -> "model.layers.3.self_attn.q_proj.weight".
std::optional<std::string> metaNameToHF(const std::string &metaName);
/// The inverse of metaNameToHF.
std::optional<std::string> hfNameToMeta(const std::string &hfName);

/// The heads whose rows RoPE's layout orders in the Meta-named tensor
/// `metaName`: `nHeads` for a wq, `nKvHeads` for a wk, 0 for any other
/// tensor (whose rows are the same in every layout).
int64_t ropeHeads(const std::string &metaName, int64_t nHeads,
                  int64_t nKvHeads);

/// Meta row order -> HF row order (HF's `permute`) for a row-major
/// [rows, cols] matrix holding `nHeads` heads. Needs rows % (2*nHeads) == 0.
std::vector<float> permuteForHalfSplitRope(const float *data, int64_t nHeads,
                                           int64_t rows, int64_t cols);
/// HF row order -> Meta row order: the inverse of permuteForHalfSplitRope.
std::vector<float> unpermuteFromHalfSplitRope(const float *data, int64_t nHeads,
                                              int64_t rows, int64_t cols);

/// Renames HF tensors to Meta names and un-permutes q_proj (with nHeads) and
/// k_proj (with nKvHeads). "rotary_emb.inv_freq" buffers, which older HF
/// checkpoints carry and Meta's never do, are dropped. Any other unknown name
/// is an error "ORIGIN: NAME: reason", as is a q/k shape the head counts do
/// not divide.
StatusOr<std::vector<Tensor>> convertHFToMeta(std::vector<Tensor> tensors,
                                              int64_t nHeads, int64_t nKvHeads,
                                              const std::string &origin);
/// The opposite direction: Meta names to HF names, permuting wq and wk.
StatusOr<std::vector<Tensor>> convertMetaToHF(std::vector<Tensor> tensors,
                                              int64_t nHeads, int64_t nKvHeads,
                                              const std::string &origin);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_HUGGINGFACENAMES_H
