//===- CpuModelTest.cpp - Whole entry points through the CPU kernels ------===//
//
// Builds a small Llama with the frontend, emits every op of its entry points
// (before and after fusion) and runs them through a tiny interpreter that
// calls one kernel per op. The fused and unfused programs are independent
// paths through the emitter, so agreeing logits and losses check the fused
// kernels' semantics on real IR, including KV caches carried across calls.
//
//===----------------------------------------------------------------------===//

#include "test/unit/codegen/CpuKernelHarness.h"

#include "codegen/cpu/CpuEmitter.h"
#include "frontend/ModelBuilder.h"
#include "ir/LlamaOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/xxhash.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>

using namespace mlir;
using namespace llamac;
using namespace llamac::test;

namespace {

ModelConfig smallConfig(DType dtype, bool stories260K = false) {
  ModelConfig c;
  if (stories260K) {
    // The shape of llama2.c's stories260K, the benchmark model.
    c.name = "stories260K";
    c.dim = 64;
    c.nLayers = 5;
    c.nHeads = 8;
    c.nKvHeads = 4;
    c.ffnDim = 172;
    c.vocabSize = 512;
    c.maxSeqLen = 512;
    c.dtype = dtype;
    return c;
  }
  c.name = "codegen-test";
  c.dim = 64;
  c.nLayers = 2;
  c.nHeads = 8;
  c.nKvHeads = 4;
  c.ffnDim = 172;
  c.vocabSize = 96;
  c.maxSeqLen = 32;
  c.dtype = dtype;
  return c;
}

Dtype dtypeOf(Type type) {
  if (type.isF16())
    return Dtype::F16;
  if (type.isBF16())
    return Dtype::BF16;
  if (type.isInteger(32))
    return Dtype::I32;
  return Dtype::F32;
}

/// One variant of a model's entry points, emitted under a symbol prefix.
struct Program {
  /// Inference entries, and the training entry (built apart, as llamac
  /// fuses training modules with the gains kept separate).
  OwningOpRef<ModuleOp> inference, training;
  llvm::DenseMap<Operation *, std::string> symbols;

  func::FuncOp lookup(StringRef name) const {
    for (ModuleOp module : {inference.get(), training.get()})
      if (auto func = module.lookupSymbol<func::FuncOp>(name))
        return func;
    return nullptr;
  }
};

Program buildProgram(MLIRContext &context, DType dtype, bool fuse,
                     StringRef prefix, std::string &cpp, std::string &error,
                     bool stories260K = false) {
  Program program;
  for (bool training : {false, true}) {
    BuildOptions options;
    options.entries = training ? std::vector<EntryKind>{EntryKind::ForwardLoss}
                               : std::vector<EntryKind>{EntryKind::Prefill,
                                                        EntryKind::Decode};
    OwningOpRef<ModuleOp> module =
        buildModel(context, smallConfig(dtype, stories260K), options);
    if (fuse) {
      PassManager pm(&context);
      FusionPipelineOptions fusion;
      fusion.training = training;
      buildFusionPipeline(pm, fusion);
      if (failed(pm.run(*module))) {
        error = "fusion failed";
        return program;
      }
    }
    (training ? program.training : program.inference) = std::move(module);
  }
  std::unique_ptr<codegen::KernelEmitter> emitter = codegen::createCpuEmitter();
  llvm::raw_string_ostream os(cpp);
  int index = 0;
  for (ModuleOp module : {program.inference.get(), program.training.get()})
    module->walk([&](Operation *op) {
      if (!emitter->canEmit(op))
        return;
      std::string symbol = (prefix + "_" + std::to_string(index++)).str();
      program.symbols[op] = symbol;
      if (failed(emitter->emitKernel(op, 0, symbol, os)))
        error = "cannot emit " + op->getName().getStringRef().str();
    });
  return program;
}

/// Runs entry points of one program, keeping KV caches across calls.
class Interpreter {
public:
  Interpreter(const Program &program, const KernelLibrary &library)
      : program(program), library(library) {}

  /// One kernel launch of a planned call.
  struct Step {
    LlamaCpuKernel kernel;
    std::vector<void *> buffers;
    /// pack_weights: a runtime runs it once when it binds the weights.
    bool weightsOnly = false;
  };

  /// Calls `entry` on `tokens` (batch 1) at `position`; returns its results.
  std::vector<Buffer *>
  call(StringRef entry, const std::vector<int32_t> &tokens, int32_t position) {
    std::vector<Step> steps;
    std::vector<Buffer *> results = plan(entry, tokens, steps);
    LlamaKernelContext ctx = makeContext(1, tokens.size(), position);
    for (Step &step : steps)
      step.kernel(step.buffers.data(), &ctx);
    return results;
  }

