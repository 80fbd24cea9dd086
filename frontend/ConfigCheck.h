//===- ConfigCheck.h - Structured ModelConfig validation ---------*- C++
//-*-===//
//
// validate() reports "field: reason" in params.json's spelling, but each
// source of a config names its fields differently (Hugging Face says
// "num_key_value_heads", the driver says "--n-kv-heads"). The checks live here
// once, and report which fields they read, so that every caller can word the
// same failure in its user's vocabulary and blame the right flag.
//
// Plain C++ like ModelConfig.h, so the runtime may reuse it.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_FRONTEND_CONFIGCHECK_H
#define LLAMAC_FRONTEND_CONFIGCHECK_H

#include "frontend/ModelConfig.h"

#include <optional>
#include <string>
#include <vector>

namespace llamac {

/// The validated fields of a ModelConfig.
enum class ConfigField {
  Dim,
  NLayers,
  NHeads,
  NKvHeads,
  FfnDim,
  VocabSize,
  MaxSeqLen,
  RopeTheta,
  NormEps,
};

/// How a config source spells a field, e.g. metaFieldName(NKvHeads) is
/// "n_kv_heads".
using FieldNamer = const char *(*)(ConfigField);

/// Meta's params.json spelling; validate() uses it.
const char *metaFieldName(ConfigField field);

/// One failed check.
struct ConfigIssue {
  /// The field whose value the reason describes.
  ConfigField field;
  /// Other fields the check read. A relation such as "n_heads divides dim"
  /// can be broken by changing either side, so an override of any of these
  /// may be to blame.
  std::vector<ConfigField> related;
  /// Starts with the field's value when `related` is non-empty (for example
  /// "5 does not divide n_heads 32"), so that "n_kv_heads " + reason reads as
  /// a sentence when the message is attributed to a related field.
  std::string reason;
};

/// Runs every check in a fixed order and returns the first failure; other
/// fields are named in the reason with `nameOf`.
std::optional<ConfigIssue> checkConfig(const ModelConfig &config,
                                       FieldNamer nameOf);

} // namespace llamac

#endif // LLAMAC_FRONTEND_CONFIGCHECK_H
