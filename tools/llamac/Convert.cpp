//===- Convert.cpp - `llamac convert`: checkpoints between formats --------===//
//
// llama2.c checkpoints, safetensors files, torch.save archives (Meta's
// consolidated.NN.pth, transformers' pytorch_model.bin) and model
// directories hold the same tensors under different names and, for Hugging
// Face layouts, with the rows of wq and wk permuted for half-split RoPE.
// Conversion reads any of them into Meta's names and row order in f32, with
// the model config (from the llama2.c header, or --config, or the input
// directory's config.json or params.json), then writes the output format.
//
//===----------------------------------------------------------------------===//

#include "tools/llamac/Convert.h"

#include "frontend/ConfigReaders.h"
#include "frontend/HFConfigWriter.h"
#include "runtime/CheckpointFormat.h"
#include "runtime/HuggingFaceNames.h"
#include "runtime/Llama2cCheckpoint.h"
#include "runtime/ModelDirectory.h"
#include "runtime/Safetensors.h"
#include "runtime/SafetensorsCheckpoint.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/WithColor.h"

#include <algorithm>

using namespace llvm;
using namespace llamac;
using namespace llamac::runtime;

cl::SubCommand llamac::convertCommand(
    "convert", "Convert a checkpoint (llama2.c .bin, .safetensors, Meta's "
               ".pth, pytorch_model.bin, a model directory) to llama2.c .bin, "
               ".safetensors or a Hugging Face model directory");