  /// Allocates the buffers of a call of `entry` and lists its launches.
  std::vector<Buffer *> plan(StringRef entry,
                             const std::vector<int32_t> &tokens,
                             std::vector<Step> &steps) {
    func::FuncOp func = program.lookup(entry);
    int64_t seq = tokens.size();
    llvm::DenseMap<Value, Buffer *> values;
    for (BlockArgument arg : func.getArguments()) {
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      if (!type)
        continue; // the position, from the context
      values[arg] = argument(func, arg, type, tokens, seq);
    }
    for (Operation &op : func.getBody().front()) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        std::vector<Buffer *> results;
        for (Value v : ret.getOperands())
          results.push_back(values.lookup(v));
        return results;
      }
      auto it = program.symbols.find(&op);
      if (it == program.symbols.end())
        continue; // arith.constant: baked into the kernels
      Step step{library.kernel(it->second), {}, isa<llama::PackWeightsOp>(op)};
      EXPECT_NE(step.kernel, nullptr) << it->second;
      if (!step.kernel)
        return {};
      for (Value operand : op.getOperands())
        if (isa<RankedTensorType>(operand.getType()))
          step.buffers.push_back(values.lookup(operand)->data());
      for (OpResult result : op.getResults()) {
        Buffer *buffer = aliasedCache(&op, result, values);
        if (!buffer)
          buffer = allocate(cast<RankedTensorType>(result.getType()), seq);
        values[result] = buffer;
        step.buffers.push_back(buffer->data());
      }
      steps.push_back(std::move(step));
    }
    return {};
  }

private:
  Buffer *allocate(RankedTensorType type, int64_t seq) {
    int64_t count = 1;
    for (unsigned d = 0; d < type.getRank(); ++d)
      count *= type.isDynamicDim(d) ? (d == 0 ? 1 : seq) : type.getDimSize(d);
    storage.push_back(Buffer::zeros(dtypeOf(type.getElementType()), count));
    return &storage.back();
  }

  /// KV-cache results are their cache operands, updated in place.
  Buffer *aliasedCache(Operation *op, OpResult result,
                       llvm::DenseMap<Value, Buffer *> &values) {
    if (auto write = dyn_cast<llama::KVCacheWriteOp>(op))
      return values.lookup(write.getCache());
    if (auto fused = dyn_cast<llama::FusedRoPEAttentionOp>(op)) {
      if (result.getResultNumber() == 1)
        return values.lookup(fused.getKeyCache());
      if (result.getResultNumber() == 2)
        return values.lookup(fused.getValueCache());
    }
    return nullptr;
  }

  Buffer *argument(func::FuncOp func, BlockArgument arg, RankedTensorType type,
                   const std::vector<int32_t> &tokens, int64_t seq) {
    unsigned i = arg.getArgNumber();
    Dtype dtype = dtypeOf(type.getElementType());
    if (auto kind =
            func.getArgAttrOfType<StringAttr>(i, llama::attrs::kvCache)) {
      auto layer = func.getArgAttrOfType<IntegerAttr>(i, llama::attrs::layer);
      std::string key = kind.str() + std::to_string(layer.getInt());
      auto it = caches.find(key);
      if (it != caches.end())
        return it->second;
      return caches[key] = allocate(type, seq);
    }
    if (auto name =
            func.getArgAttrOfType<StringAttr>(i, llama::attrs::weight)) {
      // The same weights in every program: seeded by the tensor's name.
      bool gain = name.getValue().contains("norm");
      int64_t count = type.getNumElements();
      storage.push_back(Buffer::random(
          dtype, count,
          static_cast<uint32_t>(llvm::xxh3_64bits(name.getValue())),
          gain ? 0.8f : -0.2f, gain ? 1.2f : 0.2f));
      return &storage.back();
    }
    if (dtype == Dtype::I32) {
      // Tokens first, then the training targets: the next tokens.
      std::vector<int32_t> ids = tokens;
      if (i != 0)
        for (int32_t &id : ids)
          id = (id * 7 + 3) % 96;
      storage.push_back(Buffer::tokens(ids));
      return &storage.back();
    }
    // The training loss weights: mask the first token out.
    std::vector<float> weights(seq, 1.0f);
    weights[0] = 0.0f;
    storage.push_back(Buffer(Dtype::F32, weights));
    return &storage.back();
  }

  const Program &program;
  const KernelLibrary &library;
  std::deque<Buffer> storage;
  std::map<std::string, Buffer *> caches;
};

/// Both programs of one dtype, compiled into one library.
struct Programs {
  MLIRContext context;
  Program unfused, fused;
  std::unique_ptr<KernelLibrary> library;
  std::string error;

