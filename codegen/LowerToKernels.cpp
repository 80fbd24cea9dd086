//===- LowerToKernels.cpp - Fused IR to kernels and launches --------------===//

#include "codegen/LowerToKernels.h"

#include "codegen/MemoryPlanner.h"
#include "frontend/ModelBuilder.h"
#include "ir/LlamaOps.h"
#include "ir/TrainedWeights.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <map>

using namespace mlir;
using namespace llamac;
using namespace llamac::codegen;
namespace llama = llamac::llama;
using artifact::BufferKind;

namespace {

/// The symbol emitters write before lowering names the kernel; bodies that
/// differ only in it are the same kernel.
constexpr llvm::StringLiteral kPlaceholder = "__llama_kernel__";

llvm::Error failure(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string originOf(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "";
}

llvm::Expected<artifact::ElementType> elementTypeOf(Type type) {
  if (type.isF32())
    return artifact::ElementType::F32;
  if (type.isF16())
    return artifact::ElementType::F16;
  if (type.isBF16())
    return artifact::ElementType::BF16;
  if (type.isInteger(32))
    return artifact::ElementType::I32;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << type;
  return failure("unsupported element type " + text);
}

uint64_t elementBytes(artifact::ElementType type) {
  return type == artifact::ElementType::F16 ||
                 type == artifact::ElementType::BF16
             ? 2
             : 4;
}

class Lowering {
public:
  Lowering(KernelEmitter &emitter, const LoweringOptions &options)
      : emitter(emitter), options(options) {}

  llvm::Expected<artifact::ArtifactSpec> run(ModuleOp module);

private:
  llvm::Error lowerFunction(func::FuncOp func);
  llvm::Expected<uint32_t> kernelFor(Operation *op, unsigned phase = 0);
  llvm::Expected<uint32_t> newBuffer(const std::string &name, BufferKind kind,
                                     Type type);
  /// The buffer of a weight or KV-cache argument, shared by every entry.
  llvm::Expected<uint32_t> globalBuffer(const std::string &name,
                                        BufferKind kind, Type type);
  llvm::Expected<std::optional<uint32_t>> packedWeight(llama::PackWeightsOp op);
  llvm::Expected<bool> roundedAtLoad(llama::ConvertOp op);
  /// Whether buffer `id` changes from call to call: a weight some entry
  /// trains, or the rounded copy of one.
  bool changesPerCall(uint32_t id) const;

  KernelEmitter &emitter;
  LoweringOptions options;
  artifact::ArtifactSpec spec;
  artifact::EntrySpec load;
  llvm::StringMap<uint32_t> globals;
  std::map<std::vector<uint32_t>, uint32_t> packedByOperands;
  llvm::StringMap<uint32_t> kernelByBody;
  /// Weights some entry updates in place (train_step): packing them once at
  /// load time would leave stale copies, so their packs run on every call.
  /// Their roundings run once unless the update fails to keep them current.
  std::optional<llama::TrainedWeights> trained;
  /// The weight each load-time rounded copy was rounded from, by buffer.
  llvm::DenseMap<uint32_t, std::string> roundedFrom;
  std::string kernelDefinitions;
  /// Buffers of the entry being lowered.
  llvm::DenseMap<Value, uint32_t> bufferOf;
};

} // namespace

/// The operand that result `index` of an AdamW update writes in place.
static Value updatedOperand(llama::AdamWUpdateOp update, unsigned index) {
  size_t n = update.getParams().size();
  if (index < n)
    return update.getParams()[index];
  if (index < 2 * n)
    return update.getMoments()[index - n];
  if (index < 3 * n)
    return update.getSecondMoments()[index - 2 * n];
  return update.getRounded()[index - 3 * n];
}

llvm::Expected<uint32_t> Lowering::newBuffer(const std::string &name,
                                             BufferKind kind, Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return failure("buffer '" + name + "' is not a ranked tensor");
  auto element = elementTypeOf(tensor.getElementType());
  if (!element)
    return element.takeError();
  artifact::BufferSpec buffer;
  buffer.name = name;
  buffer.kind = kind;
  buffer.type = *element;
  for (int64_t d : tensor.getShape())
    buffer.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  spec.buffers.push_back(std::move(buffer));
  return spec.buffers.size() - 1;
}

llvm::Expected<uint32_t> Lowering::globalBuffer(const std::string &name,
                                                BufferKind kind, Type type) {
  auto it = globals.find(name);
  if (it != globals.end())
    return it->second;
  auto id = newBuffer(name, kind, type);
  if (id)
    globals[name] = *id;
  return id;
}

bool Lowering::changesPerCall(uint32_t id) const {
  auto source = roundedFrom.find(id);
  return trained->isTrained(source != roundedFrom.end()
                                ? StringRef(source->second)
                                : StringRef(spec.buffers[id].name));
}

/// Rounding weights to the compute type (mixed precision's master weights)
/// runs once, in the "load" entry, into persistent copies that every entry
/// shares, named after the type and the weight ("bf16(output.weight)"),
/// when no call changes a weight under its copy without rewriting the copy
/// (TrainedWeights::roundsAtLoad). Returns false when it must run on every
/// call instead.
llvm::Expected<bool> Lowering::roundedAtLoad(llama::ConvertOp op) {
  if (!trained->roundsAtLoad(op))
    return false;
  artifact::LaunchSpec launch;
  std::vector<uint32_t> copies;
  bool missing = false;
  for (auto [input, result] : llvm::zip(op.getInputs(), op.getResults())) {
    uint32_t weight = bufferOf.lookup(input);
    launch.buffers.push_back(weight);
    std::string type;
    llvm::raw_string_ostream typeName(type);
    typeName << cast<RankedTensorType>(result.getType()).getElementType();
    std::string name = type + "(" + spec.buffers[weight].name + ")";
    missing |= !globals.contains(name);
    auto copy = globalBuffer(name, BufferKind::Packed, result.getType());
    if (!copy)
      return copy.takeError();
    roundedFrom[*copy] = spec.buffers[weight].name;
    bufferOf[result] = *copy;
    copies.push_back(*copy);
  }
  // Another entry's rounding of the same weights already made them.
  if (!missing)
    return true;
  auto kernel = kernelFor(op);
  if (!kernel)
    return kernel.takeError();
  launch.kernel = *kernel;
  launch.buffers.insert(launch.buffers.end(), copies.begin(), copies.end());
  load.launches.push_back(std::move(launch));
  return true;
}

llvm::Expected<uint32_t> Lowering::kernelFor(Operation *op, unsigned phase) {
  std::string body;
  llvm::raw_string_ostream os(body);
  if (failed(emitter.emitKernel(op, phase, kPlaceholder, os)))
    return failure("cannot emit a kernel for '" +
                   op->getName().getStringRef() + "' at " + originOf(op));
  os.flush();
  auto it = kernelByBody.find(body);
  if (it != kernelByBody.end())
    return it->second;

  uint32_t index = spec.kernels.size();
  std::string opName = op->getName().stripDialect().str();
  std::string symbol = "k" + std::to_string(index) + "_" + opName;
  if (emitter.phaseCount(op) > 1) {
    std::string name = emitter.phaseName(op, phase);
    opName += "." + name;
    symbol += "_" + name;
  }
  std::string named = body;
  for (size_t at = named.find(kPlaceholder); at != std::string::npos;
       at = named.find(kPlaceholder, at + symbol.size()))
    named.replace(at, kPlaceholder.size(), symbol);
  kernelDefinitions += named;
  kernelDefinitions += "\n";
  spec.kernels.push_back(
      {symbol, opName, originOf(op), emitter.launchGeometry(op, phase),
       emitter.tensorMaps(op, phase), emitter.wgmmaGeometry(op, phase)});
  kernelByBody[body] = index;
  return index;
}

/// Weight packing runs once, in the "load" entry, when every operand is a
/// weight or an already packed weight. Returns nothing when an operand is an
/// activation (then the op is an ordinary per-call kernel).
llvm::Expected<std::optional<uint32_t>>
Lowering::packedWeight(llama::PackWeightsOp op) {
  std::vector<uint32_t> operands;
  for (Value v : op->getOperands()) {
    uint32_t id = bufferOf.lookup(v);
    BufferKind kind = spec.buffers[id].kind;
    if (kind != BufferKind::Weight && kind != BufferKind::Packed)
      return std::nullopt;
    if (changesPerCall(id))
      return std::nullopt;
    operands.push_back(id);
  }
  auto it = packedByOperands.find(operands);
  if (it != packedByOperands.end())
    return it->second;

  std::string name = "packed(";
  for (auto [i, id] : llvm::enumerate(operands))
    name += (i ? ", " : "") + spec.buffers[id].name;
  name += op.getGain() ? " scaled)" : ")";
  auto packed = newBuffer(name, BufferKind::Packed, op.getType());
  if (!packed)
    return packed.takeError();
  auto kernel = kernelFor(op);
  if (!kernel)
    return kernel.takeError();
  artifact::LaunchSpec launch{*kernel, operands};
  launch.buffers.push_back(*packed);
  load.launches.push_back(std::move(launch));
  packedByOperands[operands] = *packed;
  return *packed;
}

llvm::Error Lowering::lowerFunction(func::FuncOp func) {
  bufferOf.clear();
  artifact::EntrySpec entry;
  entry.name = func.getName().str();
  if (func.getNumArguments() == 0)
    return failure("entry '" + entry.name + "' has no token argument");
  auto tokens = dyn_cast<RankedTensorType>(func.getArgument(0).getType());
  if (!tokens || tokens.getRank() != 2)
    return failure("entry '" + entry.name +
                   "': the first argument must be the [batch, seq] tokens");
  if (tokens.isDynamicDim(0))
    return failure("entry '" + entry.name + "': the batch must be static");
  entry.batch = tokens.getDimSize(0);
  entry.seq = tokens.isDynamicDim(1) ? -1 : tokens.getDimSize(1);
  entry.maxSeq = entry.seq > 0 ? entry.seq
                 : options.maxSeq > 0 ? options.maxSeq
                                      : spec.config.maxSeqLen;

  // Arguments.
  static const char *inputNames[] = {"tokens", "targets", "loss_weights"};
  for (BlockArgument arg : func.getArguments()) {
    unsigned i = arg.getArgNumber();
    if (auto name = func.getArgAttrOfType<StringAttr>(i, llama::attrs::weight)) {
      auto id = globalBuffer(name.str(), BufferKind::Weight, arg.getType());
      if (!id)
        return id.takeError();
      bufferOf[arg] = *id;
    } else if (auto which =
                   func.getArgAttrOfType<StringAttr>(i, llama::attrs::kvCache)) {
      auto layer = func.getArgAttrOfType<IntegerAttr>(i, llama::attrs::layer);
      if (!layer)
        return failure("entry '" + entry.name + "': cache argument " +
                       llvm::Twine(i) + " has no llama.layer");
      auto id = globalBuffer(which.str() + "_cache." +
                                 std::to_string(layer.getInt()),
                             BufferKind::Cache, arg.getType());
      if (!id)
        return id.takeError();
      bufferOf[arg] = *id;
    } else if (auto state = func.getArgAttrOfType<StringAttr>(
                   i, llama::attrs::optimizerState)) {
      auto id = globalBuffer(state.str(), BufferKind::State, arg.getType());
      if (!id)
        return id.takeError();
      bufferOf[arg] = *id;
    } else if (isa<RankedTensorType>(arg.getType())) {
      size_t index = entry.inputs.size();
      std::string name = index < 3 ? inputNames[index] : "input";
      if (auto named = func.getArgAttrOfType<StringAttr>(i, llama::attrs::input))
        name = named.str();
      // The runtime range-checks the input named "tokens" against the vocab.
      auto id = newBuffer(name, BufferKind::Input, arg.getType());
      if (!id)
        return id.takeError();
      bufferOf[arg] = *id;
      entry.inputs.push_back(*id);
    } else if (!arg.getType().isInteger(32)) {
      return failure("entry '" + entry.name + "': argument " +
                     llvm::Twine(i) + " is neither a tensor nor the position");
    }
  }

  // Operations, in order. Live ranges of this entry's activations.
  std::vector<LiveRange> ranges;
  std::vector<uint32_t> activations;
  llvm::DenseMap<uint32_t, size_t> rangeOf;
  /// Buffers an earlier launch of this entry updated in place, by the op.
  llvm::DenseMap<uint32_t, Operation *> updatedBy;
  auto use = [&](uint32_t id, int64_t launch) {
    auto it = rangeOf.find(id);
    if (it != rangeOf.end())
      ranges[it->second].last = std::max(ranges[it->second].last, launch);
  };
  for (Operation &op : func.getBody().front()) {
    if (isa<arith::ConstantOp>(op))
      continue;
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      if (ret.getNumOperands() == 0)
        return failure("entry '" + entry.name + "' returns nothing");
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        auto it = bufferOf.find(v);
        if (it == bufferOf.end())
          return failure("entry '" + entry.name + "': result " +
                         llvm::Twine(i) + " has no buffer");
        uint32_t id = it->second;
        // The first result is the output; later ones are KV caches, weights
        // or optimizer state updated in place, or further outputs (the
        // gradients of loss_and_grads, train_step's rate), listed in order
        // after the first.
        BufferKind kind = spec.buffers[id].kind;
        bool inPlace = kind == BufferKind::Cache ||
                       (updatedBy.count(id) && (kind == BufferKind::Weight ||
                                                kind == BufferKind::State ||
                                                kind == BufferKind::Packed));
        if (i == 0 || kind == BufferKind::Activation)
          entry.outputs.push_back(id);
        else if (!inPlace)
          return failure("entry '" + entry.name + "': result " +
                         llvm::Twine(i) +
                         " is neither an activation nor a buffer updated in "
                         "place");
        if (auto name = func.getResultAttrOfType<StringAttr>(
                i, llama::attrs::output))
          spec.buffers[id].name = name.str();
        else if (auto weight = func.getResultAttrOfType<StringAttr>(
                     i, "llama.grad_of"))
          spec.buffers[id].name = "grad." + weight.str();
      }
      continue;
    }
    if (auto pack = dyn_cast<llama::PackWeightsOp>(op)) {
      auto packed = packedWeight(pack);
      if (!packed)
        return packed.takeError();
      if (*packed) {
        bufferOf[pack.getResult()] = **packed;
        continue;
      }
    }
    if (auto convert = dyn_cast<llama::ConvertOp>(op)) {
      auto atLoad = roundedAtLoad(convert);
      if (!atLoad)
        return atLoad.takeError();
      if (*atLoad)
        continue;
    }
    if (!isa<llama::LlamaDialect>(op.getDialect()) || !emitter.canEmit(&op))
      return failure("entry '" + entry.name + "': no kernel for '" +
                     op.getName().getStringRef() + "'");
    auto kernel = kernelFor(&op);
    if (!kernel)
      return kernel.takeError();
    // Later phases read the same buffers, so the op's operands live until
    // its last launch.
    unsigned phases = emitter.phaseCount(&op);
    int64_t index = entry.launches.size();
    int64_t lastLaunch = index + phases - 1;
    artifact::LaunchSpec launch{*kernel, {}};
    for (Value v : op.getOperands()) {
      if (!isa<RankedTensorType>(v.getType()))
        continue;
      auto it = bufferOf.find(v);
      if (it == bufferOf.end())
        return failure("entry '" + entry.name + "': an operand of '" +
                       op.getName().getStringRef() + "' has no buffer");
      if (updatedBy.count(it->second))
        return failure("entry '" + entry.name + "': '" +
                       op.getName().getStringRef() + "' at " + originOf(&op) +
                       " reads '" + spec.buffers[it->second].name +
                       "' after an update wrote it in place");
      launch.buffers.push_back(it->second);
      use(it->second, lastLaunch);
    }
    for (OpResult result : op.getResults()) {
      // KV-cache results are the cache operands, updated in place.
      Value cache;
      if (auto write = dyn_cast<llama::KVCacheWriteOp>(op))
        cache = write.getCache();
      else if (auto fused = dyn_cast<llama::FusedRoPEAttentionOp>(op);
               fused && result.getResultNumber() > 0)
        cache = result.getResultNumber() == 1 ? fused.getKeyCache()
                                              : fused.getValueCache();
      else if (auto update = dyn_cast<llama::AdamWUpdateOp>(op))
        cache = updatedOperand(update, result.getResultNumber());
      uint32_t id;
      if (cache) {
        id = bufferOf.lookup(cache);
        if (auto update = dyn_cast<llama::AdamWUpdateOp>(op)) {
          BufferKind kind = spec.buffers[id].kind;
          // Results past the params, moments and second moments are the
          // rounded copies, in param order.
          unsigned groups = 3 * update.getParams().size();
          bool copy = result.getResultNumber() >= groups;
          if (copy && !roundedFrom.count(id))
            return failure(
                "entry '" + entry.name + "': llama.adamw_update keeps the " +
                "rounded copy of '" +
                llama::TrainedWeights::weightName(
                    update.getParams()[result.getResultNumber() - groups]) +
                "', but its llama.convert runs on every call: it also "
                "rounds a weight that is trained without its copy kept");
          if (!copy && kind != BufferKind::Weight && kind != BufferKind::State)
            return failure("entry '" + entry.name +
                           "': llama.adamw_update must update weight and "
                           "optimizer-state arguments, but '" +
                           spec.buffers[id].name + "' is neither");
          updatedBy[id] = &op;
        }
      } else {
        std::string name = originOf(&op) + "#" + std::to_string(index);
        if (op.getNumResults() > 1)
          name += "." + std::to_string(result.getResultNumber());
        auto created = newBuffer(name, BufferKind::Activation, result.getType());
        if (!created)
          return created.takeError();
        id = *created;
        rangeOf[id] = ranges.size();
        ranges.push_back({0, index, lastLaunch});
        activations.push_back(id);
      }
      bufferOf[result] = id;
      launch.buffers.push_back(id);
    }
    entry.launches.push_back(launch);
    for (unsigned phase = 1; phase < phases; ++phase) {
      auto later = kernelFor(&op, phase);
      if (!later)
        return later.takeError();
      launch.kernel = *later;
      entry.launches.push_back(launch);
    }
  }
  for (uint32_t id : entry.outputs)
    use(id, entry.launches.size());

  // Arena: sizes at the longest call the entry takes.
  for (auto [i, id] : llvm::enumerate(activations)) {
    const artifact::BufferSpec &b = spec.buffers[id];
    uint64_t elements = 1;
    for (int64_t d : b.shape)
      elements *= d < 0 ? entry.maxSeq : d;
    ranges[i].bytes = elements * elementBytes(b.type);
  }
  ArenaPlan plan = planArena(ranges);
  for (auto [i, id] : llvm::enumerate(activations))
    spec.buffers[id].arenaOffset = plan.offsets[i];
  entry.arenaBytes = plan.arenaBytes;
  spec.entries.push_back(std::move(entry));
  return llvm::Error::success();
}

llvm::Expected<artifact::ArtifactSpec> Lowering::run(ModuleOp module) {
  FailureOr<ModelConfig> config = readModelConfig(module);
  if (failed(config))
    return failure("the module has no valid llama.config");
  spec.config = *config;
  trained.emplace(module);
  load.name = "load";
  for (func::FuncOp func : module.getOps<func::FuncOp>())
    if (llvm::Error err = lowerFunction(func))
      return std::move(err);
  if (spec.entries.empty())
    return failure("the module has no entry function");
  if (!load.launches.empty())
    spec.entries.insert(spec.entries.begin(), std::move(load));

  std::string prelude;
  llvm::raw_string_ostream os(prelude);
  emitter.emitPrelude(os);
  os.flush();
  spec.kernelSource = prelude + "\n" + kernelDefinitions;
  return std::move(spec);
}

llvm::Expected<artifact::ArtifactSpec>
llamac::codegen::lowerToKernels(ModuleOp module, KernelEmitter &emitter,
                                const LoweringOptions &options) {
  return Lowering(emitter, options).run(module);
}
