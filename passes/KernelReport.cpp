//===- KernelReport.cpp - FLOPs and bytes of every kernel -----------------===//
//
// The cost model, per kernel (N = batch * tokens rows, e = element bytes):
// * bytes: every tensor operand is read once and every result written once,
//   except that an embedding reads only the N rows it looks up, a KV-cache
//   write touches only the rows it writes (the cache is updated in place),
//   and attention reads the cache rows [0, context + tokens) once per KV
//   head, whatever the GQA group size. The fused attention holds the new
//   rows in registers, so it reads only the `context` old rows.
// * FLOPs: 2·N·K·O per matmul, 4 per RMSNorm element, 3 per RoPE element
//   (6 per rotated pair), 4·d per query-key pair of a head (scores and the
//   weighted sum of values), 4 per SiLU, 1 per add or mul, 5 per SwiGLU
//   output, 3 per logit of the cross-entropy.
//
//===----------------------------------------------------------------------===//

#include "passes/KernelReport.h"

#include "ir/LlamaOps.h"
#include "ir/TrainedWeights.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace llamac;
namespace llama = llamac::llama;

double EntryCosts::flops() const {
  double total = 0;
  for (const KernelCost &k : kernels)
    total += k.flops;
  return total;
}

double EntryCosts::bytes() const {
  double total = 0;
  for (const KernelCost &k : kernels)
    total += k.bytes;
  return total;
}

namespace {

double elementBytes(Type type) {
  return cast<ShapedType>(type).getElementTypeBitWidth() / 8.0;
}

double tensorBytes(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type)
    return 0;
  return type.getNumElements() * elementBytes(type);
}

int64_t dimOf(Value v, unsigned d) {
  return cast<RankedTensorType>(v.getType()).getDimSize(d);
}

std::string originOf(Operation *op) {
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    return name.getName().str();
  return "";
}

/// Query-key pairs one batch row's attention scores: each of the `tokens`
/// new queries sees the `context` cached rows and the new rows up to itself.
double attendedPairs(int64_t tokens, int64_t context) {
  return double(tokens) * context + double(tokens) * (tokens + 1) / 2;
}

class CostModel {
public:
  explicit CostModel(const CostAssumptions &a) : context(a.context) {}

  /// Fills `cost` for `op`; false for ops that are not kernels.
  bool cost(Operation *op, KernelCost &cost);

private:
  double readWriteAll(Operation *op) {
    double bytes = 0;
    for (Value v : op->getOperands())
      bytes += tensorBytes(v);
    for (Value v : op->getResults())
      bytes += tensorBytes(v);
    return bytes;
  }

  /// Flops and cache reads of attention over `query` with `numHeads` heads.
  void attention(Value query, Value keys, int64_t numHeads,
                 int64_t newTokensInCache, KernelCost &cost) {
    int64_t batch = dimOf(query, 0), tokens = dimOf(query, 1);
    int64_t headDim = dimOf(query, 2) / numHeads;
    cost.flops += 4.0 * batch * numHeads * headDim *
                  attendedPairs(tokens, context);
    double rows = double(batch) * (context + newTokensInCache);
    cost.bytes += 2 * rows * dimOf(keys, 2) * elementBytes(keys.getType());
  }

  int64_t context;
};

