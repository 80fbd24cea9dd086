//===- ModelConfig.cpp - Llama 2 model hyper-parameters -------------------===//

#include "frontend/ModelConfig.h"
#include "frontend/ConfigCheck.h"

using namespace llamac;

const char *llamac::toString(DType type) {
  switch (type) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  }
  return "?";
}

const char *llamac::toString(RopeStyle style) {
  switch (style) {
  case RopeStyle::Adjacent:
    return "adjacent";
  case RopeStyle::HalfSplit:
    return "half";
  }
  return "?";
}

std::string llamac::validate(const ModelConfig &config) {
  std::optional<ConfigIssue> issue = checkConfig(config, metaFieldName);
  if (!issue)
    return "";
  return std::string(metaFieldName(issue->field)) + ": " + issue->reason;
}

int64_t llamac::metaFfnDim(int64_t dim, int64_t multipleOf,
                           double ffnDimMultiplier) {
  // Out-of-range input yields 0, which validate() then rejects; the bound
  // keeps 4 * dim and the rounding below from overflowing.
  if (dim <= 0 || multipleOf <= 0 || dim > (int64_t(1) << 40) ||
      multipleOf > (int64_t(1) << 40))
    return 0;
  int64_t hidden = 4 * dim;
  // Python's int(2 * hidden / 3) truncates a positive float, which is exactly
  // integer division here.
  hidden = 2 * hidden / 3;
  if (ffnDimMultiplier > 0) {
    // int(multiplier * hidden): the product is formed in double, as in
    // Python, then truncated toward zero.
    double scaled = ffnDimMultiplier * static_cast<double>(hidden);
    if (!(scaled < static_cast<double>(int64_t(1) << 50)))
      return 0;
    hidden = static_cast<int64_t>(scaled);
  }
  // multiple_of * ceil(hidden / multiple_of).
  return (hidden + multipleOf - 1) / multipleOf * multipleOf;
}
