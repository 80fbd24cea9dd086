//===- FuseRMSNormMatmulGrad.cpp - One kernel per norm in the backward ----===//
//
// The backward mirror of llama-fuse-rmsnorm-matmul: the matmul_grads of a
// norm's output, the adds that sum their input gradients, the rmsnorm_grad
// and the residual add become one llama.fused_rmsnorm_matmul_grad.
//
//===----------------------------------------------------------------------===//

#include "ir/LlamaOps.h"
#include "passes/Passes.h"

namespace llamac {
#define GEN_PASS_DEF_FUSERMSNORMMATMULGRADPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

/// What one rmsnorm_grad and the ops around it fuse into.
struct Match {
  llama::RMSNormGradOp norm;
  SmallVector<llama::MatmulGradOp> matmuls;
  SmallVector<llama::AddOp> sums;
  /// The residual stream's add of the norm's input gradient, if fused.
  llama::AddOp residualAdd;
  Value residual;
};

/// Collects the matmul_grads whose input gradients `value` sums (through
/// single-use adds). Fails on any other leaf.
bool collectLeaves(Value value, Value normOutput, Match &match) {
  if (!value.hasOneUse())
    return false;
  if (auto add = value.getDefiningOp<llama::AddOp>()) {
    match.sums.push_back(add);
    return collectLeaves(add.getLhs(), normOutput, match) &&
           collectLeaves(add.getRhs(), normOutput, match);
  }
  auto matmul = value.getDefiningOp<llama::MatmulGradOp>();
  if (!matmul || matmul.getDinput() != value ||
      matmul.getInput() != normOutput)
    return false;
  match.matmuls.push_back(matmul);
  return true;
}

/// The output of the forward rmsnorm that `grad` differentiates, found as
/// the input of a matmul_grad leaf: an rmsnorm of the same input, gain and
/// epsilon.
Value forwardNormOutput(llama::RMSNormGradOp grad) {
  Value dy = grad.getDy();
  while (auto add = dy.getDefiningOp<llama::AddOp>())
    dy = add.getLhs();
  auto matmul = dy.getDefiningOp<llama::MatmulGradOp>();
  if (!matmul)
    return {};
  auto norm = matmul.getInput().getDefiningOp<llama::RMSNormOp>();
  if (!norm || norm.getInput() != grad.getInput() ||
      norm.getGain() != grad.getGain() ||
      norm.getEpsilon() != grad.getEpsilon())
    return {};
  return norm.getResult();
}

std::optional<Match> match(llama::RMSNormGradOp grad) {
  Value normOutput = forwardNormOutput(grad);
  if (!normOutput)
    return std::nullopt;
  Match match;
  match.norm = grad;
  if (!collectLeaves(grad.getDy(), normOutput, match))
    return std::nullopt;
  Value dinput = grad.getDinput();
  if (dinput.hasOneUse())
    if (auto add = dyn_cast<llama::AddOp>(*dinput.getUsers().begin())) {
      match.residualAdd = add;
      match.residual = add.getLhs() == dinput ? add.getRhs() : add.getLhs();
    }
  // Every replaced value must be used after the fused op, which takes the
  // place of the last op it replaces.
  Operation *root = match.residualAdd ? match.residualAdd.getOperation()
                                      : grad.getOperation();
  SmallVector<Value> replaced = {grad.getDgain()};
  if (!match.residualAdd)
    replaced.push_back(dinput);
  for (llama::MatmulGradOp matmul : match.matmuls)
    replaced.push_back(matmul.getDweight());
  for (Value value : replaced)
    for (Operation *user : value.getUsers())
      if (user->getBlock() != root->getBlock() || !root->isBeforeInBlock(user))
        return std::nullopt;
  return match;
}

void rewrite(Match &m) {
  Operation *root = m.residualAdd ? m.residualAdd.getOperation()
                                  : m.norm.getOperation();
  OpBuilder builder(root);
  SmallVector<Value> weights, dys;
  SmallVector<Type> types = {m.norm.getDinput().getType(),
                             m.norm.getDgain().getType()};
  // Weights in the order of the forward matmuls (Q, K, V): the reverse
  // sweep visited them backwards.
  llvm::sort(m.matmuls, [](llama::MatmulGradOp a, llama::MatmulGradOp b) {
    return b->isBeforeInBlock(a);
  });
  for (llama::MatmulGradOp matmul : m.matmuls) {
    weights.push_back(matmul.getWeight());
    dys.push_back(matmul.getDy());
    types.push_back(matmul.getDweight().getType());
  }
  auto fused = builder.create<llama::FusedRMSNormMatmulGradOp>(
      m.norm.getLoc(), types, m.norm.getInput(), m.norm.getGain(), weights,
      dys, m.residual, m.norm.getEpsilonAttr());
  if (m.residualAdd)
    m.residualAdd.getResult().replaceAllUsesWith(fused.getDinput());
  else
    m.norm.getDinput().replaceAllUsesWith(fused.getDinput());
  m.norm.getDgain().replaceAllUsesWith(fused.getDgain());
  for (auto [matmul, dweight] : llvm::zip(m.matmuls, fused.getDweights()))
    matmul.getDweight().replaceAllUsesWith(dweight);
  if (m.residualAdd)
    m.residualAdd.erase();
  m.norm.erase();
  for (llama::AddOp add : m.sums)
    add.erase();
  for (llama::MatmulGradOp matmul : m.matmuls)
    matmul.erase();
}

struct FuseRMSNormMatmulGrad
    : public llamac::impl::FuseRMSNormMatmulGradPassBase<
          FuseRMSNormMatmulGrad> {
  void runOnOperation() override {
    SmallVector<llama::RMSNormGradOp> grads;
    getOperation().walk([&](llama::RMSNormGradOp op) { grads.push_back(op); });
    for (llama::RMSNormGradOp grad : grads)
      if (std::optional<Match> m = match(grad))
        rewrite(*m);
  }
};

} // namespace
