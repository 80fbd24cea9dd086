//===- HFConfigWriter.cpp - Hugging Face config.json from a config --------===//

#include "frontend/HFConfigWriter.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace llamac;
using namespace llvm;

/// `value` as Python's json writes it (its repr), which reads back exactly:
/// 1e-05 and 10000.0, not json::OStream's 1.0000000000000001e-05 and 1e+04.
static std::string shortestNumber(double value) {
  char text[32];
  if (value == std::trunc(value) && std::fabs(value) < 1e16) {
    std::snprintf(text, sizeof(text), "%.1f", value);
    return text;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  return text;
}

static const char *torchDType(DType type) {
  switch (type) {
  case DType::F32:
    return "float32";
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "bfloat16";
  }
  return "float32";
}

std::string llamac::hfConfigJson(const ModelConfig &config, DType stored) {
  std::string text;
  raw_string_ostream os(text);
  json::OStream out(os, /*IndentSize=*/2);
  out.object([&] {
    out.attributeArray("architectures", [&] { out.value("LlamaForCausalLM"); });
    out.attribute("model_type", "llama");
    out.attribute("hidden_act", "silu");
    out.attribute("hidden_size", config.dim);
    out.attribute("intermediate_size", config.ffnDim);
    out.attribute("num_hidden_layers", config.nLayers);
    out.attribute("num_attention_heads", config.nHeads);
    out.attribute("num_key_value_heads", config.nKvHeads);
    out.attribute("vocab_size", config.vocabSize);
    out.attribute("max_position_embeddings", config.maxSeqLen);
    out.attributeBegin("rms_norm_eps");
    out.rawValue(shortestNumber(config.normEps));
    out.attributeEnd();
    out.attributeBegin("rope_theta");
    out.rawValue(shortestNumber(config.ropeTheta));
    out.attributeEnd();
    out.attribute("rope_scaling", nullptr);
    out.attribute("attention_bias", false);
    out.attribute("tie_word_embeddings", config.sharedClassifier);
    out.attribute("torch_dtype", torchDType(stored));
    // Llama 2's SentencePiece ids, which llama2.c's tokenizers share.
    out.attribute("bos_token_id", 1);
    out.attribute("eos_token_id", 2);
  });
  os << "\n";
  return text;
}
