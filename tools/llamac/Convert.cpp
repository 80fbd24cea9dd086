//===- Convert.cpp - `llamac convert`: checkpoints between formats --------===//
//
// llama2.c checkpoints and safetensors hold the same tensors under different
// names and, for Hugging Face layouts, with the rows of wq and wk permuted for
// half-split RoPE. Conversion goes through Meta's names in f32.
//
//===----------------------------------------------------------------------===//

#include "tools/llamac/Convert.h"

#include "frontend/ConfigReaders.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/Llama2cCheckpoint.h"
#include "runtime/MappedFile.h"
#include "runtime/Safetensors.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace llamac;
using namespace llamac::runtime;

cl::SubCommand llamac::convertCommand(
    "convert", "Convert a checkpoint between llama2.c .bin and .safetensors");

namespace {

enum class Format { Auto, Llama2c, Safetensors };
enum class Names { Hf, Meta };

cl::opt<std::string> input(cl::Positional, cl::Required, cl::sub(convertCommand),
                           cl::desc("<input checkpoint>"));
cl::opt<std::string> outputPath("o", cl::Required, cl::sub(convertCommand),
                                cl::value_desc("file"),
                                cl::desc("Output checkpoint (written to a "
                                         "temporary file, then renamed)"));
cl::opt<Format> outputFormat(
    "format", cl::init(Format::Auto), cl::sub(convertCommand),
    cl::desc("Output format (default: from the output's extension)"),
    cl::values(clEnumValN(Format::Llama2c, "llama2c", "llama2.c legacy .bin"),
               clEnumValN(Format::Safetensors, "safetensors",
                          ".safetensors")));
cl::opt<Names> names(
    "names", cl::init(Names::Hf), cl::sub(convertCommand),
    cl::desc("Tensor names of a safetensors output"),
    cl::values(clEnumValN(Names::Hf, "hf",
                          "Hugging Face names, wq/wk rows permuted for "
                          "half-split RoPE (default)"),
               clEnumValN(Names::Meta, "meta",
                          "Meta's names and row order")));
cl::opt<std::string> configSpec(
    "config", cl::sub(convertCommand), cl::value_desc("preset|file"),
    cl::desc("The model config; needed when the input is safetensors"));

int fail(const Twine &message) {
  WithColor::error(errs(), "llamac convert") << message << "\n";
  return 1;
}

/// A safetensors file starts with a little-endian header length and '{'.
bool looksLikeSafetensors(const std::string &path) {
  StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::open(path);
  if (!file.ok())
    return false;
  const MappedFile &f = **file;
  return f.size() > 9 && f.data()[8] == '{';
}

std::vector<Tensor> ownedTensors(const std::vector<TensorView> &views) {
  std::vector<Tensor> tensors;
  for (const TensorView &view : views)
    tensors.push_back({view.name, view.shape,
                       std::vector<float>(view.data,
                                          view.data + view.numElements())});
  return tensors;
}

int toSafetensors(const Llama2cCheckpoint &checkpoint) {
  std::vector<Tensor> tensors = ownedTensors(checkpoint.tensors);
  if (names == Names::Hf) {
    auto hf = convertMetaToHF(std::move(tensors), checkpoint.header.nHeads,
                              checkpoint.header.nKvHeads, input);
    if (!hf.ok())
      return fail(hf.message());
    tensors = std::move(*hf);
  }
  Status status =
      writeSafetensors(outputPath, f32Views(tensors), {{"format", "pt"}});
  return status.ok() ? 0 : fail(status.message());
}

int toLlama2c(std::vector<Tensor> tensors, const ModelConfig &config) {
  Llama2cHeader header;
  header.dim = config.dim;
  header.hiddenDim = config.ffnDim;
  header.nLayers = config.nLayers;
  header.nHeads = config.nHeads;
  header.nKvHeads = config.nKvHeads;
  bool unshared = llvm::any_of(tensors, [](const Tensor &t) {
    return t.name == "output.weight";
  });
  header.vocabSize = unshared ? -config.vocabSize : config.vocabSize;
  header.seqLen = config.maxSeqLen;
  std::vector<TensorView> views;
  for (const Tensor &t : tensors)
    views.push_back(t.view());
  Status status = writeLlama2cCheckpoint(outputPath, header, views);
  return status.ok() ? 0 : fail(status.message());
}

} // namespace

int llamac::runConvert() {
  Format out = outputFormat;
  if (out == Format::Auto) {
    StringRef path = outputPath;
    if (path.ends_with(".safetensors"))
      out = Format::Safetensors;
    else if (path.ends_with(".bin"))
      out = Format::Llama2c;
    else
      return fail(outputPath + ": cannot tell the output format from the "
                               "extension; pass --format");
  }

  if (!looksLikeSafetensors(input)) {
    StatusOr<Llama2cCheckpoint> checkpoint = readLlama2cCheckpoint(input);
    if (!checkpoint.ok())
      return fail(checkpoint.message());
    if (out == Format::Llama2c)
      return fail("the input is already a llama2.c checkpoint");
    return toSafetensors(*checkpoint);
  }

  StatusOr<SafetensorsFile> file = readSafetensors(input);
  if (!file.ok())
    return fail(file.message());
  if (out == Format::Safetensors)
    return fail("the input is already a safetensors file");
  if (configSpec.empty())
    return fail(input + ": a safetensors input needs --config (a preset, "
                        "params.json or config.json) for the head counts");
  Expected<ModelConfig> config = loadModelConfig(configSpec);
  if (!config)
    return fail(toString(config.takeError()));
  std::vector<Tensor> tensors;
  bool hfNames = false;
  for (const SafetensorsTensor &t : file->tensors) {
    tensors.push_back(t.toF32());
    hfNames |= StringRef(t.name).starts_with("model.") || t.name == "lm_head.weight";
  }
  if (hfNames) {
    auto meta = convertHFToMeta(std::move(tensors), config->nHeads,
                                config->nKvHeads, input);
    if (!meta.ok())
      return fail(meta.message());
    tensors = std::move(*meta);
  }
  return toLlama2c(std::move(tensors), *config);
}
