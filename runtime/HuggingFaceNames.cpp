//===- HuggingFaceNames.cpp - HF Llama tensors <-> Meta tensors -----------===//

#include "runtime/HuggingFaceNames.h"

#include "runtime/Strings.h"

#include <cstring>

using namespace llamac::runtime;

namespace {

/// Names outside the layers.
const std::pair<const char *, const char *> kGlobalNames[] = {
    {"tok_embeddings.weight", "model.embed_tokens.weight"},
    {"norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

/// Per-layer suffixes, after "layers.N." (Meta) and "model.layers.N." (HF).
const std::pair<const char *, const char *> kLayerNames[] = {
    {"attention_norm.weight", "input_layernorm.weight"},
    {"attention.wq.weight", "self_attn.q_proj.weight"},
    {"attention.wk.weight", "self_attn.k_proj.weight"},
    {"attention.wv.weight", "self_attn.v_proj.weight"},
    {"attention.wo.weight", "self_attn.o_proj.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"feed_forward.w1.weight", "mlp.gate_proj.weight"},
    {"feed_forward.w2.weight", "mlp.down_proj.weight"},
    {"feed_forward.w3.weight", "mlp.up_proj.weight"},
};

/// Splits "PREFIX<digits>.REST" into the layer number and REST.
bool splitLayer(const std::string &name, const std::string &prefix,
                std::string &layer, std::string &rest) {
  if (name.compare(0, prefix.size(), prefix) != 0)
    return false;
  size_t pos = prefix.size(), digits = pos;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9')
    ++digits;
  if (digits == pos || digits >= name.size() || name[digits] != '.')
    return false;
  layer = name.substr(pos, digits - pos);
  rest = name.substr(digits + 1);
  return true;
}

/// Maps a name through the tables; `forward` goes Meta -> HF.
std::optional<std::string> mapName(const std::string &name, bool forward) {
  for (const auto &[meta, hf] : kGlobalNames)
    if (name == (forward ? meta : hf))
      return std::string(forward ? hf : meta);
  const std::string fromPrefix = forward ? "layers." : "model.layers.";
  const std::string toPrefix = forward ? "model.layers." : "layers.";
  std::string layer, rest;
  if (!splitLayer(name, fromPrefix, layer, rest))
    return std::nullopt;
  for (const auto &[meta, hf] : kLayerNames)
    if (rest == (forward ? meta : hf))
      return toPrefix + layer + "." + (forward ? hf : meta);
  return std::nullopt;
}

/// Copies rows so that output row `target(row)` is input row `row`.
template <class RowMap>
std::vector<float> moveRows(const float *data, int64_t rows, int64_t cols,
                            RowMap target) {
  std::vector<float> result(size_t(rows * cols));
  for (int64_t row = 0; row < rows; ++row)
    std::memcpy(result.data() + target(row) * cols, data + row * cols,
                size_t(cols) * sizeof(float));
  return result;
}

} // namespace

bool llamac::runtime::isHuggingFaceName(const std::string &name) {
  return name.rfind("model.", 0) == 0 || name == "lm_head.weight";
}

std::optional<std::string>
llamac::runtime::metaNameToHF(const std::string &metaName) {
  return mapName(metaName, /*forward=*/true);
}

std::optional<std::string>
llamac::runtime::hfNameToMeta(const std::string &hfName) {
  return mapName(hfName, /*forward=*/false);
}

int64_t llamac::runtime::ropeHeads(const std::string &metaName, int64_t nHeads,
                                   int64_t nKvHeads) {
  if (endsWith(metaName, "attention.wq.weight"))
    return nHeads;
  if (endsWith(metaName, "attention.wk.weight"))
    return nKvHeads;
  return 0;
}

std::vector<float> llamac::runtime::permuteForHalfSplitRope(const float *data,
                                                            int64_t nHeads,
                                                            int64_t rows,
                                                            int64_t cols) {
  const int64_t headRows = rows / nHeads, half = headRows / 2;
  // Meta row (head, 2*i + j) becomes HF row (head, j*half + i).
  return moveRows(data, rows, cols, [&](int64_t row) {
    int64_t head = row / headRows, within = row % headRows;
    return head * headRows + (within % 2) * half + within / 2;
  });
}

std::vector<float>
llamac::runtime::unpermuteFromHalfSplitRope(const float *data, int64_t nHeads,
                                            int64_t rows, int64_t cols) {
  const int64_t headRows = rows / nHeads, half = headRows / 2;
  // HF row (head, j*half + i) goes back to Meta row (head, 2*i + j).
  return moveRows(data, rows, cols, [&](int64_t row) {
    int64_t head = row / headRows, within = row % headRows;
    return head * headRows + 2 * (within % half) + within / half;
  });
}

StatusOr<std::optional<LayoutChange>> llamac::runtime::layoutChange(
    const std::string &name, const std::vector<int64_t> &shape, int64_t nHeads,
    int64_t nKvHeads, const std::string &origin, bool toHuggingFace) {
  if (!toHuggingFace && endsWith(name, "rotary_emb.inv_freq"))
    return std::optional<LayoutChange>();
  std::optional<std::string> renamed = mapName(name, toHuggingFace);
  if (!renamed)
    return Status::error(origin + ": " + name + ": not a " +
                         (toHuggingFace ? "Meta" : "Hugging Face") +
                         " Llama tensor name");
  LayoutChange change;
  change.name = *renamed;
  change.toHuggingFace = toHuggingFace;
  change.ropeHeads =
      ropeHeads(toHuggingFace ? name : *renamed, nHeads, nKvHeads);
  if (change.ropeHeads && (shape.size() != 2 || change.ropeHeads <= 0 ||
                           shape[0] % (2 * change.ropeHeads) != 0))
    return Status::error(origin + ": " + name + ": shape " +
                         shapeToString(shape) +
                         " is not [rows, cols] with rows divisible by 2 * " +
                         std::to_string(change.ropeHeads) + " heads");
  return std::optional<LayoutChange>(std::move(change));
}

std::vector<float>
LayoutChange::apply(std::vector<float> values,
                    const std::vector<int64_t> &shape) const {
  if (!ropeHeads)
    return values;
  return toHuggingFace ? permuteForHalfSplitRope(values.data(), ropeHeads,
                                                 shape[0], shape[1])
                       : unpermuteFromHalfSplitRope(values.data(), ropeHeads,
                                                    shape[0], shape[1]);
}