  explicit Programs(DType dtype) {
    std::string cpp;
    {
      llvm::raw_string_ostream os(cpp);
      codegen::createCpuEmitter()->emitPrelude(os);
    }
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      error += diag.str() + "\n";
      return success();
    });
    unfused = buildProgram(context, dtype, false, "unfused", cpp, error);
    fused = buildProgram(context, dtype, true, "fused", cpp, error);
    if (error.empty())
      library = std::make_unique<KernelLibrary>(cpp);
  }
};

const Programs &programs(DType dtype) {
  static std::map<DType, std::unique_ptr<Programs>> cache;
  auto &entry = cache[dtype];
  if (!entry)
    entry = std::make_unique<Programs>(dtype);
  return *entry;
}

/// Logits of a prompt's prefill and of the next decode step, per program.
std::pair<std::vector<float>, std::vector<float>>
prefillThenDecode(const Programs &p, const Program &program) {
  Interpreter run(program, *p.library);
  std::vector<Buffer *> prefill = run.call("prefill", {5, 17, 42, 3, 88}, 0);
  if (prefill.empty())
    return {};
  std::vector<float> first = prefill[0]->values();
  std::vector<Buffer *> decode = run.call("decode", {61}, 5);
  if (decode.empty())
    return {};
  return {first, decode[0]->values()};
}

std::vector<double> toDouble(const std::vector<float> &v) {
  return std::vector<double>(v.begin(), v.end());
}

TEST(CpuModel, F32FusedMatchesUnfused) {
  const Programs &p = programs(DType::F32);
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.library->error(), "");
  auto [prefillRef, decodeRef] = prefillThenDecode(p, p.unfused);
  auto [prefill, decode] = prefillThenDecode(p, p.fused);
  ASSERT_EQ(prefill.size(), 5u * 96);
  ASSERT_EQ(decode.size(), 96u);
  expectClose(prefill, toDouble(prefillRef), 1e-4, 1e-4, "prefill logits");
  expectClose(decode, toDouble(decodeRef), 1e-4, 1e-4, "decode logits");
  // The logits are not degenerate: the model actually computed something.
  double spread = 0;
  for (float v : decode)
    spread = std::max<double>(spread, std::fabs(v - decode[0]));
  EXPECT_GT(spread, 1e-3);
}

TEST(CpuModel, F32DecodeStepsMatchPrefill) {
  // Feeding a prompt token by token through decode gives the logits that
  // prefill gives for the last token: the KV cache carries the context.
  const Programs &p = programs(DType::F32);
  ASSERT_EQ(p.library->error(), "");
  Interpreter stepwise(p.fused, *p.library), whole(p.fused, *p.library);
  std::vector<int32_t> prompt = {5, 17, 42, 3};
  std::vector<float> last;
  for (size_t i = 0; i < prompt.size(); ++i) {
    std::vector<Buffer *> out = stepwise.call("decode", {prompt[i]}, i);
    ASSERT_FALSE(out.empty());
    last = out[0]->values();
  }
  std::vector<Buffer *> out = whole.call("prefill", prompt, 0);
  ASSERT_FALSE(out.empty());
  std::vector<float> all = out[0]->values();
  std::vector<double> lastRow(all.end() - 96, all.end());
  expectClose(last, lastRow, 1e-4, 1e-4, "last-token logits");
}

TEST(CpuModel, F32TrainingLossMatches) {
  const Programs &p = programs(DType::F32);
  ASSERT_EQ(p.library->error(), "");
  Interpreter ref(p.unfused, *p.library), fused(p.fused, *p.library);
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<Buffer *> a = ref.call("forward_loss", tokens, 0);
  std::vector<Buffer *> b = fused.call("forward_loss", tokens, 0);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  float loss = b[0]->values()[0];
  EXPECT_GT(loss, 1.0f); // about log(96) for random weights
  expectClose({loss}, {a[0]->values()[0]}, 1e-5, 1e-5, "loss");
}

TEST(CpuModel, HalfPrecisionProgramsRun) {
  for (DType dtype : {DType::BF16, DType::F16}) {
    const Programs &p = programs(dtype);
    ASSERT_EQ(p.error, "");
    ASSERT_EQ(p.library->error(), "");
    auto [prefillRef, decodeRef] = prefillThenDecode(p, p.unfused);
    auto [prefill, decode] = prefillThenDecode(p, p.fused);
    ASSERT_EQ(decode.size(), 96u);
    for (float v : decode)
      ASSERT_TRUE(std::isfinite(v));
    // Fusion skips intermediate roundings, so the two differ by a few ulps
    // of the element type.
    expectClose(decode, toDouble(decodeRef), 0.1, 0.05, "decode logits");
  }
}

} // namespace
