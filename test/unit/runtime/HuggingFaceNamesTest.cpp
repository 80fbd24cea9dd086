//===- HuggingFaceNamesTest.cpp - HF <-> Meta names and RoPE rows ---------===//

#include "runtime/HuggingFaceNames.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

using namespace llamac::runtime;

namespace {

/// transformers' permute written as the view/transpose/reshape it is:
/// out[h][b][a][:] = in[h][a][b][:] for in viewed as
/// [nHeads, rows/nHeads/2, 2, cols].
std::vector<float> torchPermute(const std::vector<float> &in, int64_t nHeads,
                                int64_t rows, int64_t cols) {
  int64_t half = rows / nHeads / 2;
  std::vector<float> out(in.size());
  for (int64_t h = 0; h < nHeads; ++h)
    for (int64_t a = 0; a < half; ++a)
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < cols; ++c)
          out[size_t(((h * 2 + b) * half + a) * cols + c)] =
              in[size_t(((h * half + a) * 2 + b) * cols + c)];
  return out;
}

std::vector<float> iota(size_t count) {
  std::vector<float> values(count);
  std::iota(values.begin(), values.end(), 0.0f);
  return values;
}

TEST(HuggingFaceNamesTest, PermutesAKnownExample) {
  // One head of 4 rows: Meta pairs (0,1), (2,3) become HF halves (0,2 | 1,3).
  std::vector<float> rows = iota(4);
  EXPECT_EQ(permuteForHalfSplitRope(rows.data(), 1, 4, 1),
            (std::vector<float>{0, 2, 1, 3}));
  // Two heads of 4 rows, 2 columns: rows move whole, per head.
  std::vector<float> matrix = iota(16);
  EXPECT_EQ(permuteForHalfSplitRope(matrix.data(), 2, 8, 2),
            (std::vector<float>{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11,
                                14, 15}));
  // Head of 8 rows: HF row j*4 + i is Meta row 2*i + j.
  std::vector<float> eight = iota(8);
  EXPECT_EQ(permuteForHalfSplitRope(eight.data(), 1, 8, 1),
            (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7}));
  EXPECT_EQ(unpermuteFromHalfSplitRope(eight.data(), 1, 8, 1),
            (std::vector<float>{0, 4, 1, 5, 2, 6, 3, 7}));
}

TEST(HuggingFaceNamesTest, MatchesTorchAndInvertsExactly) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1, 1);
  const int64_t shapes[][3] = {{4, 64, 16}, {8, 64, 64}, {2, 32, 3}, {1, 2, 5}};
  for (const auto &shape : shapes) {
    int64_t heads = shape[0], rows = shape[1], cols = shape[2];
    std::vector<float> w(size_t(rows * cols));
    for (float &value : w)
      value = uniform(rng);
    std::vector<float> permuted =
        permuteForHalfSplitRope(w.data(), heads, rows, cols);
    EXPECT_EQ(permuted, torchPermute(w, heads, rows, cols));
    EXPECT_EQ(unpermuteFromHalfSplitRope(permuted.data(), heads, rows, cols),
              w);
    EXPECT_EQ(
        permuteForHalfSplitRope(
            unpermuteFromHalfSplitRope(w.data(), heads, rows, cols).data(),
            heads, rows, cols),
        w);
  }
}

