//===- MetaParamsReader.cpp - Meta's params.json --------------------------===//
//
// The keys are those of ModelArgs in Meta's llama/model.py; defaults follow
// ModelArgs where Meta's published files leave a key out.
//
//===----------------------------------------------------------------------===//

#include "frontend/ConfigReaders.h"
#include "frontend/JsonConfig.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llamac;
using namespace llvm;

static constexpr StringRef kKnownKeys[] = {"dim",
                                           "n_layers",
                                           "n_heads",
                                           "n_kv_heads",
                                           "vocab_size",
                                           "multiple_of",
                                           "ffn_dim_multiplier",
                                           "norm_eps",
                                           "rope_theta",
                                           "max_seq_len",
                                           "max_batch_size",
                                           "use_scaled_rope"};

/// Meta ships "vocab_size": -1 and lets the tokenizer fill it in at load
/// time; every Llama 2 tokenizer has 32000 pieces.
static constexpr int64_t kLlama2VocabSize = 32000;

Expected<ModelConfig> llamac::metaParamsFromJson(StringRef source,
                                                 const json::Object &root) {
  JsonFields fields(source, root);
  fields.rejectUnknownKeys(kKnownKeys);

  ModelConfig config;
  config.name = source.str();
  config.dim = fields.requireInt("dim").value_or(0);
  config.nLayers = fields.requireInt("n_layers").value_or(0);
  config.nHeads = fields.requireInt("n_heads").value_or(0);
  config.nKvHeads = fields.getInt("n_kv_heads").value_or(config.nHeads);

  config.vocabSize = fields.getInt("vocab_size").value_or(-1);
  if (config.vocabSize == -1)
    config.vocabSize = kLlama2VocabSize;

  int64_t multipleOf = fields.getInt("multiple_of").value_or(256);
  if (!fields.failed() && multipleOf <= 0)
    fields.fail("multiple_of",
                "must be positive, got " + std::to_string(multipleOf));
  // null and absent both mean "no multiplier" (ModelArgs' Optional[float]).
  double multiplier = 0;
  if (!fields.isNull("ffn_dim_multiplier")) {
    if (std::optional<double> value = fields.getNumber("ffn_dim_multiplier")) {
      multiplier = *value;
      if (!fields.failed() && !(multiplier > 0))
        fields.fail("ffn_dim_multiplier",
                    "must be positive, got " + formatv("{0}", multiplier));
    }
  }

  config.normEps = fields.getNumber("norm_eps").value_or(1e-5);
  config.ropeTheta = fields.getNumber("rope_theta").value_or(10000.0);
  config.maxSeqLen = fields.getInt("max_seq_len").value_or(4096);
  // A generation-time setting with no bearing on the compiled model.
  (void)fields.getInt("max_batch_size");
  // Llama 3.1's frequency scaling; Llama 2 files say false or nothing.
  if (fields.getBool("use_scaled_rope").value_or(false))
    fields.fail("use_scaled_rope",
                "Llama 3.1 RoPE scaling is not supported; expected false");

  if (fields.failed())
    return fields.takeError();
  config.ffnDim = metaFfnDim(config.dim, multipleOf, multiplier);
  config.ropeStyle = RopeStyle::Adjacent;
  config.dtype = DType::F32;
  config.sharedClassifier = false;
  if (Error error = checkConfigFrom(source, config, metaFieldName))
    return std::move(error);
  return config;
}

Expected<ModelConfig> llamac::readMetaParams(StringRef path) {
  Expected<json::Object> root = readJsonObject(path);
  if (!root)
    return root.takeError();
  return metaParamsFromJson(path, *root);
}
