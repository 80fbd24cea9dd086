//===- ConfigReaders.h - Model configs from presets and files ----*- C++ -*-===//
//
// Every way a user can name a model: a built-in preset, Meta's params.json,
// Hugging Face's config.json, or the header of a llama2.c checkpoint. Every
// error names the file (or preset), the field and the reason.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_FRONTEND_CONFIGREADERS_H
#define LLAMAC_FRONTEND_CONFIGREADERS_H

#include "frontend/ModelConfig.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <vector>

namespace llamac {

/// Names accepted by presetConfig, in the order --help lists them.
std::vector<llvm::StringRef> presetNames();

/// The paper's llama2-7b, llama2-13b and llama2-70b, and "tiny" for tests.
llvm::Expected<ModelConfig> presetConfig(llvm::StringRef name);

/// Meta's params.json (dim, n_layers, n_heads, n_kv_heads, vocab_size,
/// multiple_of, ffn_dim_multiplier, norm_eps, rope_theta, max_seq_len).
llvm::Expected<ModelConfig> readMetaParams(llvm::StringRef path);

/// Hugging Face's config.json for LlamaForCausalLM. Sets RopeStyle::HalfSplit.
llvm::Expected<ModelConfig> readHFConfig(llvm::StringRef path);

/// The 7 x int32 header of a llama2.c "legacy" checkpoint.
llvm::Expected<ModelConfig> readLlama2cHeader(llvm::StringRef path);

/// A preset name, a path whose format is recognised from its content, or a
/// model directory holding config.json (Hugging Face) or params.json (Meta).
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef spec);

/// Command-line changes to a config; unset fields keep the config's value.
struct ConfigOverrides {
  std::optional<int64_t> dim, nLayers, nHeads, nKvHeads, ffnDim, vocabSize,
      maxSeqLen;
  std::optional<double> ropeTheta, normEps;
  std::optional<RopeStyle> ropeStyle;
  std::optional<DType> dtype;
};

/// Applies the overrides, then validates the result; the error names the
/// overridden flag when the override made the config invalid.
llvm::Error applyOverrides(ModelConfig &config,
                           const ConfigOverrides &overrides);

/// Parses "f32", "f16" or "bf16".
std::optional<DType> parseDType(llvm::StringRef text);
/// Parses "adjacent" or "half".
std::optional<RopeStyle> parseRopeStyle(llvm::StringRef text);

} // namespace llamac

#endif // LLAMAC_FRONTEND_CONFIGREADERS_H
