//===- ConfigOverrides.cpp - Command-line changes to a config -------------===//

#include "frontend/ConfigReaders.h"
#include "frontend/JsonConfig.h"

using namespace llamac;
using namespace llvm;

/// The driver flag that sets each validated field.
static const char *flagName(ConfigField field) {
  switch (field) {
  case ConfigField::Dim:
    return "--dim";
  case ConfigField::NLayers:
    return "--n-layers";
  case ConfigField::NHeads:
    return "--n-heads";
  case ConfigField::NKvHeads:
    return "--n-kv-heads";
  case ConfigField::FfnDim:
    return "--ffn-dim";
  case ConfigField::VocabSize:
    return "--vocab-size";
  case ConfigField::MaxSeqLen:
    return "--max-seq";
  case ConfigField::RopeTheta:
    return "--rope-theta";
  case ConfigField::NormEps:
    return "--norm-eps";
  }
  return "?";
}

static bool isOverridden(const ConfigOverrides &overrides, ConfigField field) {
  switch (field) {
  case ConfigField::Dim:
    return overrides.dim.has_value();
  case ConfigField::NLayers:
    return overrides.nLayers.has_value();
  case ConfigField::NHeads:
    return overrides.nHeads.has_value();
  case ConfigField::NKvHeads:
    return overrides.nKvHeads.has_value();
  case ConfigField::FfnDim:
    return overrides.ffnDim.has_value();
  case ConfigField::VocabSize:
    return overrides.vocabSize.has_value();
  case ConfigField::MaxSeqLen:
    return overrides.maxSeqLen.has_value();
  case ConfigField::RopeTheta:
    return overrides.ropeTheta.has_value();
  case ConfigField::NormEps:
    return overrides.normEps.has_value();
  }
  return false;
}

template <typename T>
static void apply(T &value, const std::optional<T> &override) {
  if (override)
    value = *override;
}

/// Words a failed check after the flag that caused it. When the flag sets a
/// field other than the one the reason describes ("--dim 100" breaking
/// "n_heads divides dim"), the reason is prefixed with that field's name.
static Error blame(const ModelConfig &config, const ConfigOverrides &overrides,
                   const ConfigIssue &issue) {
  if (isOverridden(overrides, issue.field))
    return createStringError(inconvertibleErrorCode(),
                             std::string(flagName(issue.field)) + ": " +
                                 issue.reason);
  for (ConfigField related : issue.related)
    if (isOverridden(overrides, related))
      return createStringError(inconvertibleErrorCode(),
                               std::string(flagName(related)) + ": " +
                                   metaFieldName(issue.field) + " " +
                                   issue.reason);
  // The config was invalid before any override touched it.
  return configError(config.name, metaFieldName(issue.field), issue.reason);
}

Error llamac::applyOverrides(ModelConfig &config,
                             const ConfigOverrides &overrides) {
  // Work on a copy so that a rejected override leaves the config as it was.
  ModelConfig result = config;
  apply(result.dim, overrides.dim);
  apply(result.nLayers, overrides.nLayers);
  apply(result.nHeads, overrides.nHeads);
  apply(result.nKvHeads, overrides.nKvHeads);
  apply(result.ffnDim, overrides.ffnDim);
  apply(result.vocabSize, overrides.vocabSize);
  apply(result.maxSeqLen, overrides.maxSeqLen);
  apply(result.ropeTheta, overrides.ropeTheta);
  apply(result.normEps, overrides.normEps);
  apply(result.ropeStyle, overrides.ropeStyle);
  apply(result.dtype, overrides.dtype);
  if (std::optional<ConfigIssue> issue = checkConfig(result, metaFieldName))
    return blame(config, overrides, *issue);
  config = std::move(result);
  return Error::success();
}
