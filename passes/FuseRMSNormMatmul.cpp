//===- FuseRMSNormMatmul.cpp - RMSNorm prologue into its matmuls ----------===//

#include "passes/FusedMatmulBuilder.h"
#include "passes/Passes.h"

#include "mlir/IR/Dominance.h"

namespace llamac {
#define GEN_PASS_DEF_FUSERMSNORMMATMULPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

struct FuseRMSNormMatmul
    : public llamac::impl::FuseRMSNormMatmulPassBase<FuseRMSNormMatmul> {
  using FuseRMSNormMatmulPassBase::FuseRMSNormMatmulPassBase;

  void runOnOperation() override {
    SmallVector<llama::RMSNormOp> norms;
    getOperation().walk([&](llama::RMSNormOp op) { norms.push_back(op); });
    DominanceInfo dominance(getOperation());
    for (llama::RMSNormOp norm : norms)
      fuse(norm, dominance);
  }

  /// Returns the matmuls fed by `norm` in program order, or nothing when the
  /// group cannot be fused without changing the program.
  SmallVector<llama::MatmulOp> fusibleUsers(llama::RMSNormOp norm,
                                            DominanceInfo &dominance) {
    SmallVector<llama::MatmulOp> matmuls;
    for (OpOperand &use : norm.getResult().getUses()) {
      auto matmul = dyn_cast<llama::MatmulOp>(use.getOwner());
      if (!matmul || use.getOperandNumber() != 0 ||
          matmul->getBlock() != norm->getBlock())
        return {};
      matmuls.push_back(matmul);
    }
    if (matmuls.empty())
      return {};
    llvm::sort(matmuls, [](llama::MatmulOp a, llama::MatmulOp b) {
      return a->isBeforeInBlock(b);
    });
    llama::MatmulOp first = matmuls.front();
    for (llama::MatmulOp m : matmuls) {
      if (!dominance.properlyDominates(m.getWeight(), first))
        return {};
    }
    SmallVector<Value> weights = llvm::to_vector(llvm::map_range(
        matmuls, [](llama::MatmulOp m) -> Value { return m.getWeight(); }));
    if (!haveStaticRows(weights))
      return {};
    return matmuls;
  }

  void fuse(llama::RMSNormOp norm, DominanceInfo &dominance) {
    SmallVector<llama::MatmulOp> matmuls = fusibleUsers(norm, dominance);
    if (matmuls.empty())
      return;
    OpBuilder builder(matmuls.front());
    Location loc = norm.getLoc();
    SmallVector<Value> weights;
    SmallVector<Type> resultTypes;
    for (llama::MatmulOp m : matmuls) {
      weights.push_back(m.getWeight());
      resultTypes.push_back(m.getType());
    }
    Value foldedGain = foldGain ? norm.getGain() : Value();
    auto [packed, rows] = packWeights(builder, loc, weights, foldedGain);
    auto fused = builder.create<llama::FusedMatmulOp>(
        loc, resultTypes, norm.getInput(), packed,
        foldGain ? Value() : norm.getGain(), /*residual=*/Value(),
        norm.getEpsilonAttr(), builder.getDenseI64ArrayAttr(rows),
        llama::EpilogueAttr::get(builder.getContext(), llama::Epilogue::None));
    for (auto [matmul, result] : llvm::zip(matmuls, fused.getResults())) {
      matmul.getResult().replaceAllUsesWith(result);
      matmul.erase();
    }
    norm.erase();
  }
};

} // namespace