TEST(HuggingFaceNamesTest, MapsNamesBothWays) {
  const std::pair<const char *, const char *> pairs[] = {
      {"tok_embeddings.weight", "model.embed_tokens.weight"},
      {"layers.0.attention.wq.weight",
       "model.layers.0.self_attn.q_proj.weight"},
      {"layers.12.attention.wk.weight",
       "model.layers.12.self_attn.k_proj.weight"},
      {"layers.1.attention.wv.weight",
       "model.layers.1.self_attn.v_proj.weight"},
      {"layers.1.attention.wo.weight",
       "model.layers.1.self_attn.o_proj.weight"},
      {"layers.3.feed_forward.w1.weight",
       "model.layers.3.mlp.gate_proj.weight"},
      {"layers.3.feed_forward.w2.weight",
       "model.layers.3.mlp.down_proj.weight"},
      {"layers.3.feed_forward.w3.weight", "model.layers.3.mlp.up_proj.weight"},
      {"layers.5.attention_norm.weight",
       "model.layers.5.input_layernorm.weight"},
      {"layers.5.ffn_norm.weight",
       "model.layers.5.post_attention_layernorm.weight"},
      {"norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  for (const auto &[meta, hf] : pairs) {
    EXPECT_EQ(metaNameToHF(meta), std::optional<std::string>(hf));
    EXPECT_EQ(hfNameToMeta(hf), std::optional<std::string>(meta));
  }
  EXPECT_EQ(hfNameToMeta("model.layers.x.mlp.up_proj.weight"), std::nullopt);
  EXPECT_EQ(hfNameToMeta("layers.0.attention.wq.weight"), std::nullopt);
  EXPECT_EQ(metaNameToHF("layers.0.attention.wz.weight"), std::nullopt);
}

/// Every tensor through layoutChange, as llamac convert does.
StatusOr<std::vector<Tensor>> convertAll(const std::vector<Tensor> &tensors,
                                         bool toHuggingFace,
                                         const std::string &origin) {
  std::vector<Tensor> result;
  for (const Tensor &tensor : tensors) {
    StatusOr<std::optional<LayoutChange>> change =
        layoutChange(tensor.name, tensor.shape, 2, 1, origin, toHuggingFace);
    if (!change.ok())
      return change.status();
    if (*change)
      result.push_back({(*change)->name, tensor.shape,
                        (*change)->apply(tensor.data, tensor.shape)});
  }
  return result;
}

TEST(HuggingFaceNamesTest, ConvertsAGqaModelAndBack) {
  // dim 8, 2 query heads, 1 KV head: head_dim 4, kv_dim 4.
  std::vector<Tensor> hf = {
      {"model.embed_tokens.weight", {3, 8}, iota(24)},
      {"model.layers.0.self_attn.q_proj.weight", {8, 8}, iota(64)},
      {"model.layers.0.self_attn.k_proj.weight", {4, 8}, iota(32)},
      {"model.layers.0.self_attn.v_proj.weight", {4, 8}, iota(32)},
      {"model.layers.0.self_attn.rotary_emb.inv_freq", {2}, iota(2)},
  };
  StatusOr<std::vector<Tensor>> meta = convertAll(hf, false, "hf");
  ASSERT_TRUE(meta.ok()) << meta.message();
  ASSERT_EQ(meta->size(), 4u); // inv_freq dropped
  EXPECT_EQ((*meta)[0].name, "tok_embeddings.weight");
  EXPECT_EQ((*meta)[0].data, iota(24));
  const Tensor &wq = (*meta)[1];
  EXPECT_EQ(wq.name, "layers.0.attention.wq.weight");
  EXPECT_EQ(wq.data, unpermuteFromHalfSplitRope(iota(64).data(), 2, 8, 8));
  EXPECT_NE(wq.data, iota(64));
  const Tensor &wk = (*meta)[2];
  EXPECT_EQ(wk.name, "layers.0.attention.wk.weight");
  // k uses the KV head count: one head of 4 rows.
  EXPECT_EQ(wk.data, unpermuteFromHalfSplitRope(iota(32).data(), 1, 4, 8));
  EXPECT_EQ((*meta)[3].data, iota(32)); // v is not permuted

  StatusOr<std::vector<Tensor>> back = convertAll(*meta, true, "meta");
  ASSERT_TRUE(back.ok()) << back.message();
  ASSERT_EQ(back->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*back)[i].name, hf[i].name);
    EXPECT_EQ((*back)[i].data, hf[i].data);
  }
}

TEST(HuggingFaceNamesTest, ReportsUnknownNamesAndBadShapes) {
  std::vector<Tensor> unknown = {{"model.layers.0.mlp.fc.weight", {1}, {0}}};
  EXPECT_EQ(convertAll(unknown, false, "x.safetensors").message(),
            "x.safetensors: model.layers.0.mlp.fc.weight: not a Hugging Face "
            "Llama tensor name");
  std::vector<Tensor> odd = {
      {"model.layers.0.self_attn.q_proj.weight", {6, 1}, iota(6)}};
  EXPECT_EQ(convertAll(odd, false, "x.safetensors").message(),
            "x.safetensors: model.layers.0.self_attn.q_proj.weight: shape [6, "
            "1] is not [rows, cols] with rows divisible by 2 * 2 heads");
}

} // namespace
