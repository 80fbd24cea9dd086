//===- ModelBuilder.cpp - Emits the llama IR of a model config ------------===//

#include "frontend/ModelBuilder.h"

#include "ir/LlamaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/StringSwitch.h"

#include <cmath>

using namespace mlir;
using namespace llamac;
namespace llama = llamac::llama;

const char *llamac::toString(EntryKind kind) {
  switch (kind) {
  case EntryKind::Prefill:
    return "prefill";
  case EntryKind::Decode:
    return "decode";
  case EntryKind::ForwardLoss:
    return "forward_loss";
  }
  return "?";
}

std::optional<EntryKind> llamac::parseEntryKind(llvm::StringRef text) {
  return llvm::StringSwitch<std::optional<EntryKind>>(text)
      .Case("prefill", EntryKind::Prefill)
      .Case("decode", EntryKind::Decode)
      .Case("forward_loss", EntryKind::ForwardLoss)
      .Default(std::nullopt);
}

namespace {

/// Builds one entry function. Function arguments are appended as the graph
/// needs them, so the weight order is the order of first use, which is also
/// the order of llama2.c's checkpoint within a layer.
class EntryBuilder {
public:
  EntryBuilder(MLIRContext &context, const ModelConfig &config,
               const BuildOptions &options, EntryKind kind)
      : config(config), kind(kind), builder(&context) {
    elementType = toMlirType(config.dtype);
    batch = options.batch;
    seq = kind == EntryKind::Decode
              ? 1
              : options.seqLen.value_or(ShapedType::kDynamic);
  }

  func::FuncOp build(Location loc);

private:
  Type toMlirType(DType type) {
    switch (type) {
    case DType::F32:
      return builder.getF32Type();
    case DType::F16:
      return builder.getF16Type();
    case DType::BF16:
      return builder.getBF16Type();
    }
    return builder.getF32Type();
  }

  RankedTensorType activation(int64_t features) {
    return RankedTensorType::get({batch, seq, features}, elementType);
  }

  /// Adds a function argument that binds the checkpoint tensor `name`.
  Value weight(llvm::StringRef name, ArrayRef<int64_t> shape) {
    Value arg = entry->addArgument(RankedTensorType::get(shape, elementType),
                                   builder.getUnknownLoc());
    argAttrs.push_back(builder.getDictionaryAttr(
        builder.getNamedAttr(llama::attrs::weight, builder.getStringAttr(name))));
    return arg;
  }

  Value cache(llvm::StringRef which, int64_t layer) {
    Value arg = entry->addArgument(
        RankedTensorType::get({batch, config.maxSeqLen, config.kvDim()},
                              elementType),
        builder.getUnknownLoc());
    argAttrs.push_back(builder.getDictionaryAttr(
        {builder.getNamedAttr(llama::attrs::kvCache,
                              builder.getStringAttr(which)),
         builder.getNamedAttr(llama::attrs::layer,
                              builder.getI64IntegerAttr(layer))}));
    return arg;
  }

  Value input(Type type) {
    argAttrs.push_back(builder.getDictionaryAttr({}));
    return entry->addArgument(type, builder.getUnknownLoc());
  }

  Location nameLoc(const llvm::Twine &name) {
    return NameLoc::get(builder.getStringAttr(name));
  }

  Value decoderLayer(int64_t layer, Value x);

  const ModelConfig &config;
  EntryKind kind;
  OpBuilder builder;
  Type elementType;
  int64_t batch, seq;
  Block *entry = nullptr;
  Value position;
  SmallVector<Attribute> argAttrs;
  SmallVector<Value> results;
};

} // namespace