namespace {

enum class Format { Auto, Llama2c, Safetensors, HfDirectory };
enum class Names { Hf, Meta };

cl::opt<std::string> input(cl::Positional, cl::Required,
                           cl::sub(convertCommand),
                           cl::desc("<input: a llama2.c .bin, a .safetensors "
                                    "file, a torch.save archive (.pth, "
                                    "pytorch_model.bin), a sharded "
                                    "checkpoint's index, or a model "
                                    "directory>"));
cl::opt<std::string> outputPath(
    "o", cl::Required, cl::sub(convertCommand), cl::value_desc("path"),
    cl::desc("Output checkpoint (a file written to a temporary name, then "
             "renamed; a directory written beside its final name, then "
             "renamed)"));
cl::opt<Format> outputFormat(
    "format", cl::init(Format::Auto), cl::sub(convertCommand),
    cl::desc("Output format (default: .bin, .safetensors, or a directory for "
             "a path ending in / or naming an existing directory)"),
    cl::values(clEnumValN(Format::Llama2c, "llama2c", "llama2.c legacy .bin"),
               clEnumValN(Format::Safetensors, "safetensors",
                          "one .safetensors file"),
               clEnumValN(Format::HfDirectory, "hf",
                          "a Hugging Face model directory: config.json and "
                          "model.safetensors, or shards with "
                          "model.safetensors.index.json")));
cl::opt<Names> names(
    "names", cl::init(Names::Hf), cl::sub(convertCommand),
    cl::desc("Tensor names of a .safetensors output"),
    cl::values(clEnumValN(Names::Hf, "hf",
                          "Hugging Face names, wq/wk rows permuted for "
                          "half-split RoPE (default)"),
               clEnumValN(Names::Meta, "meta", "Meta's names and row order")));
cl::opt<std::string> dtypeName(
    "dtype", cl::init("f32"), cl::sub(convertCommand),
    cl::value_desc("f32|f16|bf16"),
    cl::desc("Element type of a safetensors or Hugging Face output (default "
             "f32; llama2.c checkpoints are always f32)"));
cl::opt<std::string> shardSize(
    "shard-size", cl::sub(convertCommand), cl::value_desc("size"),
    cl::desc("Largest shard of a Hugging Face output, as transformers' "
             "max_shard_size: 5GB (the default), 500MB, 2GiB or bytes"));
cl::opt<std::string> configSpec(
    "config", cl::sub(convertCommand), cl::value_desc("preset|file|dir"),
    cl::desc("The model config of a safetensors or torch input (default: "
             "the input directory's config.json or params.json)"));

int fail(const Twine &message) {
  WithColor::error(errs(), "llamac convert") << message << "\n";
  return 1;
}

/// `tensor` under the name and row order `change` gives it, still unread.
LazyTensor relaid(LazyTensor tensor, const LayoutChange &change) {
  tensor.name = change.name;
  tensor.read = [read = std::move(tensor.read), change,
                 shape = tensor.shape]() -> StatusOr<std::vector<float>> {
    StatusOr<std::vector<float>> values = read();
    if (!values.ok())
      return values.status();
    return change.apply(std::move(*values), shape);
  };
  return tensor;
}

/// A checkpoint in Meta's names and row order, with its config. Tensors
/// are read as the output is written, one at a time, so that converting a
/// 70B checkpoint needs memory for its largest tensor, not for all of them.
struct MetaCheckpoint {
  std::vector<LazyTensor> tensors;
  ModelConfig config;
};

Error stringError(const std::string &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

Expected<MetaCheckpoint> readLlama2c(const std::string &path) {
  if (!configSpec.empty())
    return stringError("--config: " + input +
                       " is a llama2.c checkpoint, whose header is its config");
  StatusOr<Llama2cCheckpoint> opened = readLlama2cCheckpoint(path);
  if (!opened.ok())
    return stringError(opened.message());
  Expected<ModelConfig> config = readLlama2cHeader(path);
  if (!config)
    return config.takeError();
  auto checkpoint = std::make_shared<Llama2cCheckpoint>(std::move(*opened));
  MetaCheckpoint result{{}, *config};
  for (const TensorView &view : checkpoint->tensors)
    result.tensors.push_back(
        {view.name, view.shape,
         [checkpoint, &view]() -> StatusOr<std::vector<float>> {
           return std::vector<float>(view.data, view.data + view.numElements());
         }});
  return result;
}

/// A safetensors or torch input: named tensors, with the config from
/// --config or the input directory.
Expected<MetaCheckpoint> readNamedTensors(const CheckpointLocation &where) {
  std::string spec = configSpec;
  if (spec.empty() && isDirectory(input))
    spec = input;
  if (spec.empty())
    return stringError(input + ": a safetensors or torch input needs --config "
                               "(a preset, params.json or config.json) for "
                               "the head counts, or the model directory that "
                               "holds both");
  Expected<ModelConfig> config = loadModelConfig(spec);
  if (!config)
    return config.takeError();
  StatusOr<StoredTensors> checkpoint = openStoredTensors(where);
  if (!checkpoint.ok())
    return stringError(checkpoint.message());

  MetaCheckpoint result;
  result.config = *config;
  bool hfNames = checkpoint->hasHuggingFaceNames();
  for (LazyTensor &tensor : checkpoint->tensors) {
    // Meta's rotary frequencies, which the model derives from rope_theta.
    if (tensor.name == "rope.freqs")
      continue;
    if (hfNames) {
      StatusOr<std::optional<LayoutChange>> change =
          layoutChange(tensor.name, tensor.shape, config->nHeads,
                       config->nKvHeads, checkpoint->origin,
                       /*toHuggingFace=*/false);
      if (!change.ok())
        return stringError(change.message());
      if (!*change)
        continue;
      tensor = relaid(std::move(tensor), **change);
    }
    result.tensors.push_back(std::move(tensor));
  }
  // A checkpoint without a classifier of its own shares the embedding's,
  // which its config must say: an untied model missing its classifier is
  // incomplete, not tied.
  bool hasClassifier = llvm::any_of(result.tensors, [](const LazyTensor &t) {
    return t.name == "output.weight";
  });
  if (!hasClassifier && !config->sharedClassifier)
    return stringError(
        checkpoint->origin +
        ": output.weight (lm_head.weight): missing, and the config (" + spec +
        ") does not share the classifier with the embedding "
        "(tie_word_embeddings)");
  result.config.sharedClassifier = !hasClassifier;
  return result;
}

/// llama2.c's writer takes every tensor at once: a llama2.c output (f32,
/// for models small enough to run from one file) is read whole.
int toLlama2c(const MetaCheckpoint &checkpoint) {
  const ModelConfig &config = checkpoint.config;
  Llama2cHeader header;
  header.dim = config.dim;
  header.hiddenDim = config.ffnDim;
  header.nLayers = config.nLayers;
  header.nHeads = config.nHeads;
  header.nKvHeads = config.nKvHeads;
  header.vocabSize =
      config.sharedClassifier ? config.vocabSize : -config.vocabSize;
  header.seqLen = config.maxSeqLen;
  std::vector<Tensor> tensors;
  for (const LazyTensor &t : checkpoint.tensors) {
    StatusOr<std::vector<float>> values = t.read();
    if (!values.ok())
      return fail(values.message());
    tensors.push_back({t.name, t.shape, std::move(*values)});
  }
  std::vector<TensorView> views;
  for (const Tensor &t : tensors)
    views.push_back(t.view());
  Status status = writeLlama2cCheckpoint(outputPath, header, views);
  return status.ok() ? 0 : fail(status.message());
}

/// Where a Meta tensor goes in Hugging Face's order: the embedding, each
/// layer's tensors, then the final norm and the classifier.
int hfOrderGroup(const std::string &metaName) {
  if (StringRef(metaName).starts_with("tok_embeddings"))
    return 0;
  return StringRef(metaName).starts_with("layers.") ? 1 : 2;
}
int64_t layerOf(const std::string &metaName) {
  StringRef rest = StringRef(metaName).drop_front(strlen("layers."));
  int64_t layer = 0;
  rest.take_until([](char c) { return c == '.'; }).getAsInteger(10, layer);
  return layer;
}

/// The tensors under the output's names and element type, in Hugging
/// Face's order for its names, each made (read, re-laid, converted) when
/// the writer reaches it.
StatusOr<std::vector<SafetensorsTensor>>
outputTensors(MetaCheckpoint checkpoint, bool hfNames, ElementType type) {
  std::vector<LazyTensor> tensors = std::move(checkpoint.tensors);
  if (hfNames) {
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const LazyTensor &a, const LazyTensor &b) {
                       int ga = hfOrderGroup(a.name), gb = hfOrderGroup(b.name);
                       if (ga != gb || ga != 1)
                         return ga < gb;
                       return layerOf(a.name) < layerOf(b.name);
                     });
    for (LazyTensor &tensor : tensors) {
      StatusOr<std::optional<LayoutChange>> change =
          layoutChange(tensor.name, tensor.shape, checkpoint.config.nHeads,
                       checkpoint.config.nKvHeads, input,
                       /*toHuggingFace=*/true);
      if (!change.ok())
        return change.status();
      tensor = relaid(std::move(tensor), **change);
    }
  }
  std::vector<SafetensorsTensor> outputs;
  for (LazyTensor &tensor : tensors) {
    SafetensorsTensor output;
    output.name = tensor.name;
    output.type = type;
    output.shape = tensor.shape;
    output.byteSize = size_t(numElements(tensor.shape)) * elementSize(type);
    output.produce = [read = std::move(tensor.read),
                      type]() -> StatusOr<std::vector<uint8_t>> {
      StatusOr<std::vector<float>> values = read();
      if (!values.ok())
        return values.status();
      return convertFromF32(type, values->data(), int64_t(values->size()));
    };
    outputs.push_back(std::move(output));
  }
  return outputs;
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
    else if (path.ends_with("/") || isDirectory(outputPath))
      out = Format::HfDirectory;
    else
      return fail(outputPath +
                  ": cannot tell the output format from the name (.bin, "
                  ".safetensors, or a directory ending in /); pass --format");
  }
  std::optional<DType> dtype = parseDType(dtypeName);
  if (!dtype)
    return fail("--dtype: \"" + dtypeName + "\" is not f32, f16 or bf16");
  if (out == Format::Llama2c && *dtype != DType::F32)
    return fail("--dtype: a llama2.c checkpoint holds f32 only");
  if (out == Format::HfDirectory && names == Names::Meta)
    return fail("--names: a Hugging Face directory holds Hugging Face names");
  if (out != Format::HfDirectory && !shardSize.empty())
    return fail("--shard-size: only a Hugging Face directory output is "
                "sharded (--format hf)");
  std::optional<uint64_t> maxShardBytes =
      parseByteSize(shardSize.empty() ? std::string("5GB") : shardSize);
  if (!maxShardBytes)
    return fail("--shard-size: \"" + shardSize +
                "\" is not a positive size such as 5GB, 500MB, 2GiB or a "
                "byte count");

  // A llama2.c checkpoint's header is its config; the other formats hold
  // named tensors and take the config from elsewhere.
  StatusOr<CheckpointLocation> where = locateCheckpoint(input);
  if (!where.ok())
    return fail(where.message());
  bool llama2cInput = where->format == CheckpointFormat::Llama2c;
  if (llama2cInput && out == Format::Llama2c)
    return fail("the input is already a llama2.c checkpoint");
  Expected<MetaCheckpoint> checkpoint =
      llama2cInput ? readLlama2c(where->path) : readNamedTensors(*where);
  if (!checkpoint)
    return fail(toString(checkpoint.takeError()));
  if (out == Format::Llama2c)
    return toLlama2c(*checkpoint);

  ElementType type = *dtype == DType::F32   ? ElementType::F32
                     : *dtype == DType::F16 ? ElementType::F16
                                            : ElementType::BF16;
  bool hfNames = out == Format::HfDirectory || names == Names::Hf;
  ModelConfig config = checkpoint->config;
  StatusOr<std::vector<SafetensorsTensor>> tensors =
      outputTensors(std::move(*checkpoint), hfNames, type);
  if (!tensors.ok())
    return fail(tensors.message());
  Status status =
      out == Format::Safetensors
          ? writeSafetensors(outputPath, *tensors, {{"format", "pt"}})
          : writeSafetensorsDirectory(
                outputPath, *tensors, *maxShardBytes,
                {{"config.json", hfConfigJson(config, *dtype)}},
                {{"format", "pt"}});
  return status.ok() ? 0 : fail(status.message());
}
