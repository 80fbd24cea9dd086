//===- Autodiff.cpp - Reverse-mode gradients of the training loss ---------===//
//
// Builds `@loss_and_grads` from `@forward_loss`: a copy of the forward graph
// followed by its reverse sweep over the unfused llama ops, returning the
// loss and the gradient of every weight argument. Fusion runs afterwards, on
// both sweeps.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

namespace llamac {
#define GEN_PASS_DEF_AUTODIFFPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

constexpr llvm::StringLiteral kForwardLoss = "forward_loss";
constexpr llvm::StringLiteral kLossAndGrads = "loss_and_grads";
constexpr llvm::StringLiteral kGradOf = "llama.grad_of";

/// The reverse sweep over one function body, written before its return.
class ReverseSweep {
public:
  explicit ReverseSweep(func::ReturnOp ret) : builder(ret) {}

  /// Seeds the loss and differentiates every op in reverse order. Fails
  /// with a diagnostic on the first op that has no rule.
  LogicalResult run(Block &body, Value loss);

  /// The accumulated gradient of `value`, or null when the loss does not
  /// depend on it.
  Value gradientOf(Value value) const { return grads.lookup(value); }

private:
  /// Adds `grad` to the gradient of `value`: a value used several times
  /// (a residual stream, a shared norm output, a tied embedding) gets the
  /// sum of its users' contributions.
  void accumulate(Value value, Value grad, Location loc);
  LogicalResult differentiate(Operation *op);

  OpBuilder builder;
  llvm::DenseMap<Value, Value> grads;
};

void ReverseSweep::accumulate(Value value, Value grad, Location loc) {
  Value &slot = grads[value];
  slot =
      slot ? builder.create<llama::AddOp>(loc, slot, grad).getResult() : grad;
}

/// `mul(silu(gate), up)` in either order, where the silu feeds only this
/// mul: returns {gate, up} so that one llama.swiglu_grad computes both.
static std::optional<std::pair<Value, Value>> matchSwiGLU(llama::MulOp mul) {
  for (auto [a, b] : {std::pair(mul.getLhs(), mul.getRhs()),
                      std::pair(mul.getRhs(), mul.getLhs())}) {
    auto silu = a.getDefiningOp<llama::SiLUOp>();
    if (silu && silu->hasOneUse())
      return std::make_pair(silu.getInput(), b);
  }
  return std::nullopt;
}

LogicalResult ReverseSweep::differentiate(Operation *op) {
  // Ops the loss does not depend on need no rule. This includes the silu of
  // a SwiGLU, whose gradient llama.swiglu_grad already produced.
  SmallVector<Value> dys;
  for (Value result : op->getResults())
    dys.push_back(grads.lookup(result));
  if (llvm::all_of(dys, [](Value v) { return !v; }))
    return success();
  Location loc = op->getLoc();
  Value dy = dys.front();
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](llama::MatmulOp mm) {
        auto grad = builder.create<llama::MatmulGradOp>(
            loc, mm.getInput().getType(), mm.getWeight().getType(),
            mm.getInput(), mm.getWeight(), dy);
        accumulate(mm.getInput(), grad.getDinput(), loc);
        accumulate(mm.getWeight(), grad.getDweight(), loc);
        return success();
      })
      .Case([&](llama::RMSNormOp norm) {
        auto grad = builder.create<llama::RMSNormGradOp>(
            loc, norm.getInput().getType(), norm.getGain().getType(),
            norm.getInput(), norm.getGain(), dy, norm.getEpsilonAttr());
        accumulate(norm.getInput(), grad.getDinput(), loc);
        accumulate(norm.getGain(), grad.getDgain(), loc);
        return success();
      })
      .Case([&](llama::EmbeddingOp emb) {
        auto grad = builder.create<llama::EmbeddingGradOp>(
            loc, emb.getTable().getType(), emb.getTokens(), dy);
        accumulate(emb.getTable(), grad.getResult(), loc);
        return success();
      })
      .Case([&](llama::RoPEOp rope) {
        auto grad = builder.create<llama::RoPEGradOp>(
            loc, rope.getType(), dy, rope.getPosition(), rope.getHeadDimAttr(),
            rope.getThetaAttr(), rope.getStyleAttr());
        accumulate(rope.getInput(), grad.getResult(), loc);
        return success();
      })
      .Case([&](llama::AttentionOp attn) -> LogicalResult {
        int64_t keys =
            cast<RankedTensorType>(attn.getKey().getType()).getDimSize(1);
        int64_t queries =
            cast<RankedTensorType>(attn.getQuery().getType()).getDimSize(1);
        if (keys != queries)
          return attn.emitOpError()
                 << "cannot be differentiated: llama-autodiff needs as many "
                    "keys as queries (training attends without a KV cache)";
        auto grad = builder.create<llama::AttentionGradOp>(
            loc, attn.getQuery().getType(), attn.getKey().getType(),
            attn.getValue().getType(), attn.getQuery(), attn.getKey(),
            attn.getValue(), attn.getPosition(), dy, attn.getNumHeadsAttr(),
            attn.getNumKvHeadsAttr(), attn.getScaleAttr());
        accumulate(attn.getQuery(), grad.getDquery(), loc);
        accumulate(attn.getKey(), grad.getDkey(), loc);
        accumulate(attn.getValue(), grad.getDvalue(), loc);
        return success();
      })
      .Case([&](llama::SiLUOp silu) {
        auto grad = builder.create<llama::SiLUGradOp>(loc, silu.getType(),
                                                      silu.getInput(), dy);
        accumulate(silu.getInput(), grad.getResult(), loc);
        return success();
      })
      .Case([&](llama::MulOp mul) {
        if (auto swiglu = matchSwiGLU(mul)) {
          auto [gate, up] = *swiglu;
          auto grad = builder.create<llama::SwiGLUGradOp>(
              loc, gate.getType(), up.getType(), gate, up, dy);
          accumulate(gate, grad.getDgate(), loc);
          accumulate(up, grad.getDup(), loc);
          return success();
        }
        Value dlhs = builder.create<llama::MulOp>(loc, dy, mul.getRhs());
        Value drhs = builder.create<llama::MulOp>(loc, dy, mul.getLhs());
        accumulate(mul.getLhs(), dlhs, loc);
        accumulate(mul.getRhs(), drhs, loc);
        return success();
      })
      .Case([&](llama::AddOp add) {
        accumulate(add.getLhs(), dy, loc);
        accumulate(add.getRhs(), dy, loc);
        return success();
      })
      .Default([&](Operation *op) {
        return op->emitOpError()
               << "has no gradient rule in llama-autodiff (it differentiates "
                  "the unfused graph; run it before fusion)";
      });
}

