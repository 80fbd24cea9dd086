//===- ConfigCheck.cpp - Structured ModelConfig validation ----------------===//

#include "frontend/ConfigCheck.h"

#include <cmath>
#include <cstdio>

using namespace llamac;

const char *llamac::metaFieldName(ConfigField field) {
  switch (field) {
  case ConfigField::Dim:
    return "dim";
  case ConfigField::NLayers:
    return "n_layers";
  case ConfigField::NHeads:
    return "n_heads";
  case ConfigField::NKvHeads:
    return "n_kv_heads";
  case ConfigField::FfnDim:
    return "ffn_dim";
  case ConfigField::VocabSize:
    return "vocab_size";
  case ConfigField::MaxSeqLen:
    return "max_seq_len";
  case ConfigField::RopeTheta:
    return "rope_theta";
  case ConfigField::NormEps:
    return "norm_eps";
  }
  return "?";
}

/// "%g" keeps 1e-05 readable where std::to_string would print 0.000010.
static std::string formatDouble(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

/// Shapes are later multiplied together and llama2.c stores them as int32;
/// anything wider is a typo, not a model.
static constexpr int64_t kMaxExtent = 2147483647;

std::optional<ConfigIssue> llamac::checkConfig(const ModelConfig &config,
                                               FieldNamer nameOf) {
  auto named = [&](ConfigField field, int64_t value) {
    return std::string(nameOf(field)) + " " + std::to_string(value);
  };

  const std::pair<ConfigField, int64_t> extents[] = {
      {ConfigField::Dim, config.dim},
      {ConfigField::NLayers, config.nLayers},
      {ConfigField::NHeads, config.nHeads},
      {ConfigField::NKvHeads, config.nKvHeads},
      {ConfigField::FfnDim, config.ffnDim},
      {ConfigField::VocabSize, config.vocabSize},
      {ConfigField::MaxSeqLen, config.maxSeqLen},
  };
  for (auto [field, value] : extents) {
    if (value <= 0)
      return ConfigIssue{
          field, {}, "must be positive, got " + std::to_string(value)};
    if (value > kMaxExtent)
      return ConfigIssue{field,
                         {},
                         std::to_string(value) + " exceeds the limit " +
                             std::to_string(kMaxExtent)};
  }

  // Written as negations so that NaN fails too.
  if (!(config.ropeTheta > 0) || !std::isfinite(config.ropeTheta))
    return ConfigIssue{ConfigField::RopeTheta,
                       {},
                       "must be positive, got " +
                           formatDouble(config.ropeTheta)};
  if (!(config.normEps > 0 && config.normEps < 1))
    return ConfigIssue{ConfigField::NormEps,
                       {},
                       "must be between 0 and 1 (exclusive), got " +
                           formatDouble(config.normEps)};

  if (config.dim % config.nHeads != 0)
    return ConfigIssue{ConfigField::NHeads,
                       {ConfigField::Dim},
                       std::to_string(config.nHeads) + " does not divide " +
                           named(ConfigField::Dim, config.dim)};
  int64_t headDim = config.dim / config.nHeads;
  if (headDim % 2 != 0)
    return ConfigIssue{ConfigField::NHeads,
                       {ConfigField::Dim},
                       std::to_string(config.nHeads) +
                           " gives an odd head dim " + std::to_string(headDim) +
                           " (" + named(ConfigField::Dim, config.dim) +
                           "), but RoPE rotates pairs of elements"};

  if (config.nKvHeads > config.nHeads)
    return ConfigIssue{ConfigField::NKvHeads,
                       {ConfigField::NHeads},
                       std::to_string(config.nKvHeads) + " exceeds " +
                           named(ConfigField::NHeads, config.nHeads)};
  if (config.nHeads % config.nKvHeads != 0)
    return ConfigIssue{ConfigField::NKvHeads,
                       {ConfigField::NHeads},
                       std::to_string(config.nKvHeads) + " does not divide " +
                           named(ConfigField::NHeads, config.nHeads)};
  return std::nullopt;
}