Value EntryBuilder::decoderLayer(int64_t layer, Value x) {
  std::string prefix = "layers." + std::to_string(layer) + ".";
  int64_t dim = config.dim, kvDim = config.kvDim(), ffn = config.ffnDim;
  FloatAttr eps = builder.getF64FloatAttr(config.normEps);
  auto rope = [&](Value v, Location loc) {
    return builder.create<llama::RoPEOp>(
        loc, v.getType(), v, position,
        builder.getI64IntegerAttr(config.headDim()),
        builder.getF64FloatAttr(config.ropeTheta),
        llama::RopeStyleAttr::get(builder.getContext(),
                                  config.ropeStyle == RopeStyle::Adjacent
                                      ? llama::RopeStyle::Adjacent
                                      : llama::RopeStyle::HalfSplit));
  };

  // Attention block.
  Location attnLoc = nameLoc(prefix + "attention");
  Value attnNorm = weight(prefix + "attention_norm.weight", {dim});
  Value xn = builder.create<llama::RMSNormOp>(attnLoc, x.getType(), x,
                                              attnNorm, eps);
  Value wq = weight(prefix + "attention.wq.weight", {dim, dim});
  Value wk = weight(prefix + "attention.wk.weight", {kvDim, dim});
  Value wv = weight(prefix + "attention.wv.weight", {kvDim, dim});
  Value wo = weight(prefix + "attention.wo.weight", {dim, dim});
  Value q = builder.create<llama::MatmulOp>(attnLoc, activation(dim), xn, wq);
  Value k = builder.create<llama::MatmulOp>(attnLoc, activation(kvDim), xn, wk);
  Value v = builder.create<llama::MatmulOp>(attnLoc, activation(kvDim), xn, wv);
  Value qr = rope(q, attnLoc), kr = rope(k, attnLoc);
  Value keys = kr, values = v;
  if (kind != EntryKind::ForwardLoss) {
    Value kc = cache("k", layer), vc = cache("v", layer);
    keys = builder.create<llama::KVCacheWriteOp>(attnLoc, kc.getType(), kc, kr,
                                                 position);
    values = builder.create<llama::KVCacheWriteOp>(attnLoc, vc.getType(), vc, v,
                                                   position);
    results.push_back(keys);
    results.push_back(values);
  }
  Value att = builder.create<llama::AttentionOp>(
      attnLoc, activation(dim), qr, keys, values, position,
      builder.getI64IntegerAttr(config.nHeads),
      builder.getI64IntegerAttr(config.nKvHeads), FloatAttr());
  Value o = builder.create<llama::MatmulOp>(attnLoc, activation(dim), att, wo);
  x = builder.create<llama::AddOp>(attnLoc, x, o);

  // Feed-forward block.
  Location ffnLoc = nameLoc(prefix + "feed_forward");
  Value ffnNorm = weight(prefix + "ffn_norm.weight", {dim});
  Value w1 = weight(prefix + "feed_forward.w1.weight", {ffn, dim});
  Value w2 = weight(prefix + "feed_forward.w2.weight", {dim, ffn});
  Value w3 = weight(prefix + "feed_forward.w3.weight", {ffn, dim});
  Value hn =
      builder.create<llama::RMSNormOp>(ffnLoc, x.getType(), x, ffnNorm, eps);
  Value gate = builder.create<llama::MatmulOp>(ffnLoc, activation(ffn), hn, w1);
  Value up = builder.create<llama::MatmulOp>(ffnLoc, activation(ffn), hn, w3);
  Value act = builder.create<llama::SiLUOp>(ffnLoc, gate);
  Value h = builder.create<llama::MulOp>(ffnLoc, act, up);
  Value down = builder.create<llama::MatmulOp>(ffnLoc, activation(dim), h, w2);
  return builder.create<llama::AddOp>(ffnLoc, x, down);
}

func::FuncOp EntryBuilder::build(Location loc) {
  auto func = builder.create<func::FuncOp>(loc, toString(kind),
                                           builder.getFunctionType({}, {}));
  entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);

  auto tokenType = RankedTensorType::get({batch, seq}, builder.getI32Type());
  Value tokens = input(tokenType);
  Value targets, lossWeights;
  if (kind == EntryKind::ForwardLoss) {
    targets = input(tokenType);
    lossWeights = input(RankedTensorType::get({batch, seq}, builder.getF32Type()));
    position = builder.create<arith::ConstantIntOp>(loc, 0, 32);
  } else {
    position = input(builder.getI32Type());
  }

  Value table = weight("tok_embeddings.weight", {config.vocabSize, config.dim});
  Value x = builder.create<llama::EmbeddingOp>(nameLoc("tok_embeddings"),
                                               activation(config.dim), table,
                                               tokens);
  SmallVector<Value> caches;
  for (int64_t layer = 0; layer < config.nLayers; ++layer)
    x = decoderLayer(layer, x);
  caches.swap(results);

  Location headLoc = nameLoc("output");
  Value finalNorm = weight("norm.weight", {config.dim});
  Value xn = builder.create<llama::RMSNormOp>(
      headLoc, x.getType(), x, finalNorm,
      builder.getF64FloatAttr(config.normEps));
  Value classifier = config.sharedClassifier
                         ? table
                         : weight("output.weight",
                                  {config.vocabSize, config.dim});
  Value logits = builder.create<llama::MatmulOp>(
      headLoc, activation(config.vocabSize), xn, classifier);

  SmallVector<Value> returned;
  if (kind == EntryKind::ForwardLoss) {
    returned.push_back(builder.create<llama::CrossEntropyOp>(
        nameLoc("loss"), RankedTensorType::get({}, builder.getF32Type()),
        logits, targets, lossWeights));
  } else {
    returned.push_back(logits);
    llvm::append_range(returned, caches);
  }
  builder.create<func::ReturnOp>(loc, returned);

  func.setFunctionType(builder.getFunctionType(
      entry->getArgumentTypes(), ValueRange(returned).getTypes()));
  func.setAllArgAttrs(argAttrs);
  func->setAttr(llama::attrs::entry, builder.getStringAttr(toString(kind)));
  return func;
}

