//===- HFConfigReader.cpp - Hugging Face config.json ----------------------===//
//
// LlamaForCausalLM's config.json. Defaults follow transformers' LlamaConfig
// for keys that older files leave out. Keys that change the model in ways
// llamac does not implement (scaled RoPE, biases, another activation) are
// accepted only with their plain-Llama value.
//
//===----------------------------------------------------------------------===//

#include "frontend/ConfigReaders.h"
#include "frontend/JsonConfig.h"

using namespace llamac;
using namespace llvm;

static constexpr StringRef kKnownKeys[] = {
    // The model's shape.
    "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "vocab_size",
    "max_position_embeddings", "rms_norm_eps", "rope_theta", "torch_dtype",
    "dtype", "tie_word_embeddings", "head_dim",
    // Checked to be plain Llama.
    "model_type", "hidden_act", "rope_scaling", "attention_bias", "mlp_bias",
    // Bookkeeping and training settings that do not change inference.
    "_name_or_path", "architectures", "bos_token_id", "eos_token_id",
    "pad_token_id", "initializer_range", "pretraining_tp", "use_cache",
    "transformers_version", "attention_dropout"};

/// config.json's spelling of each validated field, so that errors quote the
/// key the user sees in the file.
static const char *hfFieldName(ConfigField field) {
  switch (field) {
  case ConfigField::Dim:
    return "hidden_size";
  case ConfigField::NLayers:
    return "num_hidden_layers";
  case ConfigField::NHeads:
    return "num_attention_heads";
  case ConfigField::NKvHeads:
    return "num_key_value_heads";
  case ConfigField::FfnDim:
    return "intermediate_size";
  case ConfigField::VocabSize:
    return "vocab_size";
  case ConfigField::MaxSeqLen:
    return "max_position_embeddings";
  case ConfigField::RopeTheta:
    return "rope_theta";
  case ConfigField::NormEps:
    return "rms_norm_eps";
  }
  return "?";
}

/// torch_dtype names the precision the checkpoint was saved in.
static void readDType(JsonFields &fields, StringRef key, ModelConfig &config) {
  std::optional<std::string> name = fields.getString(key);
  if (!name)
    return;
  if (*name == "float32")
    config.dtype = DType::F32;
  else if (*name == "float16")
    config.dtype = DType::F16;
  else if (*name == "bfloat16")
    config.dtype = DType::BF16;
  else
    fields.fail(key, "unsupported \"" + *name +
                         "\"; expected float32, float16 or bfloat16");
}

/// Records `reason` when the key holds true; absent means false.
static void requireFalse(JsonFields &fields, StringRef key,
                         const Twine &reason) {
  if (fields.getBool(key).value_or(false))
    fields.fail(key, reason);
}

Expected<ModelConfig> llamac::hfConfigFromJson(StringRef source,
                                               const json::Object &root) {
  JsonFields fields(source, root);
  fields.rejectUnknownKeys(kKnownKeys);

  if (std::optional<std::string> type = fields.getString("model_type"))
    if (*type != "llama")
      fields.fail("model_type", "\"" + *type +
                                    "\" is not supported; "
                                    "expected \"llama\"");
  if (std::optional<std::string> act = fields.getString("hidden_act"))
    if (*act != "silu")
      fields.fail("hidden_act", "\"" + *act +
                                    "\" is not supported; "
                                    "Llama's SwiGLU needs \"silu\"");
  if (fields.has("rope_scaling") && !fields.isNull("rope_scaling"))
    fields.fail("rope_scaling", "scaled RoPE is not supported; expected null");
  requireFalse(fields, "attention_bias",
               "biased attention projections are not supported; expected "
               "false");
  requireFalse(fields, "mlp_bias",
               "biased MLP projections are not supported; expected false");

  ModelConfig config;
  config.name = source.str();
  config.dim = fields.requireInt("hidden_size").value_or(0);
  config.ffnDim = fields.requireInt("intermediate_size").value_or(0);
  config.nLayers = fields.requireInt("num_hidden_layers").value_or(0);
  config.nHeads = fields.requireInt("num_attention_heads").value_or(0);
  config.nKvHeads =
      fields.getInt("num_key_value_heads").value_or(config.nHeads);
  config.vocabSize = fields.requireInt("vocab_size").value_or(0);
  config.maxSeqLen = fields.getInt("max_position_embeddings").value_or(2048);
  config.normEps = fields.getNumber("rms_norm_eps").value_or(1e-6);
  config.ropeTheta = fields.getNumber("rope_theta").value_or(10000.0);
  config.dtype = DType::F32;
  // Newer transformers write "dtype" where older ones wrote "torch_dtype".
  readDType(fields, "torch_dtype", config);
  readDType(fields, "dtype", config);
  config.sharedClassifier =
      fields.getBool("tie_word_embeddings").value_or(false);
  // transformers' converter permutes wq/wk rows for its rotate_half RoPE.
  config.ropeStyle = RopeStyle::HalfSplit;
  std::optional<int64_t> headDim = fields.getInt("head_dim");

  if (fields.failed())
    return fields.takeError();
  if (Error error = checkConfigFrom(source, config, hfFieldName))
    return std::move(error);
  if (headDim && *headDim != config.headDim())
    return configError(source, "head_dim",
                       std::to_string(*headDim) +
                           " does not equal hidden_size / "
                           "num_attention_heads = " +
                           std::to_string(config.headDim()));
  return config;
}

Expected<ModelConfig> llamac::readHFConfig(StringRef path) {
  Expected<json::Object> root = readJsonObject(path);
  if (!root)
    return root.takeError();
  return hfConfigFromJson(path, *root);
}