bool CostModel::cost(Operation *op, KernelCost &cost) {
  cost.kind = op->getName().stripDialect().str();
  cost.origin = originOf(op);
  cost.contains = cost.kind;
  auto rows = [](Value v) { return double(dimOf(v, 0)) * dimOf(v, 1); };

  return llvm::TypeSwitch<Operation *, bool>(op)
      .Case([&](llama::EmbeddingOp e) {
        double n = rows(e.getTokens());
        cost.bytes = n * 4 + 2 * tensorBytes(e.getResult());
        return true;
      })
      .Case([&](llama::ConvertOp) {
        // Only reached for roundings lowering cannot hoist to load time.
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::PackWeightsOp) {
        // Only reached for packs of weights that train_step updates: the
        // runtime re-packs them on every call.
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::RMSNormOp n) {
        cost.flops = 4 * rows(n.getInput()) * dimOf(n.getInput(), 2);
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::MatmulOp m) {
        cost.flops = 2 * rows(m.getInput()) * dimOf(m.getInput(), 2) *
                     dimOf(m.getWeight(), 0);
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::RoPEOp r) {
        cost.flops = 3 * rows(r.getInput()) * dimOf(r.getInput(), 2);
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::KVCacheWriteOp w) {
        cost.bytes = 2 * tensorBytes(w.getValue());
        return true;
      })
      .Case([&](llama::AttentionOp a) {
        cost.bytes = tensorBytes(a.getQuery()) + tensorBytes(a.getResult());
        int64_t fresh = dimOf(a.getQuery(), 1);
        if (a.getKey().getDefiningOp<llama::KVCacheWriteOp>()) {
          attention(a.getQuery(), a.getKey(), a.getNumHeads(), fresh, cost);
          return true;
        }
        // Without a cache the keys are exactly the new tokens.
        CostModel(CostAssumptions{0})
            .attention(a.getQuery(), a.getKey(), a.getNumHeads(), fresh, cost);
        return true;
      })
      .Case([&](llama::SiLUOp s) {
        cost.flops = 4 * rows(s.getInput()) * dimOf(s.getInput(), 2);
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case<llama::MulOp, llama::AddOp>([&](Operation *e) {
        Value r = e->getResult(0);
        cost.flops = rows(r) * dimOf(r, 2);
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::CrossEntropyOp c) {
        cost.flops = 3 * rows(c.getLogits()) * dimOf(c.getLogits(), 2);
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::FusedMatmulOp f) {
        double n = rows(f.getInput()), k = dimOf(f.getInput(), 2);
        double out = dimOf(f.getWeight(), 0);
        cost.flops = 2 * n * k * out;
        SmallVector<std::string> parts;
        if (f.getNormEpsilon()) {
          cost.flops += (f.getGain() ? 4 : 3) * n * k;
          parts.push_back("rmsnorm");
        }
        size_t segments = f.getSegments().size();
        parts.push_back(segments == 1 ? std::string("matmul")
                                      : "matmul x" + std::to_string(segments));
        switch (f.getEpilogue()) {
        case llama::Epilogue::None:
          break;
        case llama::Epilogue::SwiGLU:
          cost.flops += 5 * n * (out / 2);
          parts.push_back("silu");
          parts.push_back("mul");
          break;
        case llama::Epilogue::Residual:
          cost.flops += n * out;
          parts.push_back("add");
          break;
        }
        cost.contains = llvm::join(parts, " + ");
        cost.bytes = readWriteAll(op);
        return true;
      })
      .Case([&](llama::FusedRoPEAttentionOp f) {
        cost.flops = 3 * rows(f.getQuery()) * dimOf(f.getQuery(), 2) +
                     3 * rows(f.getKey()) * dimOf(f.getKey(), 2);
        cost.bytes = tensorBytes(f.getQuery()) + tensorBytes(f.getKey()) +
                     tensorBytes(f.getValue()) +
                     tensorBytes(f.getResults()[0]);
        if (f.getKeyCache()) {
          cost.contains = "rope x2 + kv_cache_write x2 + attention";
          cost.bytes += tensorBytes(f.getKey()) + tensorBytes(f.getValue());
          attention(f.getQuery(), f.getKey(), f.getNumHeads(), 0, cost);
        } else {
          cost.contains = "rope x2 + attention";
          CostModel(CostAssumptions{0})
              .attention(f.getQuery(), f.getKey(), f.getNumHeads(), 0, cost);
        }
        return true;
      })
      .Default([](Operation *) { return false; });
}

bool hasDynamicShape(Operation *op) {
  auto dynamic = [](Type t) {
    auto shaped = dyn_cast<ShapedType>(t);
    return shaped && !shaped.hasStaticShape();
  };
  return llvm::any_of(op->getOperandTypes(), dynamic) ||
         llvm::any_of(op->getResultTypes(), dynamic);
}

std::string humanize(double value, StringRef unit) {
  const char *prefixes[] = {"", "K", "M", "G", "T", "P"};
  int i = 0;
  while (value >= 1000 && i < 5) {
    value /= 1000;
    ++i;
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::format("%.3f ", value) << prefixes[i] << unit;
  return os.str();
}

} // namespace

llvm::Expected<std::vector<EntryCosts>>
llamac::computeKernelCosts(ModuleOp module, const CostAssumptions &assumptions) {
  CostModel model(assumptions);
  std::vector<EntryCosts> entries;
  // A module that updates its weights (train_step) packs them per call, as
  // lowering does; otherwise packing runs once, at load. Rounding them
  // (mixed precision) runs once unless an update leaves a copy stale.
  llama::TrainedWeights trained(module);
  for (func::FuncOp func : module.getOps<func::FuncOp>()) {
    EntryCosts entry;
    entry.entry = func.getName().str();
    if (func.getNumArguments() > 0)
      if (auto tokens =
              dyn_cast<RankedTensorType>(func.getArgument(0).getType()))
        if (tokens.hasStaticShape())
          entry.tokens = tokens.getNumElements();
    WalkResult walk = func.walk([&](Operation *op) {
      if (!isa<llama::LlamaDialect>(op->getDialect()))
        return WalkResult::advance();
      auto convert = dyn_cast<llama::ConvertOp>(op);
      if ((isa<llama::PackWeightsOp>(op) && !trained.trainsAny()) ||
          (convert && trained.roundsAtLoad(convert))) {
        ++entry.loadTimeOps;
        return WalkResult::advance();
      }
      if (hasDynamicShape(op))
        return WalkResult::interrupt();
      KernelCost cost;
      if (model.cost(op, cost))
        entry.kernels.push_back(std::move(cost));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "--report: entry '" + entry.entry +
              "' has a dynamic sequence length; pass a static --seq-len");
    entries.push_back(std::move(entry));
  }
  return entries;
}

void llamac::printKernelReport(const std::vector<EntryCosts> &unfused,
                               const std::vector<EntryCosts> &fused,
                               const CostAssumptions &assumptions,
                               llvm::raw_ostream &os) {
  for (auto [before, after] : llvm::zip(unfused, fused)) {
    os << "entry @" << after.entry << ": " << after.tokens
       << " token(s) per call, " << assumptions.context
       << " token(s) already in the KV cache\n";
    os << "    #  " << llvm::left_justify("kernel", 22) << " "
       << llvm::left_justify("contains", 42) << " "
       << llvm::left_justify("origin", 28) << " "
       << llvm::right_justify("FLOPs", 14) << " "
       << llvm::right_justify("bytes", 14) << " "
       << llvm::right_justify("FLOP/B", 9) << "\n";
    for (auto [i, k] : llvm::enumerate(after.kernels))
      os << llvm::format("%5zu  %-22s %-42s %-28s %14.0f %14.0f %9.3f\n", i,
                         k.kind.c_str(), k.contains.c_str(), k.origin.c_str(),
                         k.flops, k.bytes, k.bytes ? k.flops / k.bytes : 0.0);
    double tokens = std::max<int64_t>(after.tokens, 1);
    auto totals = [&](StringRef label, const EntryCosts &e) {
      os << llvm::format("  %-15s %6zu kernels  %14.0f FLOPs  %14.0f bytes  "
                         "%9.3f FLOP/B  %s/token\n",
                         label.str().c_str(), e.kernels.size(), e.flops(),
                         e.bytes(), e.bytes() ? e.flops() / e.bytes() : 0.0,
                         humanize(e.bytes() / tokens, "B").c_str());
    };
    os << "totals:\n";
    totals("before fusion", before);
    totals("after fusion", after);
    double saved = before.bytes() - after.bytes();
    os << llvm::format("  memory traffic saved: %.0f bytes per call, ", saved)
       << humanize(saved / tokens, "B") << " per token ("
       << llvm::format("%.1f%%", before.bytes() ? 100 * saved / before.bytes()
                                                : 0.0)
       << "), " << before.kernels.size() - after.kernels.size()
       << " fewer kernel launches\n";
    if (after.loadTimeOps)
      os << "  " << after.loadTimeOps
         << " weight-packing or rounding op(s) run once at load time, not "
            "per call\n";
    os << "\n";
  }
}