static DictionaryAttr configAttr(Builder &b, const ModelConfig &c) {
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("name", b.getStringAttr(c.name)),
      b.getNamedAttr("dim", b.getI64IntegerAttr(c.dim)),
      b.getNamedAttr("n_layers", b.getI64IntegerAttr(c.nLayers)),
      b.getNamedAttr("n_heads", b.getI64IntegerAttr(c.nHeads)),
      b.getNamedAttr("n_kv_heads", b.getI64IntegerAttr(c.nKvHeads)),
      b.getNamedAttr("ffn_dim", b.getI64IntegerAttr(c.ffnDim)),
      b.getNamedAttr("vocab_size", b.getI64IntegerAttr(c.vocabSize)),
      b.getNamedAttr("max_seq_len", b.getI64IntegerAttr(c.maxSeqLen)),
      b.getNamedAttr("rope_theta", b.getF64FloatAttr(c.ropeTheta)),
      b.getNamedAttr("norm_eps", b.getF64FloatAttr(c.normEps)),
      b.getNamedAttr("rope_style", b.getStringAttr(toString(c.ropeStyle))),
      b.getNamedAttr("dtype", b.getStringAttr(toString(c.dtype))),
      b.getNamedAttr("shared_classifier", b.getBoolAttr(c.sharedClassifier)),
  };
  return b.getDictionaryAttr(fields);
}

OwningOpRef<ModuleOp> llamac::buildModel(MLIRContext &context,
                                         const ModelConfig &config,
                                         const BuildOptions &options) {
  context.loadDialect<llama::LlamaDialect, func::FuncDialect,
                      arith::ArithDialect>();
  Location loc = NameLoc::get(StringAttr::get(&context, config.name));
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder b(&context);
  (*module)->setAttr(llama::attrs::config, configAttr(b, config));
  for (EntryKind kind : options.entries) {
    EntryBuilder entry(context, config, options, kind);
    func::FuncOp func = entry.build(loc);
    module->push_back(func);
  }
  return module;
}

FailureOr<ModelConfig> llamac::readModelConfig(ModuleOp module) {
  auto dict = module->getAttrOfType<DictionaryAttr>(llama::attrs::config);
  if (!dict)
    return module.emitError() << "module has no '" << llama::attrs::config
                              << "' dictionary";
  ModelConfig c;
  bool ok = true;
  auto getInt = [&](StringRef key, int64_t &out) {
    auto attr = dict.getAs<IntegerAttr>(key);
    if (!attr) {
      module.emitError() << llama::attrs::config << " lacks integer '" << key
                         << "'";
      ok = false;
      return;
    }
    out = attr.getInt();
  };
  auto getFloat = [&](StringRef key, double &out) {
    auto attr = dict.getAs<FloatAttr>(key);
    if (!attr) {
      module.emitError() << llama::attrs::config << " lacks float '" << key
                         << "'";
      ok = false;
      return;
    }
    out = attr.getValueAsDouble();
  };
  getInt("dim", c.dim);
  getInt("n_layers", c.nLayers);
  getInt("n_heads", c.nHeads);
  getInt("n_kv_heads", c.nKvHeads);
  getInt("ffn_dim", c.ffnDim);
  getInt("vocab_size", c.vocabSize);
  getInt("max_seq_len", c.maxSeqLen);
  getFloat("rope_theta", c.ropeTheta);
  getFloat("norm_eps", c.normEps);
  if (!ok)
    return failure();
  if (auto name = dict.getAs<StringAttr>("name"))
    c.name = name.str();
  auto style = dict.getAs<StringAttr>("rope_style");
  c.ropeStyle = style && style.getValue() == "half" ? RopeStyle::HalfSplit
                                                     : RopeStyle::Adjacent;
  auto dtype = dict.getAs<StringAttr>("dtype");
  StringRef dt = dtype ? dtype.getValue() : "f32";
  c.dtype = dt == "bf16"  ? DType::BF16
            : dt == "f16" ? DType::F16
                          : DType::F32;
  if (auto shared = dict.getAs<BoolAttr>("shared_classifier"))
    c.sharedClassifier = shared.getValue();
  std::string problem = validate(c);
  if (!problem.empty())
    return module.emitError() << llama::attrs::config << ": " << problem;
  return c;
}