LogicalResult ReverseSweep::run(Block &body, Value loss) {
  // buildLossAndGrads checked that the loss is a single-use cross_entropy:
  // its seed is 1, which llama.cross_entropy_grad builds in.
  auto ce = loss.getDefiningOp<llama::CrossEntropyOp>();
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops)) {
    if (op == ce.getOperation()) {
      auto grad = builder.create<llama::CrossEntropyGradOp>(
          ce.getLoc(), ce.getLogits().getType(), ce.getLogits(),
          ce.getTargets(), ce.getWeights());
      accumulate(ce.getLogits(), grad.getResult(), ce.getLoc());
      continue;
    }
    // Constants (the position) have nothing to differentiate.
    if (op->hasTrait<OpTrait::ConstantLike>())
      continue;
    if (failed(differentiate(op)))
      return failure();
  }
  return success();
}

/// Builds `@loss_and_grads` next to `forward`.
LogicalResult buildLossAndGrads(func::FuncOp forward, SymbolTable &symbols) {
  if (symbols.lookup(kLossAndGrads))
    return forward.emitOpError()
           << "cannot be differentiated: the module already has @"
           << kLossAndGrads;
  if (!forward.getBody().hasOneBlock())
    return forward.emitOpError() << "cannot be differentiated: llama-autodiff "
                                    "needs a body of one block";
  auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
  if (ret.getNumOperands() != 1)
    return ret.emitOpError()
           << "of a forward_loss entry must return only the loss";
  Value forwardLoss = ret.getOperand(0);
  if (!forwardLoss.getDefiningOp<llama::CrossEntropyOp>() ||
      !forwardLoss.hasOneUse())
    return ret.emitOpError() << "of a forward_loss entry must return a "
                                "llama.cross_entropy used only by the return";

  func::FuncOp func = forward.clone();
  func.setSymName(kLossAndGrads);
  func->setAttr(llama::attrs::entry,
                StringAttr::get(func.getContext(), kLossAndGrads));
  Block &body = func.getBody().front();
  ret = cast<func::ReturnOp>(body.getTerminator());
  Value loss = ret.getOperand(0);

  ReverseSweep sweep(ret);
  if (failed(sweep.run(body, loss))) {
    func.erase();
    return failure();
  }

  OpBuilder builder(ret);
  SmallVector<Value> results = {loss};
  SmallVector<Attribute> resAttrs = {builder.getDictionaryAttr({})};
  for (BlockArgument arg : func.getArguments()) {
    auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                  llama::attrs::weight);
    if (!name)
      continue;
    Value grad = sweep.gradientOf(arg);
    if (!grad) {
      // A weight the loss does not read has a zero gradient.
      auto type = dyn_cast<RankedTensorType>(arg.getType());
      if (!type || !type.hasStaticShape()) {
        func.erase();
        return forward.emitOpError()
               << "cannot be differentiated: weight '" << name.getValue()
               << "' does not affect the loss and has a dynamic shape";
      }
      grad = builder.create<arith::ConstantOp>(
          arg.getLoc(), type,
          DenseElementsAttr::get(type,
                                 builder.getZeroAttr(type.getElementType())));
    }
    results.push_back(grad);
    resAttrs.push_back(
        builder.getDictionaryAttr(builder.getNamedAttr(kGradOf, name)));
  }
  builder.create<func::ReturnOp>(ret.getLoc(), results);
  ret.erase();
  func.setFunctionType(builder.getFunctionType(func.getArgumentTypes(),
                                               ValueRange(results).getTypes()));
  func.setAllResultAttrs(resAttrs);
  symbols.insert(func, std::next(Block::iterator(forward)));
  return success();
}

struct Autodiff : public llamac::impl::AutodiffPassBase<Autodiff> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> forwards;
    for (func::FuncOp func : module.getOps<func::FuncOp>())
      if (auto entry = func->getAttrOfType<StringAttr>(llama::attrs::entry);
          entry && entry.getValue() == kForwardLoss)
        forwards.push_back(func);
    for (func::FuncOp forward : forwards)
      if (failed(buildLossAndGrads(forward, symbols)))
        return signalPassFailure();
  }
};

} // namespace
