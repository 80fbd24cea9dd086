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

/// What converting one tensor between the layouts does: its new name, and
/// for wq and wk the heads whose rows change order.
struct LayoutChange {
  std::string name;
  bool toHuggingFace = false;
  /// 0 when the rows stay as they are.
  int64_t ropeHeads = 0;

  /// The tensor's values (of `shape`, its shape before and after) in the
  /// new layout's row order.
  std::vector<float> apply(std::vector<float> values,
                           const std::vector<int64_t> &shape) const;
};

/// How the tensor `name` of `shape` converts to Hugging Face's layout
/// (`toHuggingFace`) or from it to Meta's: renamed, with q_proj/wq's rows
/// permuted over nHeads and k_proj/wk's over nKvHeads. Nullopt for
/// "rotary_emb.inv_freq", a buffer older HF checkpoints carry and Meta's
/// never do, which conversion drops. Any other unknown name is an error
/// "ORIGIN: NAME: reason", as is a q/k shape the head counts do not divide.
/// Needs only the shape, so that a checkpoint converts one tensor at a
/// time.
StatusOr<std::optional<LayoutChange>>
layoutChange(const std::string &name, const std::vector<int64_t> &shape,
             int64_t nHeads, int64_t nKvHeads, const std::string &origin,
             bool toHuggingFace);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_HUGGINGFACENAMES_H
