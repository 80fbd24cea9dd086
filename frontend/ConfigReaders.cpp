//===- ConfigReaders.cpp - Presets and format detection -------------------===//
//
// The built-in presets, and loadModelConfig, which decides what a --model
// argument names. The file readers themselves live one per format.
//
//===----------------------------------------------------------------------===//

#include "frontend/ConfigReaders.h"
#include "frontend/JsonConfig.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>

using namespace llamac;
using namespace llvm;

std::vector<StringRef> llamac::presetNames() {
  return {"llama2-7b", "llama2-13b", "llama2-70b", "tiny"};
}

/// What every preset shares: Meta's Llama 2 release values. The dtype is the
/// driver's to choose.
static ModelConfig llama2Base(StringRef name) {
  ModelConfig config;
  config.name = name.str();
  config.vocabSize = 32000;
  config.maxSeqLen = 4096;
  config.ropeTheta = 10000.0;
  config.normEps = 1e-5;
  config.ropeStyle = RopeStyle::Adjacent;
  config.dtype = DType::F32;
  config.sharedClassifier = false;
  return config;
}

/// The paper's sizes. The FFN width goes through metaFfnDim, with the
/// arguments Meta's params.json gives, rather than as a literal, so that every
/// preset also exercises the rule.
static ModelConfig llama2Preset(StringRef name, int64_t dim, int64_t layers,
                                int64_t heads, int64_t kvHeads,
                                int64_t multipleOf, double multiplier) {
  ModelConfig config = llama2Base(name);
  config.dim = dim;
  config.nLayers = layers;
  config.nHeads = heads;
  config.nKvHeads = kvHeads;
  config.ffnDim = metaFfnDim(dim, multipleOf, multiplier);
  return config;
}

Expected<ModelConfig> llamac::presetConfig(StringRef name) {
  if (name == "llama2-7b")
    return llama2Preset(name, 4096, 32, 32, 32, 256, 0);
  if (name == "llama2-13b")
    return llama2Preset(name, 5120, 40, 40, 40, 256, 0);
  if (name == "llama2-70b")
    return llama2Preset(name, 8192, 80, 64, 8, 4096, 1.3);
  if (name == "tiny") {
    // Shaped like llama2.c's stories260K (with fewer layers), and with
    // grouped-query attention so that small tests cover the GQA path.
    ModelConfig config = llama2Base(name);
    config.dim = 64;
    config.nLayers = 2;
    config.nHeads = 8;
    config.nKvHeads = 4;
    config.ffnDim = 172;
    config.vocabSize = 512;
    config.maxSeqLen = 512;
    return config;
  }
  return configError(name, "unknown preset; valid presets are " +
                               join(presetNames(), ", "));
}

/// The format of a model file, told from its content rather than its name:
/// both JSON formats are commonly saved under arbitrary names.
static Expected<ModelConfig> loadModelFile(StringRef path) {
  uint64_t size = 0;
  if (std::error_code error = sys::fs::file_size(path, size))
    return configError(path, error.message());
  // Enough to see past leading whitespace to a JSON object's brace.
  ErrorOr<std::unique_ptr<MemoryBuffer>> head =
      MemoryBuffer::getFileSlice(path, std::min<uint64_t>(size, 256), 0);
  if (!head)
    return configError(path, head.getError().message());
  StringRef start = (*head)->getBuffer().ltrim();
  if (!start.starts_with("{"))
    return readLlama2cHeader(path);

  Expected<json::Object> root = readJsonObject(path);
  if (!root)
    return root.takeError();
  if (root->get("dim"))
    return metaParamsFromJson(path, *root);
  if (root->get("hidden_size"))
    return hfConfigFromJson(path, *root);
  return configError(path, "JSON with neither \"dim\" (Meta params.json) nor "
                           "\"hidden_size\" (Hugging Face config.json)");
}

/// A model directory as Hugging Face (config.json) or Meta (params.json)
/// publish it, read by the file's name; one holding both is ambiguous.
static Expected<ModelConfig> loadModelDirectory(StringRef directory) {
  SmallString<256> hf(directory), meta(directory);
  sys::path::append(hf, "config.json");
  sys::path::append(meta, "params.json");
  bool hasHF = sys::fs::is_regular_file(hf);
  bool hasMeta = sys::fs::is_regular_file(meta);
  if (hasHF && hasMeta)
    return configError(directory, "holds both config.json and params.json; "
                                  "name the one to use");
  if (hasHF)
    return readHFConfig(hf);
  if (hasMeta)
    return readMetaParams(meta);
  return configError(directory, "is a directory with neither config.json "
                                "(Hugging Face) nor params.json (Meta)");
}

Expected<ModelConfig> llamac::loadModelConfig(StringRef spec) {
  if (is_contained(presetNames(), spec))
    return presetConfig(spec);
  if (!sys::fs::exists(spec)) {
    // A bare word was probably meant as a preset; say which ones exist.
    if (!spec.contains('/') && !spec.contains('.'))
      return configError(spec, "no such file, and not a preset (" +
                                   join(presetNames(), ", ") + ")");
    return configError(spec, "no such file");
  }
  if (sys::fs::is_directory(spec))
    return loadModelDirectory(spec);
  return loadModelFile(spec);
}

std::optional<DType> llamac::parseDType(StringRef text) {
  for (DType type : {DType::F32, DType::F16, DType::BF16})
    if (text == toString(type))
      return type;
  return std::nullopt;
}

std::optional<RopeStyle> llamac::parseRopeStyle(StringRef text) {
  for (RopeStyle style : {RopeStyle::Adjacent, RopeStyle::HalfSplit})
    if (text == toString(style))
      return style;
  return std::nullopt;
}
